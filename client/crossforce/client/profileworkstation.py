"""An officer's workstation profile, exported from the organisation's system profile.

Why: an officer's machine must never hold the organisation's private keys (``keys/org-keys.json``): their
holder can register keys, publish, approve disclosures and name any officer. A workstation holds what a
check needs and nothing more: the officer roles' certificates and keys, the CA certificate, the network
secret (tokens are computed on the workstation), the organisation's public key file (to recognise its own
key history), the trust state (the pinned log key, so the workstation trusts no first key it is shown) and
the defaults file. The officer acts through a credential issued on the system profile (``crossforce
officer issue``); anything needing the private keys fails with an error naming the file
(``Profile.org_keys``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crossforce.client.profile import PROFILE_FILE, SECRET_FILE, STATE_FILE, Profile
from crossforce.client.profileconfig import CONFIG_FILE
from crossforce.domain import Role
from crossforce.errors import AlreadyExistsError, NotFoundError, ValidationError
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir
from crossforce.keystore import PUBLIC_FILE

WORKSTATION_ROLES = frozenset({Role.VETTING_OFFICER, Role.DISCLOSURE_OFFICER, Role.AUDITOR})
"""The roles an officer works in. The system and operator roles stay with the system that holds the keys."""


def export_workstation(source: Profile, dest: Path, *, roles: Sequence[str]) -> Profile:
    """Write a workstation profile for ``roles`` at ``dest`` (a new 0700 folder) from ``source``, the
    organisation's system profile; the organisation's private keys are never copied."""
    refused = sorted(set(roles) - WORKSTATION_ROLES)
    if not roles or refused:
        allowed = ", ".join(sorted(WORKSTATION_ROLES))
        raise ValidationError(
            f"a workstation takes officer roles only ({allowed}); not {refused}", field="roles"
        )
    public = source.path / "keys" / PUBLIC_FILE
    if not public.exists():
        raise NotFoundError(
            f"{public} not found: export a workstation from the organisation's system profile"
        )
    dest = Path(dest)
    if (dest / PROFILE_FILE).exists():
        raise AlreadyExistsError(f"{dest} already holds a profile")
    make_private_dir(dest)
    make_private_dir(dest / "keys")
    make_private_dir(dest / "certs")
    for role in roles:
        source.cert_pair(role)  # an error naming the roles the source has, before anything is copied
    for role in roles:
        pair = source.cert_pair(role)
        atomic_write_private(dest / "certs" / f"{role}-key.pem", pair.key_pem)
        atomic_write(dest / "certs" / f"{role}.pem", pair.cert_pem)
    atomic_write(dest / "keys" / PUBLIC_FILE, public.read_bytes())
    _copy(source.path / "ca.pem", dest / "ca.pem", private=False)
    for name in (SECRET_FILE, STATE_FILE, CONFIG_FILE):
        _copy(source.path / name, dest / name, private=True)
    atomic_write(dest / PROFILE_FILE, (source.path / PROFILE_FILE).read_bytes())  # last: the folder is whole
    return Profile.load(dest)


def _copy(src: Path, dst: Path, *, private: bool) -> None:
    """Copy ``src`` if the source profile has it (a development profile has no CA, a new one no state)."""
    if not src.exists():
        return
    data = src.read_bytes()
    if private:
        atomic_write_private(dst, data)
    else:
        atomic_write(dst, data)
