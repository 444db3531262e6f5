"""The organisation's public keys as a profile holds them, and the anchors key histories are checked against.

Why apart from ``registering``: building a client must not need the organisation's private keys. A check
needs only the public halves (to recognise the organisation's own key history), and an officer's
workstation (``profileworkstation``) holds ``keys/org-keys.pub.json`` but never ``keys/org-keys.json``,
whose holder can register keys, publish, decide disclosures and name any officer.
"""

from __future__ import annotations

import json
from pathlib import Path

from crossforce.client.keyhistory import Anchors, OwnKeys
from crossforce.client.profile import Profile
from crossforce.crypto.orgkeys import KEY_BYTES
from crossforce.errors import ValidationError
from crossforce.fsutil import read_limited
from crossforce.keystore.orgkeys import KEY_FILE, PUBLIC_FILE, PUBLIC_FORMAT

MAX_PUBLIC_FILE_BYTES = 4096
"""A public key file is about 250 bytes."""


def load_public_keys(directory: Path, *, org: str) -> OwnKeys | None:
    """``<directory>/org-keys.pub.json`` for ``org``, or None when the file is absent. ValidationError
    names the file and the field for a malformed file or one of another organisation."""
    path = Path(directory) / PUBLIC_FILE
    try:
        raw = read_limited(path, MAX_PUBLIC_FILE_BYTES)
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != PUBLIC_FORMAT:
        raise ValidationError(f"{path}: format must be {PUBLIC_FORMAT!r}")
    if doc.get("org") != org:
        raise ValidationError(f"{path}: keys belong to {doc.get('org')!r}, expected {org!r}")
    return OwnKeys(
        org=org,
        signing_key=_hex_key(doc, "signing_public", path),
        box_key=_hex_key(doc, "box_public", path),
    )


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


def _hex_key(doc: dict[str, object], name: str, path: Path) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str) or len(value) != 2 * KEY_BYTES:
        raise ValidationError(f"{path}: {name} must be {2 * KEY_BYTES} hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValidationError(f"{path}: {name} is not hex") from None
