"""Signed tree heads and the client's record of the last one it verified (pure).

A tree head commits the matcher to the first ``tree_size`` leaves of its log (RFC 9162 2.1, 4.10). The
matcher signs the fixed 49-byte encoding below under ``TREE_HEAD_CONTEXT``, so a head signature can never
be replayed as any other kind of signature. Clients keep the last head they verified in a ``HeadTracker``
and accept a newer one only with a consistency proof from it (RFC 9162 2.1.4, 8.1.4), which is how a
split view or a rewritten history is caught.

Encoding (big-endian, no padding)::

    version u8 (= 1) || tree_size u64 || timestamp_ms u64 || root_hash [32]
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.signing

from crossforce.auditlog import merkle
from crossforce.crypto import envelope
from crossforce.errors import ValidationError, VerificationError

TREE_HEAD_VERSION = 1
_HEAD = struct.Struct(">BQQ32s")
TREE_HEAD_BYTES = _HEAD.size
SIGNED_TREE_HEAD_BYTES = TREE_HEAD_BYTES + envelope.SIGNATURE_BYTES
_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    timestamp_ms: int
    root_hash: bytes

    def __post_init__(self) -> None:
        for name in ("tree_size", "timestamp_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
                raise ValidationError("must be an unsigned 64-bit integer", field=name)
        if not isinstance(self.root_hash, bytes | bytearray | memoryview):
            raise ValidationError("must be bytes", field="root_hash")
        root = bytes(self.root_hash)
        if len(root) != merkle.HASH_BYTES:
            raise ValidationError(f"must be {merkle.HASH_BYTES} bytes", field="root_hash")
        object.__setattr__(self, "root_hash", root)


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    signature: bytes


def encode_tree_head(head: TreeHead) -> bytes:
    """The exact bytes that are signed (layout in the module docstring and docs/audit.md)."""
    return _HEAD.pack(TREE_HEAD_VERSION, head.tree_size, head.timestamp_ms, head.root_hash)


def decode_tree_head(data: bytes) -> TreeHead:
    """Strict inverse of ``encode_tree_head``: wrong length or unknown version is a ValidationError."""
    if len(data) != TREE_HEAD_BYTES:
        raise ValidationError(f"tree head must be {TREE_HEAD_BYTES} bytes, got {len(data)}")
    version, size, timestamp_ms, root = _HEAD.unpack(data)
    if version != TREE_HEAD_VERSION:
        raise ValidationError(f"unknown tree head version {version}")
    return TreeHead(tree_size=size, timestamp_ms=timestamp_ms, root_hash=root)


def encode_signed_tree_head(sth: SignedTreeHead) -> bytes:
    """Head encoding followed by the 64-byte signature: how a head is exported or persisted."""
    return encode_tree_head(sth.head) + sth.signature


def decode_signed_tree_head(data: bytes) -> SignedTreeHead:
    """Parse ``encode_signed_tree_head`` output; does not verify the signature."""
    if len(data) != SIGNED_TREE_HEAD_BYTES:
        raise ValidationError(f"signed tree head must be {SIGNED_TREE_HEAD_BYTES} bytes, got {len(data)}")
    return SignedTreeHead(head=decode_tree_head(data[:TREE_HEAD_BYTES]), signature=data[TREE_HEAD_BYTES:])


def sign_tree_head(head: TreeHead, key: nacl.signing.SigningKey) -> SignedTreeHead:
    """Sign the head's encoding under ``TREE_HEAD_CONTEXT`` (domain separation, see envelope.py)."""
    return SignedTreeHead(
        head=head, signature=envelope.sign(envelope.TREE_HEAD_CONTEXT, encode_tree_head(head), key)
    )


def verify_tree_head(sth: SignedTreeHead, public_key: bytes) -> None:
    """Raise VerificationError unless ``sth`` is signed by the log key ``public_key``."""
    envelope.verify(envelope.TREE_HEAD_CONTEXT, encode_tree_head(sth.head), sth.signature, public_key)


class HeadTracker:
    """The last tree head a client verified for one deployment; persistence is the caller's.

    Rules (each break raises VerificationError and leaves the kept head unchanged):
    - every head is signed by the log key;
    - a new head is at least as large as the kept one, and a consistency proof from the kept head verifies
      (RFC 9162 2.1.4.2); a same-size head must have the same root (else the log forked);
    - timestamps never go backwards (a replayed old head is a rollback).
    With no kept head the first one is trusted on first use, with a proof from the empty tree (empty).

    ``observe`` is the one entry point a client uses for every head it is shown: a head smaller than the
    kept one is not a rollback when it is a prefix of the kept head (responses to concurrent calls can
    arrive out of order), so it is checked with a proof from it to the kept head and the kept head stays.
    ``proof_range`` names the consistency proof ``observe`` needs, so the caller fetches exactly that.
    """

    def __init__(self, *, log_public_key: bytes, last: SignedTreeHead | None = None) -> None:
        if len(log_public_key) != envelope.PUBLIC_KEY_BYTES:
            raise ValidationError(f"must be {envelope.PUBLIC_KEY_BYTES} bytes", field="log_public_key")
        self._key = bytes(log_public_key)
        if last is not None:
            verify_tree_head(last, self._key)
        self._last = last

    @property
    def last(self) -> SignedTreeHead | None:
        return self._last

    def accept(self, new: SignedTreeHead, consistency: Sequence[bytes]) -> SignedTreeHead:
        """Verify ``new`` against the kept head, keep it, and return it."""
        verify_tree_head(new, self._key)
        if self._last is None:
            old = TreeHead(tree_size=0, timestamp_ms=0, root_hash=merkle.EMPTY_ROOT)
        else:
            old = self._last.head
        head = new.head
        if head.tree_size < old.tree_size:
            raise VerificationError(f"log rolled back from size {old.tree_size} to {head.tree_size}")
        if head.timestamp_ms < old.timestamp_ms:
            raise VerificationError(
                f"tree head timestamp went backwards ({old.timestamp_ms} -> {head.timestamp_ms})"
            )
        if head.tree_size == old.tree_size and head.root_hash != old.root_hash:
            raise VerificationError(f"log forked: two different roots signed for tree size {head.tree_size}")
        merkle.verify_consistency(old.tree_size, head.tree_size, old.root_hash, head.root_hash, consistency)
        self._last = new
        return new

    def proof_range(self, new: SignedTreeHead) -> tuple[int, int] | None:
        """The (first, second) tree sizes of the consistency proof ``observe(new, ...)`` needs, or None.

        None when the proof is empty by definition: from the empty tree, or between equal sizes.
        """
        last = self._last.head.tree_size if self._last is not None else 0
        first, second = sorted((last, new.head.tree_size))
        return None if first in (0, second) else (first, second)

    def observe(self, new: SignedTreeHead, consistency: Sequence[bytes]) -> SignedTreeHead:
        """Verify any head the log showed us; return the head kept afterwards (``new`` or the kept one).

        A head at least as large as the kept one goes through ``accept``. A smaller one must be signed
        and ``consistency`` must prove it a prefix of the kept head (RFC 9162 2.1.4.2), else
        VerificationError; the kept head is unchanged either way.
        """
        if self._last is None or new.head.tree_size >= self._last.head.tree_size:
            return self.accept(new, consistency)
        verify_tree_head(new, self._key)
        kept = self._last.head
        merkle.verify_consistency(
            new.head.tree_size, kept.tree_size, new.head.root_hash, kept.root_hash, consistency
        )
        return self._last
