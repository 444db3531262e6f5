"""The organisation's public keys as a profile holds them, and the anchors key histories are checked against.

Why apart from ``registering``: building a client must not need the organisation's private keys. A check
needs only the public halves (to recognise the organisation's own key history), and an officer's
workstation (``profileworkstation``) holds ``keys/org-keys.pub.json`` but never ``keys/org-keys.json``,
whose holder can register keys, publish, decide disclosures and name any officer.
"""

from __future__ import annotations

from pathlib import Path

from crossforce.client.keyhistory import Anchors, OwnKeys
from crossforce.client.profile import Profile
from crossforce.keystore.orgkeys import KEY_FILE, load_public_org_keys


def load_public_keys(directory: Path, *, org: str) -> OwnKeys | None:
    """``<directory>/org-keys.pub.json`` for ``org`` (``keystore.orgkeys.load_public_org_keys``), or None
    when the file is absent."""
    found = load_public_org_keys(directory, org=org)
    if found is None:
        return None
    signing, box = found
    return OwnKeys(org=org, signing_key=signing, box_key=box)


def own_keys(profile: Profile) -> OwnKeys | None:
    """The profile organisation's public keys: from its private key file when it holds one (the source of
    truth on a system profile), else from the public file (a workstation), else None."""
    keys_dir = profile.path / "keys"
    if (keys_dir / KEY_FILE).exists():
        keys = profile.org_keys()
        return OwnKeys(org=keys.org, signing_key=keys.signing_public, box_key=keys.box_public)
    return load_public_keys(keys_dir, org=profile.org)


def anchors_of(profile: Profile) -> Anchors:
    """The CA and own public keys a profile checks key histories against. A profile without a CA file is
    accepted only in development mode (plaintext); any other profile must have one. A profile with no
    key file at all checks its own organisation's history against the CA alone, as any other's."""
    has_ca = (profile.path / "ca.pem").exists()
    return Anchors(
        ca_pem=profile.ca_pem() if has_ca or not profile.dev_plaintext else None,
        own=own_keys(profile),
    )
