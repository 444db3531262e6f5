"""The thin I/O shell around ``crossforce.client.trust``: one profile's trust state on disk, never raced.

Invariants:

- Every change is a read-modify-write under an exclusive ``fcntl.flock`` on a lock file beside the state,
  held from the read to the atomic replace (``crossforce.fsutil.atomic_write``: temp file, fsync,
  ``os.replace``). So two threads, or two processes, on one profile never lose each other's update: the
  second reads what the first wrote. (``flock`` locks belong to an open file description, so two opens
  in one process exclude each other too.)
- The lock file is separate from the state file because ``os.replace`` swaps the state file's inode;
  a lock on the old inode would not exclude a reader of the new one.
- Readers need no lock: the state file is only ever replaced whole, so a reader sees the old or the new
  document, never a torn one.
- Within one process, callers first queue on an in-process lock per state file, and only then take the
  ``flock``. So the blocking ``flock`` call only ever waits for another process: a green thread (the load
  tests run the SDK under gevent) never blocks its whole OS thread waiting for a sibling that holds the
  lock across a network call.
- Transactions do not nest: a second ``transaction()`` in the same thread while one is open would wait
  for itself forever, so it raises instead.
- Nothing is written when a transaction leaves the state unchanged, or when its body raises.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crossforce.auditlog.logkey import (
    MAX_LOG_KEY_FILE_BYTES,
    decode_log_key_file,
    decode_witness_policy,
    log_id,
)
from crossforce.client.trust import TrustState, decode_state, encode_state, pin_log_key, pin_witness_policy
from crossforce.errors import PreconditionError, VerificationError
from crossforce.fsutil import PRIVATE_FILE_MODE, atomic_write, read_limited

MAX_STATE_BYTES = 4 * 1024 * 1024
"""Far above any real state (one pin is ~200 bytes): a larger file is not ours."""


_REGISTRY_LOCK = threading.Lock()
_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_HELD = threading.local()
"""The state files this thread (or green thread) holds a transaction on, to refuse nesting."""


def _process_lock(path: Path) -> threading.Lock:
    """The one in-process lock for ``path`` (created on first use, after any gevent patching)."""
    key = str(path.resolve())
    with _REGISTRY_LOCK:
        lock = _PROCESS_LOCKS.get(key)
        if lock is None:
            lock = _PROCESS_LOCKS[key] = threading.Lock()
        return lock


class Transaction:
    """One locked read-modify-write: read ``state``, assign the new one, and it is written on exit."""

    def __init__(self, state: TrustState) -> None:
        self.read = state
        self.state = state


class TrustStore:
    """A profile's trust state file (``state.json``) and its lock file (``.state.json.lock``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")

    def load(self) -> TrustState:
        """The state as last written (format 1 files are migrated in memory; written back as format 2)."""
        try:
            data = read_limited(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return TrustState()
        return decode_state(data)

    def raw(self) -> bytes:
        """The persisted document as written, for display (``b""`` when nothing is stored yet)."""
        try:
            return read_limited(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return b""

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the profile's lock from reading the state to writing ``txn.state`` back atomically."""
        key = str(self.lock_path.resolve())
        held: set[str] = _HELD.__dict__.setdefault("paths", set())
        if key in held:
            raise PreconditionError("trust state transactions do not nest (this one would wait for itself)")
        held.add(key)
        try:
            with _process_lock(self.lock_path):
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    txn = Transaction(self.load())
                    yield txn
                    if txn.state != txn.read:
                        atomic_write(self.path, encode_state(txn.state), mode=PRIVATE_FILE_MODE)
                finally:
                    os.close(fd)  # closing the last descriptor releases the flock
        finally:
            held.discard(key)


def read_published_log_key(path: Path) -> bytes:
    """The log public key in the file the operator published (``crossforce.auditlog.logkey``)."""
    return decode_log_key_file(read_limited(Path(path), MAX_LOG_KEY_FILE_BYTES), source=str(path))


def pin_published_log_key(store: TrustStore, path: Path) -> tuple[bytes, bool]:
    """Pin the key of the operator's published file in ``store``: returns the key and whether it was newly
    pinned (False: the profile had pinned this same key already). A profile that pinned another key
    refuses it (``trust.pin_log_key``: VerificationError), since one of the two is not the matcher's."""
    data = read_limited(Path(path), MAX_LOG_KEY_FILE_BYTES)
    key = decode_log_key_file(data, source=str(path))
    witnesses = decode_witness_policy(data, source=str(path))  # and the witnesses, if it names any
    with store.transaction() as txn:
        pinned = txn.state.log_key
        if pinned is not None and pinned != key:
            raise VerificationError(
                f"{path} names log {log_id(key)} but this profile pinned log {log_id(pinned)} earlier: "
                "one of them is not the matcher's key; ask the operator before going on"
            )
        fresh = pinned is None
        txn.state = pin_witness_policy(pin_log_key(txn.state, key), witnesses)
    return key, fresh
