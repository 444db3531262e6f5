"""The client's trust state and the rules that change it (pure: bytes in, a new state or an exception out).

What a client trusts about one deployment, kept between runs in its profile:

- the matcher's log key, pinned on first sight (a different key later is refused, never re-pinned);
- the last signed tree head it verified: every head it is shown goes through ``treehead.HeadTracker``
  (``observe``), so a rollback, a fork or a split view is refused (RFC 9162 2.1.4, 8.1.4);
- each other organisation's signing and box keys, pinned and re-pinned only when its whole key history
  is in the log under a head signed by the pinned log key and is its own work (``keytrust.pin_key_history``:
  version 1 bound by its CA-issued certificate, each later version signed over by the one before;
  docs/threat-model.md, "the operator swaps an organisation's keys"); the same rule run on the profile's
  own organisation alarms on a key event its keys did not make;
- the last index version this organisation published per epoch (so versions only ever grow);
- the witnesses the operator published with the log key and their quorum (``pin_witness_policy``): a
  head counts as witnessed only under a checkpoint at least as large, consistent with it and cosigned by
  a quorum of them (``witnessed``), which is what catches a split view no single client can see.

This module does no I/O (python-tuf's ``TrustedMetadataSet`` against its ``Updater``): the SDK fetches
bytes, hands them here, and persists what comes back through ``crossforce.client.truststore`` under a file
lock. Every rule returns a new ``TrustState`` and never changes the one it was given, so a rule that
raises leaves the caller's state exactly as it was.

The state is persisted as JSON (``encode_state`` / ``decode_state``) with a format version. Format 1 is
the unversioned document earlier SDKs wrote; it is migrated on read. A newer format is refused, so an old
SDK never silently drops trust a newer one recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from crossforce.auditlog import checkpoint, merkle, treehead
from crossforce.auditlog.logkey import WitnessPolicy
from crossforce.auditlog.treehead import HeadTracker, SignedTreeHead
from crossforce.crypto import envelope
from crossforce.domain import InclusionProof, LogEntry
from crossforce.errors import ValidationError, VerificationError

TRUST_FORMAT_VERSION = 2
"""2: typed, versioned document. 1: the unversioned dict of earlier SDKs (read and migrated)."""
LEGACY_FORMAT_VERSION = 1
FORMAT_KEY = "format_version"


@dataclass(frozen=True)
class Pin:
    """Another organisation's public keys as this client pinned them, with the key version logged."""

    signing_key: bytes
    box_key: bytes
    key_version: int

    def same_keys(self, other: Pin) -> bool:
        return self.signing_key == other.signing_key and self.box_key == other.box_key


@dataclass(frozen=True)
class KeyEvidence:
    """What the log shows about one of an organisation's key versions: one entry, its inclusion proof, the
    head proved (the input to ``keytrust.pin_key_history``, one per version).

    ``head`` must be signed by the pinned log key; ``entry`` must hash to leaf ``leaf_index`` of it.
    """

    head: SignedTreeHead
    leaf_index: int
    entry: bytes
    hashes: tuple[bytes, ...]


def _frozen_map(items: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class TrustState:
    """Everything a client trusts about one deployment; immutable, changed only by the rules below."""

    log_key: bytes | None = None
    head: SignedTreeHead | None = None
    pins: Mapping[str, Pin] = field(default_factory=lambda: _frozen_map({}))
    index_versions: Mapping[int, int] = field(default_factory=lambda: _frozen_map({}))
    witness_policy: WitnessPolicy = field(default_factory=WitnessPolicy)

    def __post_init__(self) -> None:
        if self.log_key is not None and len(self.log_key) != envelope.PUBLIC_KEY_BYTES:
            raise ValidationError(f"must be {envelope.PUBLIC_KEY_BYTES} bytes", field="log_key")
        if self.head is not None and self.log_key is None:
            raise ValidationError("a tree head is kept but no log key is pinned", field="head")
        object.__setattr__(self, "pins", _frozen_map(self.pins))
        object.__setattr__(self, "index_versions", _frozen_map(self.index_versions))


# ---------------------------------------------------------------------------------------------- log key
def pin_log_key(state: TrustState, key: bytes) -> TrustState:
    """Pin the matcher's log key on first sight; the same key again is a no-op, another is refused."""
    key = bytes(key)
    if len(key) != envelope.PUBLIC_KEY_BYTES:
        raise VerificationError(f"the matcher's log key must be {envelope.PUBLIC_KEY_BYTES} bytes")
    if state.log_key is None:
        return replace(state, log_key=key)
    if state.log_key != key:
        raise VerificationError("the matcher presented a different log key from the one this profile pinned")
    return state


def _tracker(state: TrustState) -> HeadTracker:
    if state.log_key is None:
        raise VerificationError("no log key is pinned: fetch and pin the matcher's log key first")
    return HeadTracker(log_public_key=state.log_key, last=state.head)


# ---------------------------------------------------------------------------------------------- heads
def head_proof_range(state: TrustState, new: SignedTreeHead) -> tuple[int, int] | None:
    """The consistency proof (first, second) ``observe_head`` needs for ``new``; None if it is empty."""
    return _tracker(state).proof_range(new)


def observe_head(state: TrustState, new: SignedTreeHead, consistency: Sequence[bytes]) -> TrustState:
    """Verify a head the matcher showed us against the kept one (``HeadTracker.observe``); keep the newer.

    ``consistency`` is the proof for ``head_proof_range(state, new)``. Raises VerificationError on a bad
    signature, a rollback, a fork or a proof that does not verify.
    """
    kept = _tracker(state).observe(new, consistency)
    return state if kept == state.head else replace(state, head=kept)


def observe_head_fetching(
    state: TrustState, new: SignedTreeHead, fetch_proof: Callable[[int, int], Sequence[bytes]]
) -> TrustState:
    """``observe_head`` with the proof fetched for the range it needs, on one tracker: the kept head's
    signature is checked once, not once for the range and again for the proof (every check's path)."""
    tracker = _tracker(state)
    span = tracker.proof_range(new)
    kept = tracker.observe(new, fetch_proof(*span) if span else [])
    return state if kept == state.head else replace(state, head=kept)


# ---------------------------------------------------------------------------------------------- inclusion
def verify_inclusion(
    head: SignedTreeHead, leaf_index: int, entries: Sequence[LogEntry], proof: InclusionProof
) -> None:
    """Refuse (VerificationError) unless leaf ``leaf_index`` is included under ``head``.

    ``entries`` is the matcher's answer for that one leaf and ``proof`` its inclusion proof against
    ``head``'s size. The leaf hash is the one the log lists for that index; when the caller may read the
    event (``proof.entry`` is not empty) it must also hash to that leaf. An empty answer, or one for another
    index, proves nothing and is refused. ``head`` must already be verified (``observe_head``).
    """
    found = [e for e in entries if e.index == leaf_index]
    if not found:
        raise VerificationError(f"the matcher did not return log entry {leaf_index}")
    leaf = found[0].leaf_hash
    if proof.entry and merkle.leaf_hash(proof.entry) != leaf:
        raise VerificationError(f"event {leaf_index} does not hash to its leaf")
    merkle.verify_inclusion(leaf, leaf_index, head.head.tree_size, list(proof.hashes), head.head.root_hash)


# ---------------------------------------------------------------------------------------------- versions
def next_index_version(state: TrustState, epoch: int, *, now_ms: int, asked: int | None = None) -> TrustState:
    """Record the version of this organisation's next index for ``epoch``: ``asked``, else one past the
    last (and at least ``now_ms``, so a profile restored from backup still moves forward)."""
    last = state.index_versions.get(epoch, 0)
    version = asked or max(last + 1, now_ms)
    return replace(state, index_versions={**state.index_versions, epoch: version})


# ---------------------------------------------------------------------------------------------- witnesses
def pin_witness_policy(state: TrustState, policy: WitnessPolicy) -> TrustState:
    """Keep the witnesses and quorum the operator published beside the log key (out of band, never from
    the matcher); every witness key must parse (``checkpoint.witness_verifiers``). A later published file
    replaces them: the operator changes its witnesses by publishing a new file."""
    checkpoint.witness_verifiers(policy)
    return state if state.witness_policy == policy else replace(state, witness_policy=policy)


@dataclass(frozen=True)
class Witnessed:
    """A head proved witnessed: the cosigned checkpoint it is a prefix of, and who cosigned it."""

    checkpoint: checkpoint.Checkpoint
    cosigners: tuple[str, ...]
    quorum: int


def _quorum(state: TrustState, note: bytes) -> tuple[checkpoint.Checkpoint, tuple[str, ...]]:
    """The checkpoint in ``note`` (signed by the pinned log key) and the pinned witnesses whose valid
    cosignatures it carries, at least ``quorum`` of them; VerificationError otherwise."""
    if state.log_key is None:
        raise VerificationError("no log key is pinned: fetch and pin the matcher's log key first")
    policy = state.witness_policy
    if not policy.witnesses:
        raise VerificationError("no witnesses are configured for this profile")
    signed, lines = checkpoint.open_checkpoint(note, state.log_key)
    cosigners = checkpoint.cosignatures(signed, lines, checkpoint.witness_verifiers(policy))
    if len(cosigners) < policy.quorum:
        raise VerificationError(
            f"the checkpoint of size {signed.tree_size} has cosignatures from {len(cosigners)} of the "
            f"{policy.quorum} witnesses required ({', '.join(sorted(cosigners)) or 'none'}): the head is "
            "not witnessed, so this client cannot tell its view of the log from one shown only to it"
        )
    return signed, tuple(sorted(cosigners))


def witnessed(
    state: TrustState, head: SignedTreeHead, note: bytes, consistency: Sequence[bytes]
) -> Witnessed:
    """Accept ``head`` as witnessed, or raise VerificationError (an alarm: a split view or a head the
    witnesses never saw).

    ``note`` is a checkpoint the matcher served: it must be signed by the pinned log key, at least as
    large as ``head``, carry valid cosignatures from ``quorum`` of the pinned witnesses, and ``head`` must
    be a prefix of it (``consistency`` is the RFC 9162 proof from ``head``'s size to the checkpoint's; a
    checkpoint of the same size must have the same root). A checkpoint the witnesses cosigned that is not
    consistent with the history this client verified is two inconsistent views of one log.
    """
    signed, cosigners = _quorum(state, note)
    size = head.head.tree_size
    if signed.tree_size < size:
        raise VerificationError(
            f"the witnessed checkpoint ({signed.tree_size} entries) is smaller than the head verified "
            f"({size} entries): the head is not witnessed yet"
        )
    _consistent(size, signed.tree_size, head.head.root_hash, signed.root_hash, consistency)
    return Witnessed(checkpoint=signed, cosigners=cosigners, quorum=state.witness_policy.quorum)


def witnessed_leaf(
    state: TrustState, head: SignedTreeHead, leaf_index: int, note: bytes, consistency: Sequence[bytes]
) -> Witnessed:
    """Accept leaf ``leaf_index`` of the verified ``head`` as witnessed, or raise VerificationError.

    ``note`` must be a checkpoint with a quorum of cosignatures (as for ``witnessed``) holding more than
    ``leaf_index`` entries and consistent with ``head``: smaller, it must be a prefix of ``head``
    (``consistency`` from its size to the head's), so its first leaves are the head's, that leaf included;
    at least as large, ``head`` must be a prefix of it (``witnessed``).
    """
    signed, cosigners = _quorum(state, note)
    size = head.head.tree_size
    if signed.tree_size >= size:
        return witnessed(state, head, note, consistency)
    if signed.tree_size <= leaf_index:
        raise VerificationError(
            f"audit entry {leaf_index} is not witnessed yet: the witnesses' newest checkpoint has "
            f"{signed.tree_size} entries; try again after they next cosign"
        )
    _consistent(signed.tree_size, size, signed.root_hash, head.head.root_hash, consistency)
    return Witnessed(checkpoint=signed, cosigners=cosigners, quorum=state.witness_policy.quorum)


def _consistent(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    try:
        merkle.verify_consistency(first, second, first_root, second_root, proof)
    except VerificationError as exc:
        raise VerificationError(
            f"split view: the log of {first} entries is not a prefix of the one of {second} entries, one "
            "of them cosigned by the witnesses and the other verified by this client"
        ) from exc


# ---------------------------------------------------------------------------------------------- encoding
def encode_state(state: TrustState) -> bytes:
    """The persisted document (format 2): stable key order, hex for bytes, heads in their signed encoding."""
    doc: dict[str, Any] = {FORMAT_KEY: TRUST_FORMAT_VERSION}
    if state.log_key is not None:
        doc["log_key"] = state.log_key.hex()
    if state.head is not None:
        doc["tree_head"] = treehead.encode_signed_tree_head(state.head).hex()
    doc["pins"] = {
        org: {"signing_key": p.signing_key.hex(), "box_key": p.box_key.hex(), "key_version": p.key_version}
        for org, p in sorted(state.pins.items())
    }
    doc["index_versions"] = {str(e): v for e, v in sorted(state.index_versions.items())}
    if state.witness_policy.witnesses:
        doc["witnesses"] = list(state.witness_policy.witnesses)
        doc["witness_quorum"] = state.witness_policy.quorum
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def decode_state(data: bytes) -> TrustState:
    """Strict inverse of ``encode_state``; also reads format 1. Anything else is a ValidationError."""
    if not data.strip():
        return TrustState()
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the parser's stack; no state file this SDK wrote.
        raise ValidationError("the trust state file is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise ValidationError("the trust state file must hold a JSON object")
    version = doc.get(FORMAT_KEY, LEGACY_FORMAT_VERSION)
    if version == LEGACY_FORMAT_VERSION:
        doc = _migrate_legacy(doc)
    elif version != TRUST_FORMAT_VERSION:
        raise ValidationError(
            f"the trust state file has format {version!r}; this SDK reads formats up to "
            f"{TRUST_FORMAT_VERSION}: upgrade the SDK"
        )
    known = {FORMAT_KEY, "log_key", "tree_head", "pins", "index_versions", "witnesses", "witness_quorum"}
    if unknown := set(doc) - known:
        raise ValidationError(f"the trust state file has unknown fields: {', '.join(sorted(unknown))}")
    try:
        return TrustState(
            log_key=bytes.fromhex(doc["log_key"]) if "log_key" in doc else None,
            head=treehead.decode_signed_tree_head(bytes.fromhex(doc["tree_head"]))
            if "tree_head" in doc
            else None,
            pins={str(org): _pin(p) for org, p in dict(doc.get("pins", {})).items()},
            index_versions={int(e): _count(v) for e, v in dict(doc.get("index_versions", {})).items()},
            witness_policy=WitnessPolicy(
                witnesses=tuple(str(w) for w in doc.get("witnesses", [])),
                quorum=_count(doc.get("witness_quorum", 0)),
            ),
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"the trust state file is malformed ({type(exc).__name__})") from exc


def _migrate_legacy(doc: dict[str, Any]) -> dict[str, Any]:
    """Format 1 had the same fields, with index versions under ``versions``; anything else was never
    written by an SDK and is refused by the caller."""
    out = {k: v for k, v in doc.items() if k != "versions"}
    if "versions" in doc:
        out["index_versions"] = doc["versions"]
    return out


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError("must be a non-negative integer")
    return value


def _pin(doc: object) -> Pin:
    if not isinstance(doc, dict):
        raise ValidationError("a pin must be a JSON object")
    return Pin(
        signing_key=bytes.fromhex(doc["signing_key"]),
        box_key=bytes.fromhex(doc["box_key"]),
        key_version=_count(doc["key_version"]),
    )
