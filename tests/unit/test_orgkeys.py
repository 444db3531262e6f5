"""Organisation keys and their registration proof (crossforce.crypto.orgkeys), and their key files
(crossforce.keystore)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossforce.crypto import envelope
from crossforce.crypto.orgkeys import (
    OrgKeys,
    registration_payload,
    sign_registration,
    verify_registration,
)
from crossforce.errors import NotFoundError, ValidationError, VerificationError
from crossforce.keystore import KEY_FILE, PUBLIC_FILE, load_org_keys, save_org_keys


@pytest.fixture(scope="module")
def keys() -> OrgKeys:
    return OrgKeys.generate("humberside")


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_save_load_round_trip(tmp_path: Path, keys: OrgKeys) -> None:
    save_org_keys(keys, tmp_path / "keys")
    loaded = load_org_keys(tmp_path / "keys")
    assert loaded.org == "humberside"
    assert loaded.signing_public == keys.signing_public
    assert loaded.box_public == keys.box_public
    assert bytes(loaded.signing) == bytes(keys.signing)
    assert bytes(loaded.box) == bytes(keys.box)


def test_key_file_is_private_and_public_file_has_no_secrets(tmp_path: Path, keys: OrgKeys) -> None:
    save_org_keys(keys, tmp_path / "keys")
    assert stat.S_IMODE((tmp_path / "keys" / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    public = json.loads((tmp_path / "keys" / PUBLIC_FILE).read_text())
    assert public["signing_public"] == keys.signing_public.hex()
    assert public["box_public"] == keys.box_public.hex()
    text = (tmp_path / "keys" / PUBLIC_FILE).read_text()
    assert bytes(keys.signing).hex() not in text
    assert bytes(keys.box).hex() not in text


def test_save_overwrites_atomically(tmp_path: Path, keys: OrgKeys) -> None:
    save_org_keys(OrgKeys.generate("humberside"), tmp_path)
    save_org_keys(keys, tmp_path)
    assert load_org_keys(tmp_path).signing_public == keys.signing_public
    assert not list(tmp_path.glob("*.tmp"))


def test_repr_hides_private_keys(keys: OrgKeys) -> None:
    text = repr(keys)
    assert "humberside" in text
    assert bytes(keys.signing).hex() not in text
    assert "SigningKey" not in text


def test_load_expected_org(tmp_path: Path, keys: OrgKeys) -> None:
    save_org_keys(keys, tmp_path)
    assert load_org_keys(tmp_path, org="humberside").org == "humberside"
    with pytest.raises(ValidationError, match="belong"):
        load_org_keys(tmp_path, org="kent")


def test_load_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_org_keys(tmp_path)


BAD_KEY_FILES: dict[str, Callable[[dict[str, str]], str]] = {
    "not_json": lambda good: "{",
    "not_object": lambda good: "[]",
    "wrong_format": lambda good: json.dumps({**good, "format": "crossforce-org-keys/0"}),
    "bad_org": lambda good: json.dumps({**good, "org": "Kent"}),
    "short_seed": lambda good: json.dumps({**good, "signing_seed": good["signing_seed"][:-2]}),
    "not_hex": lambda good: json.dumps({**good, "box_private": "zz" + good["box_private"][2:]}),
    "unknown_field": lambda good: json.dumps({**good, "extra": good["signing_seed"]}),
}


@pytest.mark.parametrize("case", sorted(BAD_KEY_FILES))
def test_bad_key_file_refused_without_echoing_secrets(tmp_path: Path, keys: OrgKeys, case: str) -> None:
    save_org_keys(keys, tmp_path)
    good = json.loads((tmp_path / KEY_FILE).read_text())
    (tmp_path / KEY_FILE).write_text(BAD_KEY_FILES[case](good))
    with pytest.raises(ValidationError) as info:
        load_org_keys(tmp_path)
    assert good["signing_seed"][:16] not in str(info.value)
    assert good["box_private"][2:18] not in str(info.value)


def test_generate_refuses_bad_org() -> None:
    with pytest.raises(ValidationError):
        OrgKeys.generate("Not A Code")


# --- registration proof -------------------------------------------------------------------------


def test_registration_proof_verifies(keys: OrgKeys) -> None:
    proof = sign_registration(keys)
    verify_registration("humberside", keys.signing_public, keys.box_public, proof)


def test_registration_proof_for_other_org_rejected(keys: OrgKeys) -> None:
    proof = sign_registration(keys)
    with pytest.raises(VerificationError):
        verify_registration("kent", keys.signing_public, keys.box_public, proof)


def test_registration_box_key_swap_rejected(keys: OrgKeys) -> None:
    """The matcher (or a thief) cannot pair a force's signing key with a box key it controls."""
    proof = sign_registration(keys)
    attacker_box = OrgKeys.generate("humberside").box_public
    with pytest.raises(VerificationError):
        verify_registration("humberside", keys.signing_public, attacker_box, proof)


def test_registration_signing_key_swap_rejected(keys: OrgKeys) -> None:
    proof = sign_registration(keys)
    other = OrgKeys.generate("humberside")
    with pytest.raises(VerificationError):
        verify_registration("humberside", other.signing_public, keys.box_public, proof)


@pytest.mark.parametrize("index", [0, 31, 63])
def test_registration_proof_tamper_rejected(keys: OrgKeys, index: int) -> None:
    proof = sign_registration(keys)
    with pytest.raises(VerificationError):
        verify_registration("humberside", keys.signing_public, keys.box_public, _flip(proof, index))


def test_registration_proof_truncated_rejected(keys: OrgKeys) -> None:
    with pytest.raises(VerificationError):
        verify_registration("humberside", keys.signing_public, keys.box_public, sign_registration(keys)[:-1])


def test_signature_from_other_context_not_a_registration(keys: OrgKeys) -> None:
    """A signature over the same bytes for another purpose cannot be replayed as a registration."""
    payload = registration_payload(keys.org, keys.signing_public, keys.box_public)
    foreign = envelope.sign(envelope.INDEX_HEADER_CONTEXT, payload, keys.signing)
    with pytest.raises(VerificationError):
        verify_registration(keys.org, keys.signing_public, keys.box_public, foreign)


def test_registration_payload_is_length_prefixed(keys: OrgKeys) -> None:
    payload = registration_payload("kent", keys.signing_public, keys.box_public)
    assert payload == (
        b"\x00\x00\x00\x04kent"
        + b"\x00\x00\x00\x20"
        + keys.signing_public
        + b"\x00\x00\x00\x20"
        + keys.box_public
    )


@pytest.mark.parametrize("field", ["signing_public", "box_public"])
@pytest.mark.parametrize("length", [0, 31, 33])
def test_registration_payload_refuses_wrong_key_lengths(keys: OrgKeys, field: str, length: int) -> None:
    args = {"signing_public": keys.signing_public, "box_public": keys.box_public, field: b"\x01" * length}
    with pytest.raises(ValidationError, match=field):
        registration_payload("kent", args["signing_public"], args["box_public"])


@given(
    a=st.tuples(
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True), st.binary(min_size=32, max_size=32)
    ),
    b=st.tuples(
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True), st.binary(min_size=32, max_size=32)
    ),
)
def test_registration_payload_is_injective(a: tuple[str, bytes], b: tuple[str, bytes]) -> None:
    signing = bytes(nacl.signing.SigningKey(b"\x07" * 32).verify_key)
    pa = registration_payload(a[0], signing, a[1])
    pb = registration_payload(b[0], signing, b[1])
    assert (pa == pb) == (a == b)
