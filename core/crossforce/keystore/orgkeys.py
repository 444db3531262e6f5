"""An organisation's key files: ``org-keys.json`` (private, 0600) and ``org-keys.pub.json`` (public).

Why here: ``crossforce.crypto.orgkeys`` holds the keys and the registration proof and stays pure; this
module is where they meet the disk. One file holds both private keys, so the signing and box keys are
always replaced together::

    {"format": "crossforce-org-keys/1", "org": "humberside",
     "signing_seed": "<64 hex>", "box_private": "<64 hex>"}

plus ``org-keys.pub.json`` (0644) with the public halves, for sharing. Invariants: writes are atomic
(``crossforce.fsutil``), the private file is never wider than 0600, and a load error names the file and
the field, never the key bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing

from crossforce.crypto.orgkeys import KEY_BYTES, OrgKeys
from crossforce.crypto.pki import ORG_CODE_RE
from crossforce.errors import NotFoundError, ValidationError
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir, read_limited

KEY_FILE = "org-keys.json"
PUBLIC_FILE = "org-keys.pub.json"
KEY_FORMAT = "crossforce-org-keys/1"
PUBLIC_FORMAT = "crossforce-org-public-keys/1"
MAX_KEY_FILE_BYTES = 16 * 1024
"""Bound on the key file we read; a real one is about 250 bytes."""
PUBLIC_FILE_MODE = 0o644
"""The public key file is meant to be shared."""


def save_org_keys(keys: OrgKeys, directory: Path) -> None:
    """Write the private key file (0600, in a 0700 folder) and the public key file, each atomically."""
    directory = Path(directory)
    make_private_dir(directory)
    private = {
        "format": KEY_FORMAT,
        "org": keys.org,
        "signing_seed": bytes(keys.signing).hex(),
        "box_private": bytes(keys.box).hex(),
    }
    public = {
        "format": PUBLIC_FORMAT,
        "org": keys.org,
        "signing_public": keys.signing_public.hex(),
        "box_public": keys.box_public.hex(),
    }
    atomic_write_private(directory / KEY_FILE, (json.dumps(private, indent=2) + "\n").encode())
    atomic_write(
        directory / PUBLIC_FILE, (json.dumps(public, indent=2) + "\n").encode(), mode=PUBLIC_FILE_MODE
    )


def load_org_keys(directory: Path, *, org: str | None = None) -> OrgKeys:
    """Read ``<directory>/org-keys.json``; ValidationError says what is wrong, never the key bytes.

    Pass ``org`` to refuse a key file that belongs to another organisation.
    """
    path = Path(directory) / KEY_FILE
    try:
        raw = read_limited(path, MAX_KEY_FILE_BYTES)
    except FileNotFoundError as exc:
        raise NotFoundError(f"organisation key file not found at {path}") from exc
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise ValidationError(f"{path}: expected a JSON object")
    if doc.get("format") != KEY_FORMAT:
        raise ValidationError(f"{path}: format must be {KEY_FORMAT!r}")
    unknown = set(doc) - {"format", "org", "signing_seed", "box_private"}
    if unknown:
        raise ValidationError(f"{path}: unknown fields {sorted(unknown)}")
    file_org = doc.get("org")
    if not isinstance(file_org, str) or not ORG_CODE_RE.fullmatch(file_org):
        raise ValidationError(f"{path}: org is missing or not a valid organisation code")
    if org is not None and file_org != org:
        raise ValidationError(f"{path}: keys belong to {file_org!r}, expected {org!r}")
    seed = _hex_key(doc, "signing_seed", path)
    box = _hex_key(doc, "box_private", path)
    return OrgKeys(org=file_org, signing=nacl.signing.SigningKey(seed), box=nacl.public.PrivateKey(box))


def load_public_org_keys(directory: Path, *, org: str) -> tuple[bytes, bytes] | None:
    """The (signing, box) public keys in ``<directory>/org-keys.pub.json`` for ``org``, or None when the
    file is absent (an officer's workstation holds this file and never the private one). ValidationError
    names the file and the field for a malformed file or one of another organisation."""
    path = Path(directory) / PUBLIC_FILE
    try:
        raw = read_limited(path, MAX_KEY_FILE_BYTES)
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
    return _hex_key(doc, "signing_public", path), _hex_key(doc, "box_public", path)


def _hex_key(doc: dict[str, Any], name: str, path: Path) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str) or len(value) != 2 * KEY_BYTES:
        raise ValidationError(f"{path}: {name} must be {2 * KEY_BYTES} hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValidationError(f"{path}: {name} is not hex") from None
