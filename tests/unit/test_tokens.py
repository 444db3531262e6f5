"""Subkeys and tokens (docs/spec.md, "Subkeys and tokens")."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.encoding.matchkeys import KEY_TYPES, derive_keys
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import TOKEN_BYTES, Tokeniser, derive_subkey
from crossforce.errors import ValidationError

SECRET = bytes(range(32))
RECORD = Record(
    record_id="r1",
    given_names="John Paul",
    surname="Smith-Jones",
    date_of_birth="1980-03-05",
    previous_names=("John Evans",),
    ni_number="JK123457C",
    postcode="LS1 4AB",
)


def _rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 written out from RFC 5869, independent of the cryptography package."""
    prk = hmac.digest(salt, ikm, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def test_subkey_is_hkdf_sha256_with_the_published_salt_and_info() -> None:
    for key_type in KEY_TYPES:
        info = b"crossforce/v2/token-subkey\x00" + struct.pack(">BI", key_type, 7)
        expected = _rfc5869(SECRET, b"crossforce/v2/token-subkey-salt", info, 32)
        assert derive_subkey(SECRET, key_type, 7) == expected


def test_each_key_type_and_epoch_has_its_own_subkey() -> None:
    subkeys = {derive_subkey(SECRET, kt, e) for kt in KEY_TYPES for e in (0, 1, 2**32 - 1)}
    assert len(subkeys) == 3 * len(KEY_TYPES)


def test_token_is_hmac_sha256_of_the_canonical_bytes() -> None:
    tokeniser = Tokeniser(secret=SECRET, epoch=3)
    for key in derive_keys(RECORD):
        assert tokeniser.token(key) == hmac.digest(
            derive_subkey(SECRET, key.key_type, 3), key.canonical, "sha256"
        )


def test_record_tokens_fast_path_equals_plain_hmac() -> None:
    tokeniser = Tokeniser(secret=SECRET, epoch=3)
    keys = derive_keys(RECORD)
    assert tokeniser.record_tokens(RECORD) == [(k.key_type, tokeniser.token(k)) for k in keys]


def test_record_tokens_are_32_bytes_and_distinct() -> None:
    pairs = Tokeniser(secret=SECRET, epoch=1).record_tokens(RECORD)
    assert pairs and all(len(tok) == TOKEN_BYTES for _, tok in pairs)
    assert len({tok for _, tok in pairs}) == len(pairs)


def test_epoch_rotation_changes_every_token() -> None:
    a = {t for _, t in Tokeniser(secret=SECRET, epoch=1).record_tokens(RECORD)}
    b = {t for _, t in Tokeniser(secret=SECRET, epoch=2).record_tokens(RECORD)}
    assert not a & b


def test_matcher_without_the_secret_cannot_recompute_tokens() -> None:
    other = hashlib.sha256(b"a guess at the network secret").digest()
    a = {t for _, t in Tokeniser(secret=SECRET, epoch=1).record_tokens(RECORD)}
    b = {t for _, t in Tokeniser(secret=other, epoch=1).record_tokens(RECORD)}
    assert not a & b


def test_short_secret_rejected_without_echoing_it() -> None:
    secret = b"hunter2-hunter2"
    with pytest.raises(ValidationError) as info:
        Tokeniser(secret=secret, epoch=1)
    assert info.value.field == "secret" and "hunter2" not in str(info.value)


@pytest.mark.parametrize(("key_type", "epoch"), [(99, 1), (16, -1), (16, 2**32)])
def test_bad_key_type_or_epoch_rejected(key_type: int, epoch: int) -> None:
    with pytest.raises(ValidationError):
        derive_subkey(SECRET, key_type, epoch)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=12))
def test_record_tokens_never_raise_on_arbitrary_text(given_names: str, surname: str, dob: str) -> None:
    record = Record(record_id="r", given_names=given_names, surname=surname, date_of_birth=dob)
    try:
        pairs = Tokeniser(secret=SECRET, epoch=1).record_tokens(record)
    except ValidationError:
        return
    assert all(len(t) == TOKEN_BYTES for _, t in pairs)
