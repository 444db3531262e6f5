"""C2SP signed notes, checkpoints and cosignatures: reference vectors, round trips and named bad inputs."""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest

from crossforce.auditlog import checkpoint as cp
from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.logkey import (
    WitnessPolicy,
    decode_log_key_file,
    decode_witness_policy,
    encode_log_key_file,
)
from crossforce.client import trust
from crossforce.errors import ValidationError, VerificationError
from crossforce.server.policy.settings import ServerSettings

# golang.org/x/mod/sumdb/note, the reference implementation of signed notes (its package example).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# c2sp.org/signed-note, "Verifier keys" example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def _key(seed: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([seed]) * 32)


def _checkpoint(size: int = 5, log: nacl.signing.SigningKey | None = None) -> cp.Checkpoint:
    key = log or _key(1)
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(bytes([i])) for i in range(size)])
    return cp.Checkpoint(origin=cp.log_origin(bytes(key.verify_key)), tree_size=size, root_hash=root)


def test_signing_reproduces_the_reference_note_byte_for_byte() -> None:
    verifier, key = cp.parse_signer_key(GO_SKEY)
    assert verifier.vkey == GO_VKEY
    assert cp.sign_note_text(GO_TEXT, "PeterNeumann", key).line == GO_SIG
    assert cp.encode_signer_key("PeterNeumann", cp.SIG_ED25519, key) == GO_SKEY


def test_the_spec_example_note_verifies_and_a_changed_one_does_not() -> None:
    verifier = cp.parse_vkey(SPEC_VKEY)
    text, sigs = cp.verify_note(SPEC_NOTE.encode(), verifier)
    assert text == "This is an example message.\n" and sigs[0].key_id.hex() == "530d903a"
    with pytest.raises(VerificationError):
        cp.verify_note(SPEC_NOTE.replace("example message", "exemple message").encode(), verifier)


def test_key_ids_follow_the_signed_note_recipe() -> None:
    public = bytes(_key(2).verify_key)
    expected = hashlib.sha256(b"w.example/1\n\x04" + public).digest()[:4]
    assert cp.key_id("w.example/1", cp.SIG_COSIGNATURE_V1, public) == expected


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # hash does not match
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in the name
        "PeterNeumann+c74f20a3",  # no key
        "",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(ValidationError):
        cp.parse_vkey(vkey)


def test_a_checkpoint_round_trips_and_only_the_log_key_opens_it() -> None:
    log = _key(1)
    body = _checkpoint(7, log)
    note = cp.sign_checkpoint(body, log)
    assert note.decode().startswith(f"{body.origin}\n7\n{base64.b64encode(body.root_hash).decode()}\n\n— ")
    opened, others = cp.open_checkpoint(note, bytes(log.verify_key))
    assert opened == body and others == []
    with pytest.raises(VerificationError):
        cp.open_checkpoint(note, bytes(_key(9).verify_key))  # another log's key: not signed by it


def test_a_checkpoint_signed_by_the_log_key_under_another_origin_is_refused() -> None:
    log = _key(1)
    body = _checkpoint(3, log)
    forged = cp.Checkpoint(origin="other.example/log", tree_size=3, root_hash=body.root_hash)
    note = (forged.body + "\n" + cp.sign_note_text(forged.body, body.origin, log).line).encode()
    with pytest.raises(VerificationError, match="origin"):
        cp.open_checkpoint(note, bytes(log.verify_key))


def test_cosignatures_verify_and_carry_their_timestamp() -> None:
    body = _checkpoint(4)
    witness = _key(3)
    public = cp.Verifier(
        name="w.example/1", sig_type=cp.SIG_COSIGNATURE_V1, public_key=bytes(witness.verify_key)
    )
    line = cp.cosign(body, "w.example/1", witness, timestamp=1_679_315_147)
    signed = bytes(witness.verify_key)
    message = b"cosignature/v1\ntime 1679315147\n" + body.body.encode()
    nacl.signing.VerifyKey(signed).verify(message, line.signature[8:])  # the exact message of the spec
    assert cp.verify_cosignature(body, cp.parse_signature_line(line.line), public) == 1_679_315_147
    other = _checkpoint(5)
    with pytest.raises(VerificationError):
        cp.verify_cosignature(other, line, public)


def test_unknown_cosigners_are_ignored_and_a_bad_known_one_refuses_the_note() -> None:
    log, w1, w2 = _key(1), _key(3), _key(4)
    body = _checkpoint(4, log)
    v1, v2 = (
        cp.Verifier(name=n, sig_type=cp.SIG_COSIGNATURE_V1, public_key=bytes(k.verify_key))
        for n, k in (("w1", w1), ("w2", w2))
    )
    stranger = cp.cosign(body, "stranger", _key(5), timestamp=1)
    good = cp.cosign(body, "w1", w1, timestamp=2)
    note = cp.with_signatures(cp.sign_checkpoint(body, log), [stranger, good, good])
    opened, lines = cp.open_checkpoint(note, bytes(log.verify_key))
    assert cp.cosignatures(opened, lines, [v1, v2]) == {"w1": 2}
    bad = cp.NoteSignature(name="w2", key_id=v2.key_id, signature=good.signature)  # w1's bytes, w2's id
    with pytest.raises(VerificationError, match="w2"):
        cp.cosignatures(opened, [*lines, bad], [v1, v2])


@pytest.mark.parametrize(
    "note",
    [
        b"origin\n1\nAAAA\n",  # no signatures
        b"origin\n1\n\x01AAAA\n\n\xe2\x80\x94 n AAAAAAAA\n",  # a control character
        b"origin\n1\nAAAA\n\n- n AAAAAAAA\n",  # a hyphen, not an em dash
        b"origin\n1\nAAAA\n\n\xe2\x80\x94 n AAAA\n",  # a signature no longer than its key id
        b"\xff\n\n\xe2\x80\x94 n AAAAAAAA\n",  # not UTF-8
    ],
)
def test_malformed_notes_are_refused(note: bytes) -> None:
    with pytest.raises(ValidationError):
        cp.split_note(note)


@pytest.mark.parametrize(
    "body", ["o\n01\nAAAA\n", "o\n1\n", "o\n1\n" + "A" * 44 + "\next\n", "o\n-1\n" + "A" * 43 + "=\n"]
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(ValidationError):
        cp.parse_checkpoint_body(body)


def test_the_published_log_key_file_carries_witnesses_and_still_reads_without_them() -> None:
    log = bytes(_key(1).verify_key)
    vkeys = tuple(
        cp.Verifier(
            name=f"w{i}", sig_type=cp.SIG_COSIGNATURE_V1, public_key=bytes(_key(10 + i).verify_key)
        ).vkey
        for i in range(3)
    )
    data = encode_log_key_file(log, WitnessPolicy(witnesses=vkeys, quorum=2))
    assert decode_log_key_file(data) == log
    assert decode_witness_policy(data) == WitnessPolicy(witnesses=vkeys, quorum=2)
    old = encode_log_key_file(log)
    assert decode_witness_policy(old) == WitnessPolicy() and decode_log_key_file(old) == log
    with pytest.raises(ValidationError, match="quorum"):
        decode_witness_policy(data.replace(b"quorum: 2", b"quorum: 4"))
    with pytest.raises(ValidationError, match="quorum"):
        decode_witness_policy(data.replace(b"quorum: 2\n", b""))


def test_matcher_settings_take_witness_keys_and_refuse_bad_ones() -> None:
    vkeys = [
        cp.Verifier(
            name=f"w{i}", sig_type=cp.SIG_COSIGNATURE_V1, public_key=bytes(_key(10 + i).verify_key)
        ).vkey
        for i in range(3)
    ]
    settings = ServerSettings.from_mapping({"witnesses": vkeys})
    assert settings.witnesses == tuple(vkeys) and settings.witness_quorum == 2  # a majority by default
    with pytest.raises(ValidationError, match="witnesses"):
        ServerSettings.from_mapping({"witnesses": [GO_VKEY]})  # a note key, not a cosignature/v1 key
    with pytest.raises(ValidationError, match="witness_quorum"):
        ServerSettings.from_mapping({"witnesses": vkeys, "witness_quorum": 4})


# --- the client's quorum rule (crossforce.client.trust.witnessed) -------------------------------------


def _log_and_heads(size: int) -> tuple[nacl.signing.SigningKey, list[bytes]]:
    return _key(1), [merkle.leaf_hash(bytes([i])) for i in range(size)]


def _state(
    log: nacl.signing.SigningKey, witnesses: list[nacl.signing.SigningKey], quorum: int
) -> trust.TrustState:
    vkeys = tuple(
        cp.Verifier(name=f"w{i}", sig_type=cp.SIG_COSIGNATURE_V1, public_key=bytes(w.verify_key)).vkey
        for i, w in enumerate(witnesses)
    )
    state = trust.pin_log_key(trust.TrustState(), bytes(log.verify_key))
    return trust.pin_witness_policy(state, WitnessPolicy(witnesses=vkeys, quorum=quorum))


def _head(log: nacl.signing.SigningKey, leaves: list[bytes], size: int) -> treehead.SignedTreeHead:
    root = merkle.root_from_leaf_hashes(leaves[:size])
    return treehead.sign_tree_head(treehead.TreeHead(tree_size=size, timestamp_ms=1, root_hash=root), log)


def _note(
    log: nacl.signing.SigningKey,
    leaves: list[bytes],
    size: int,
    cosigners: list[tuple[str, nacl.signing.SigningKey]],
) -> bytes:
    body = cp.Checkpoint(
        origin=cp.log_origin(bytes(log.verify_key)),
        tree_size=size,
        root_hash=merkle.root_from_leaf_hashes(leaves[:size]),
    )
    return cp.with_signatures(
        cp.sign_checkpoint(body, log), [cp.cosign(body, n, k, timestamp=5) for n, k in cosigners]
    )


def test_a_head_is_witnessed_only_with_a_quorum_on_a_consistent_checkpoint() -> None:
    log, leaves = _log_and_heads(9)
    ws = [_key(20), _key(21), _key(22)]
    state = _state(log, ws, quorum=2)
    head = _head(log, leaves, 6)
    proof = merkle.consistency_proof(leaves, 6, 9)
    ok = trust.witnessed(state, head, _note(log, leaves, 9, [("w0", ws[0]), ("w2", ws[2])]), proof)
    assert ok.cosigners == ("w0", "w2") and ok.quorum == 2 and ok.checkpoint.tree_size == 9
    with pytest.raises(VerificationError, match="1 of the 2"):
        trust.witnessed(state, head, _note(log, leaves, 9, [("w0", ws[0])]), proof)
    with pytest.raises(VerificationError, match="smaller"):
        trust.witnessed(
            state, _head(log, leaves, 9), _note(log, leaves, 6, [("w0", ws[0]), ("w1", ws[1])]), []
        )
    other = [merkle.leaf_hash(b"forged"), *leaves[1:]]  # the same log key, another history
    forked = _note(log, other, 9, [("w0", ws[0]), ("w1", ws[1])])
    with pytest.raises(VerificationError, match="split view"):
        trust.witnessed(state, head, forked, merkle.consistency_proof(other, 6, 9))
    with pytest.raises(VerificationError, match="split view"):
        trust.witnessed(state, _head(log, leaves, 9), forked, [])


def test_the_witness_policy_survives_the_trust_state_file() -> None:
    log, _ = _log_and_heads(1)
    state = _state(log, [_key(20), _key(21)], quorum=1)
    assert trust.decode_state(trust.encode_state(state)).witness_policy == state.witness_policy
    assert trust.decode_state(trust.encode_state(trust.TrustState())).witness_policy == WitnessPolicy()


def test_a_leaf_is_witnessed_under_a_cosigned_prefix_of_the_head() -> None:
    log, leaves = _log_and_heads(9)
    w = _key(20)
    state = _state(log, [w], quorum=1)
    head = _head(log, leaves, 9)
    note = _note(log, leaves, 6, [("w0", w)])
    proof = merkle.consistency_proof(leaves, 6, 9)
    assert trust.witnessed_leaf(state, head, 5, note, proof).checkpoint.tree_size == 6
    with pytest.raises(VerificationError, match="not witnessed yet"):
        trust.witnessed_leaf(state, head, 6, note, proof)
    other = [merkle.leaf_hash(b"forged"), *leaves[1:]]
    with pytest.raises(VerificationError, match="split view"):  # a cosigned prefix of another history
        trust.witnessed_leaf(state, head, 2, _note(log, other, 6, [("w0", w)]), proof)
