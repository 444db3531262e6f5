"""The matcher's side of the audit log: an in-memory Merkle tree over the stored leaves, signed heads.

Events are appended inside the storage transaction that makes the change they record; the tree and the
signed head advance only after that transaction commits, so what a client is shown is always durable.
At start-up the stored leaves are checked against the last signed head: a log that no longer matches
what the matcher signed refuses to serve.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import nacl.signing

from crossforce import merkle, treehead
from crossforce.errors import ValidationError, VerificationError
from crossforce.events import Event, decode_event, encode_event
from crossforce.server.storage import HeadRow, Storage, Transaction


class AuditLog:
    def __init__(self, *, storage: Storage, key: nacl.signing.SigningKey) -> None:
        self._storage = storage
        self._key = key
        self.public_key = bytes(key.verify_key)
        self._lock = threading.RLock()
        self._tree = merkle.MerkleTree(storage.log_leaf_hashes())
        self._head = self._check_against_last_head()

    def _check_against_last_head(self) -> treehead.SignedTreeHead:
        last = self._storage.latest_head()
        if last is not None:
            signed = treehead.SignedTreeHead(
                head=treehead.TreeHead(
                    tree_size=last.tree_size, timestamp_ms=last.timestamp_ms, root_hash=last.root
                ),
                signature=last.signature,
            )
            treehead.verify_tree_head(signed, self.public_key)
            if last.tree_size > self._tree.size or self._tree.root_at(last.tree_size) != last.root:
                raise VerificationError(
                    f"stored audit log does not match the last signed tree head (size {last.tree_size}); "
                    "the database has been altered or truncated"
                )
            if last.tree_size == self._tree.size:
                return signed
        return self._sign(self._tree.size, _now_ms())

    def _sign(self, size: int, now_ms: int) -> treehead.SignedTreeHead:
        head = treehead.TreeHead(tree_size=size, timestamp_ms=now_ms, root_hash=self._tree.root_at(size))
        return treehead.sign_tree_head(head, self._key)

    @staticmethod
    def append(tx: Transaction, event: Event) -> int:
        """Stage ``event`` in ``tx``; returns its leaf index (final once the transaction commits)."""
        entry = encode_event(event)
        return tx.append_log(entry, merkle.leaf_hash(entry))

    @contextlib.contextmanager
    def transaction(self, now_ms: int) -> Iterator[Transaction]:
        """A storage transaction whose appended events advance the tree and a signed head, atomically.

        The new head is stored in the same transaction; if the commit fails the in-memory tree is
        rebuilt from storage so it never shows a leaf that is not durable.
        """
        with self._lock:
            grown = False
            try:
                with self._storage.transaction() as tx:
                    yield tx
                    if tx.appended:
                        grown = True
                        for _entry, leaf in tx.appended:
                            self._tree.append(leaf)
                        new_head = self._sign(self._tree.size, now_ms)
                        tx.put_head(
                            HeadRow(
                                tree_size=new_head.head.tree_size,
                                timestamp_ms=new_head.head.timestamp_ms,
                                root=new_head.head.root_hash,
                                signature=new_head.signature,
                            )
                        )
            except BaseException:
                if grown:
                    self._tree = merkle.MerkleTree(self._storage.log_leaf_hashes())
                raise
            if grown:
                self._head = new_head

    @property
    def head(self) -> treehead.SignedTreeHead:
        return self._head

    @property
    def size(self) -> int:
        return self._tree.size

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._check_range(first, second)
        with self._lock:
            return self._tree.consistency_proof(first, second)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValidationError(f"leaf index {index} is not in a tree of size {size}")
        self._check_range(size, size)
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def _check_range(self, first: int, second: int) -> None:
        size = self._tree.size
        if not 0 <= first <= second <= size:
            raise ValidationError(f"sizes must satisfy 0 <= first <= second <= {size} (the current log size)")

    def entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        return self._storage.log_entries(start, end)

    @staticmethod
    def concerns(entry: bytes) -> set[str]:
        try:
            return set(decode_event(entry).concerns())
        except ValidationError:
            return set()


def _now_ms() -> int:
    return int(time.time() * 1000)
