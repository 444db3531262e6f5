"""Keyed-hash tokens: what leaves a force instead of names (docs/spec.md, "Subkeys and tokens").

token = HMAC-SHA256(subkey(key_type, epoch), canonical key bytes), with each subkey drawn from the
network secret by HKDF-SHA256. Forces hold the secret; the matcher never does, so it can compare tokens
but cannot test a guessed name and date against them. A subkey per key type keeps a token of one type
useless as a token of another, and a subkey per epoch lets the network rotate the secret's use without
re-issuing it: indexes of different epochs share no tokens.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib
import struct
from collections.abc import Callable
from typing import Final, Protocol, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crossforce.encoding.matchkeys import CANONICAL_PREFIX, KEY_TYPES, MatchKey, canonical_keys
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError

__all__ = [
    "HKDF_INFO_PREFIX",
    "HKDF_SALT",
    "MIN_SECRET_BYTES",
    "SUBKEY_BYTES",
    "TOKEN_BYTES",
    "Tokeniser",
    "derive_subkey",
]

TOKEN_BYTES: Final = 32
SUBKEY_BYTES: Final = 32
MIN_SECRET_BYTES: Final = 32
"""The network secret is a 256-bit random value; anything shorter is a configuration mistake."""
MAX_EPOCH: Final = 0xFFFFFFFF

HKDF_SALT: Final = b"crossforce/v2/token-subkey-salt"
"""Public and fixed: domain separation only (RFC 5869 section 3.1); the secret carries the entropy. Spec v2
labels (v1 said ``v1``), so one network secret never gives a v1 and a v2 token the same subkey."""
HKDF_INFO_PREFIX: Final = b"crossforce/v2/token-subkey\x00"
"""info = prefix | key_type u8 | epoch u32 big-endian."""


def derive_subkey(secret: bytes, key_type: int, epoch: int) -> bytes:
    """The 32-byte HMAC key for tokens of ``key_type`` made in ``epoch`` (HKDF-SHA256, RFC 5869)."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValidationError(f"network secret must be at least {MIN_SECRET_BYTES} bytes", field="secret")
    if key_type not in KEY_TYPES:
        raise ValidationError("unknown match key type", field="key_type")
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValidationError("epoch must fit in 32 bits unsigned", field="epoch")
    info = HKDF_INFO_PREFIX + struct.pack(">BI", key_type, epoch)
    return HKDF(algorithm=hashes.SHA256(), length=SUBKEY_BYTES, salt=HKDF_SALT, info=info).derive(secret)


class Hash(Protocol):
    """The part of a ``hashlib`` SHA-256 object the HMAC shortcut uses."""

    def copy(self) -> Hash: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_BLOCK: Final = 64  # SHA-256 block size (RFC 2104 B)
_TYPE_AT: Final = len(CANONICAL_PREFIX)


def _copy_friendly_sha256() -> Callable[[bytes], Hash]:
    """CPython's own SHA-256 (``_sha256`` in 3.11, ``_sha2`` from 3.12) when the interpreter has it,
    else ``hashlib.sha256`` (OpenSSL).

    SHA-256 is SHA-256 whichever code computes it; what differs is the cost of a state ``copy`` and a
    ``digest`` on 64-byte messages, which is all the token loop does: OpenSSL 3 allocates and
    duplicates an EVP context for each (and again inside ``digest``), CPython copies a ~100-byte
    struct. Measured in the token loop: 0.73 against 0.86 us a token unloaded (bench/encoding.py).
    Both are private modules, hence the import by name and the fallback.
    """
    for name in ("_sha2", "_sha256"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha256", None)
        if callable(constructor):
            return cast(Callable[[bytes], Hash], constructor)
    return cast(Callable[[bytes], Hash], hashlib.sha256)


_sha256: Final = _copy_friendly_sha256()


def hmac_states(subkey: bytes) -> tuple[Hash, Hash]:
    """SHA-256 states after absorbing subkey XOR ipad and subkey XOR opad (RFC 2104 section 2).

    Continuing copies of these gives exactly HMAC-SHA256 while skipping the two key blocks per token,
    which is most of the cost for messages this short (tests check equality with ``hmac.digest``).
    """
    padded = subkey.ljust(_BLOCK, b"\x00")
    inner = _sha256(bytes(b ^ 0x36 for b in padded))
    outer = _sha256(bytes(b ^ 0x5C for b in padded))
    return inner, outer


class Tokeniser:
    """Turns records and keys into tokens under one secret and epoch; subkeys are derived once."""

    def __init__(self, *, secret: bytes, epoch: int) -> None:
        self._epoch = epoch
        self._subkeys: dict[int, bytes] = {kt: derive_subkey(secret, kt, epoch) for kt in KEY_TYPES}
        inner: list[Callable[[], Hash] | None] = [None] * 256
        outer: list[Callable[[], Hash] | None] = [None] * 256
        for kt, subkey in self._subkeys.items():
            i, o = hmac_states(subkey)
            inner[kt], outer[kt] = i.copy, o.copy
        self._inner_copy = inner
        self._outer_copy = outer
        """Bound ``copy`` of each key type's HMAC states, indexed by key type (the byte after the
        canonical prefix): two list lookups per token in the hot loop."""

    @property
    def epoch(self) -> int:
        return self._epoch

    def token(self, key: MatchKey) -> bytes:
        """HMAC-SHA256(subkey(key.key_type, epoch), key.canonical): 32 bytes."""
        subkey = self._subkeys.get(key.key_type)
        if subkey is None:
            raise ValidationError("unknown match key type", field="key_type")
        return hmac.digest(subkey, key.canonical, "sha256")

    def record_tokens(self, record: Record, *, today: datetime.date | None = None) -> list[tuple[int, bytes]]:
        """(key_type, token) for every match key of ``record``, in ``derive_keys`` order, without repeats
        (distinct keys of one type cannot share a token short of an HMAC collision). ``today``: as
        ``canonical_keys``."""
        out: list[tuple[int, bytes]] = []
        append = out.append
        inner, outer = self._inner_copy, self._outer_copy
        at = _TYPE_AT
        for canonical in canonical_keys(record, today=today):
            key_type = canonical[at]
            h = inner[key_type]()  # type: ignore[misc]  # every derived key type has a subkey
            h.update(canonical)
            o = outer[key_type]()  # type: ignore[misc]
            o.update(h.digest())
            append((key_type, o.digest()))
        return out
