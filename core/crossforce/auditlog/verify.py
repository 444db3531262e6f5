"""Whole-log verification over plain values: entries as bytes with their indexes, signed heads, a key.

Two callers hold a whole log and want to know it is the one the matcher signed, without trusting
whoever handed it over:

- an auditor with a ``LogSnapshot`` (fetched with the SDK, or saved to a file and checked later on
  another machine): ``verify_snapshot``; or, having kept a ``VerifiedPrefix`` (head and frontier) from
  an earlier run, only the entries added since: ``verify_extension``;
- an operator with a matcher's stored rows (``crossforce audit verify --data DIR``, and the matcher
  itself at start-up): ``verify_stored_log``.

Both recompute the Merkle root from the leaves themselves (RFC 9162 2.1.1) and check it against heads
signed by the log key the caller pinned, so a log that was altered, truncated or rewritten cannot pass.
This module does no I/O and knows no server, storage engine or wire format: callers read the bytes
(``crossforce.server.offline`` reads a data folder; the CLI fetches or loads a file) and pass them in.

Invariants: every function either returns what it proved or raises ``VerificationError`` naming the
first problem (``ValidationError`` only for a saved file that is not a log at all); nothing is
returned for a log that did not verify.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import AuditEvent, Check, parse_event
from crossforce.errors import ValidationError, VerificationError

LOG_FILE_FORMAT = "crossforce-audit-log/1"
"""The ``format`` of a log saved with ``crossforce audit verify --save`` (docs/audit.md)."""


@dataclass(frozen=True, kw_only=True)
class StoredHead:
    """A signed tree head as storage keeps it: plain integers and bytes, not yet parsed or checked."""

    tree_size: int
    timestamp_ms: int
    root: bytes
    signature: bytes


@dataclass
class LogSnapshot:
    """A whole log as one caller could read it: every leaf hash, the event bytes it may see, a signed head.

    ``previous`` is a head the caller kept earlier (trust on first use); when set, verification also
    proves that the log only grew since then.
    """

    head: treehead.SignedTreeHead
    log_key: bytes
    leaf_hashes: list[bytes]
    entries: list[bytes]
    """Event bytes per leaf; empty where the caller may not read the event."""
    previous: treehead.SignedTreeHead | None = None
    checks: list[str] = field(default_factory=list)

    @classmethod
    def collect(
        cls,
        *,
        head: treehead.SignedTreeHead,
        log_key: bytes,
        entries: Iterable[tuple[int, bytes, bytes]],
        previous: treehead.SignedTreeHead | None = None,
    ) -> LogSnapshot:
        """Gather ``(index, leaf_hash, entry)`` rows in order; a gap or a reordering is refused."""
        leaves: list[bytes] = []
        events: list[bytes] = []
        for index, leaf, entry in entries:
            if index != len(leaves):
                raise VerificationError(
                    f"the matcher returned entry {index} where {len(leaves)} was expected"
                )
            leaves.append(bytes(leaf))
            events.append(bytes(entry))
        return cls(head=head, log_key=log_key, leaf_hashes=leaves, entries=events, previous=previous)

    def events(self) -> list[tuple[int, AuditEvent]]:
        return [(i, parse_event(e)) for i, e in enumerate(self.entries) if e]

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": LOG_FILE_FORMAT,
                    "log_key": self.log_key.hex(),
                    "tree_head": {
                        "tree_size": self.head.head.tree_size,
                        "timestamp_ms": self.head.head.timestamp_ms,
                        "root_hash": self.head.head.root_hash.hex(),
                        "signature": self.head.signature.hex(),
                    },
                    "entries": [
                        {"index": i, "leaf_hash": h.hex(), "entry": e.hex()}
                        for i, (h, e) in enumerate(zip(self.leaf_hashes, self.entries, strict=True))
                    ],
                },
                indent=1,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: bytes) -> LogSnapshot:
        """Parse a saved log; anything that is not one is a ``ValidationError``, never a KeyError."""
        try:
            doc = json.loads(text)
            if doc.get("format") != LOG_FILE_FORMAT:
                raise ValidationError(f"not a saved audit log (format must be {LOG_FILE_FORMAT})")
            th = doc["tree_head"]
            head = treehead.SignedTreeHead(
                head=treehead.TreeHead(
                    tree_size=int(th["tree_size"]),
                    timestamp_ms=int(th["timestamp_ms"]),
                    root_hash=bytes.fromhex(th["root_hash"]),
                ),
                signature=bytes.fromhex(th["signature"]),
            )
            rows = doc["entries"]
            if [int(r["index"]) for r in rows] != list(range(len(rows))):
                raise ValidationError("saved log entries are not numbered 0..n-1 in order")
            return cls(
                head=head,
                log_key=bytes.fromhex(doc["log_key"]),
                leaf_hashes=[bytes.fromhex(r["leaf_hash"]) for r in rows],
                entries=[bytes.fromhex(r["entry"]) for r in rows],
            )
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError, OverflowError) as exc:
            # RecursionError: deeply nested JSON; OverflowError: int(Infinity). Neither is a log.
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"saved audit log is malformed ({exc.__class__.__name__}: {exc})") from None


def _check_entries(leaf_hashes: Sequence[bytes], entries: Sequence[bytes], *, start: int = 0) -> int:
    """Every leaf is a hash, every readable entry hashes to its leaf and decodes; returns how many read."""
    if len(entries) != len(leaf_hashes):
        raise VerificationError(f"{len(entries)} entries were supplied for {len(leaf_hashes)} leaves")
    if any(len(leaf) != merkle.HASH_BYTES for leaf in leaf_hashes):
        raise VerificationError(f"a leaf hash is not {merkle.HASH_BYTES} bytes long")
    readable = 0
    for i, (leaf, entry) in enumerate(zip(leaf_hashes, entries, strict=True), start=start):
        if entry:
            if merkle.leaf_hash(entry) != leaf:
                raise VerificationError(f"entry {i} does not hash to its leaf")
            try:
                parse_event(entry)
            except ValidationError as exc:
                raise VerificationError(
                    f"entry {i} is signed into the log but is not an event: {exc}"
                ) from None
            readable += 1
    return readable


def verify_snapshot(snap: LogSnapshot, log_key: bytes) -> list[str]:
    """Check a snapshot from first principles; returns what was proved, raises VerificationError.

    ``log_key`` is the key the caller trusts (pinned, or from the operator's published file), never the
    one the snapshot names: that one is only compared with it.
    """
    proved: list[str] = []
    if snap.log_key != log_key:
        raise VerificationError("the log was signed by a different log key than the one you trust")
    treehead.verify_tree_head(snap.head, log_key)
    proved.append(
        f"tree head for {snap.head.head.tree_size} entries is signed by log key {log_key.hex()[:16]}..."
    )
    if len(snap.leaf_hashes) != snap.head.head.tree_size:
        raise VerificationError(
            f"the head covers {snap.head.head.tree_size} entries but {len(snap.leaf_hashes)} were supplied"
        )
    readable = _check_entries(snap.leaf_hashes, snap.entries)
    proved.append(f"{readable} readable events hash to their leaves and decode canonically")
    root = merkle.root_from_leaf_hashes(snap.leaf_hashes)
    if root != snap.head.head.root_hash:
        raise VerificationError("the leaves do not hash to the signed root: the log was altered")
    proved.append(f"root recomputed from all {len(snap.leaf_hashes)} leaf hashes equals the signed root")
    if snap.previous is not None:
        size = snap.previous.head.tree_size
        if size > len(snap.leaf_hashes):
            raise VerificationError(
                f"the log shrank from {size} to {len(snap.leaf_hashes)} entries since last kept"
            )
        if merkle.root_from_leaf_hashes(snap.leaf_hashes[:size]) != snap.previous.head.root_hash:
            raise VerificationError(
                f"the first {size} entries no longer match the head you kept: history was rewritten"
            )
        proved.append(f"the first {size} leaves still hash to the head kept earlier (append-only since then)")
    return proved


# ---------------------------------------------------------------------------------------------- incremental
def extend_frontier(frontier: Sequence[bytes], size: int, leaf_hashes: Iterable[bytes]) -> tuple[bytes, ...]:
    """The compact frontier of the first ``size`` leaves, extended by ``leaf_hashes``.

    A tree's frontier is the root of each complete subtree its leaves fill, largest (leftmost) first: one
    hash per one-bit of the size, so at most 64. It is all an auditor needs to keep to extend the root
    (RFC 9162 2.1.1 evaluated bottom-up, as ``merkle.root_from_leaf_hashes`` does), whatever the log's size.
    """
    counts = [1 << bit for bit in reversed(range(size.bit_length())) if size >> bit & 1]
    if len(counts) != len(frontier):
        raise VerificationError(
            f"a frontier of {len(frontier)} hashes cannot describe a tree of {size} leaves"
        )
    stack = [(bytes(h), c) for h, c in zip(frontier, counts, strict=True)]
    for h in leaf_hashes:
        if len(h) != merkle.HASH_BYTES:
            raise VerificationError(f"a leaf hash is not {merkle.HASH_BYTES} bytes long")
        node, count = bytes(h), 1
        while stack and stack[-1][1] == count:
            node, count = merkle.node_hash(stack.pop()[0], node), count * 2
        stack.append((node, count))
    return tuple(h for h, _ in stack)


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree a frontier describes: its subtrees joined right to left (RFC 9162 2.1.1)."""
    if not frontier:
        return merkle.EMPTY_ROOT
    root = bytes(frontier[-1])
    for left in reversed(frontier[:-1]):
        root = merkle.node_hash(bytes(left), root)
    return root


@dataclass(frozen=True, kw_only=True)
class VerifiedPrefix:
    """What an auditor keeps between runs: the last head it verified leaf by leaf, and that tree's frontier
    (whose root ``verify_extension`` checks against the head's before relying on it)."""

    head: treehead.SignedTreeHead
    frontier: tuple[bytes, ...]


def verify_extension(
    *,
    log_key: bytes,
    kept: VerifiedPrefix | None,
    head: treehead.SignedTreeHead,
    consistency: Sequence[bytes],
    leaf_hashes: Sequence[bytes],
    entries: Sequence[bytes],
) -> tuple[VerifiedPrefix, list[str]]:
    """Verify only what was added since ``kept``: the new leaves extend the kept tree to ``head``'s root.

    ``leaf_hashes`` and ``entries`` are the leaves from ``kept``'s size to ``head``'s (entries empty where
    the caller may not read the event); ``consistency`` is the matcher's proof from ``kept``'s head to
    ``head``. Checked: ``head`` is signed by ``log_key``; the log did not shrink; the matcher's consistency
    proof verifies (RFC 9162 2.1.4.2); every readable new entry hashes to its leaf and decodes; and the kept
    frontier extended by the new leaves recomputes ``head``'s root, so the verified leaves are unchanged and
    nothing was slipped in among the new ones. Returns the new prefix to keep and what was proved.
    """
    treehead.verify_tree_head(head, log_key)
    size = head.head.tree_size
    proved = [f"tree head for {size} entries is signed by log key {log_key.hex()[:16]}..."]
    frontier: tuple[bytes, ...] = ()
    if kept is None:
        kept_size, kept_root = 0, merkle.EMPTY_ROOT
    else:
        treehead.verify_tree_head(kept.head, log_key)
        kept_size, kept_root, frontier = kept.head.head.tree_size, kept.head.head.root_hash, kept.frontier
        if frontier_root(frontier) != kept_root:
            raise VerificationError(
                "the verified copy kept in this profile does not match its own head: re-verify with --full"
            )
    if size < kept_size:
        raise VerificationError(
            f"the log shrank from {kept_size} to {size} entries since it was last verified"
        )
    merkle.verify_consistency(kept_size, size, kept_root, head.head.root_hash, consistency)
    if kept is not None:
        proved.append(
            f"the matcher's consistency proof from the head verified earlier ({kept_size} entries) verifies"
        )
    if len(leaf_hashes) != size - kept_size:
        raise VerificationError(
            f"the head adds {size - kept_size} entries to the {kept_size} verified but "
            f"{len(leaf_hashes)} were supplied"
        )
    readable = _check_entries(leaf_hashes, entries, start=kept_size)
    proved.append(
        f"{readable} readable new events (of {len(leaf_hashes)} fetched) hash to their leaves and decode "
        "canonically"
    )
    extended = extend_frontier(frontier, kept_size, leaf_hashes)
    if frontier_root(extended) != head.head.root_hash:
        raise VerificationError("the leaves do not hash to the signed root: the log was altered")
    proved.append(
        f"root recomputed from the {kept_size} leaves verified earlier and the {len(leaf_hashes)} new leaf "
        "hashes equals the signed root"
    )
    return VerifiedPrefix(head=head, frontier=extended), proved


def verify_stored_log(
    entries: Iterable[tuple[int, bytes, bytes]],
    heads: Sequence[StoredHead],
    public_key: bytes,
    *,
    tree: merkle.MerkleTree | None = None,
) -> treehead.SignedTreeHead | None:
    """Check stored rows against what the matcher signed: every ``(index, entry, leaf_hash)`` row is
    numbered in order and its leaf is the hash of its event; every stored head verifies under
    ``public_key`` and the leaves recompute its root; the last head covers every stored leaf.

    Returns the last signed head, or None for an empty log with no head. ``tree``, when given, is an
    in-memory tree the caller already built from the same leaves (the matcher at start-up) and is
    checked against them instead of building a second one.
    """
    hashes: list[bytes] = []
    for idx, entry, leaf in entries:
        if idx != len(hashes):
            raise VerificationError(f"audit log row {len(hashes)} is missing")
        if merkle.leaf_hash(entry) != leaf:
            raise VerificationError(f"audit log event {idx} does not hash to its stored leaf hash")
        hashes.append(leaf)
    tree = tree if tree is not None else merkle.MerkleTree(hashes)
    # Every leaf, not only the last: heads are checked against the tree, so the tree must be the rows.
    if tree.size != len(hashes) or any(tree.leaf_hash_at(i) != leaf for i, leaf in enumerate(hashes)):
        raise VerificationError("the in-memory tree does not match the stored leaves")
    if not heads:
        if hashes:
            raise VerificationError(f"{len(hashes)} audit events are stored but no signed tree head")
        return None
    signed = None
    for row in heads:
        try:
            signed = treehead.SignedTreeHead(
                head=treehead.TreeHead(
                    tree_size=row.tree_size, timestamp_ms=row.timestamp_ms, root_hash=row.root
                ),
                signature=row.signature,
            )
        except ValidationError as exc:
            raise VerificationError(f"stored tree head of size {row.tree_size} is malformed: {exc}") from exc
        treehead.verify_tree_head(signed, public_key)
        if row.tree_size > len(hashes) or tree.root_at(row.tree_size) != row.root:
            raise VerificationError(
                f"stored audit log ({len(hashes)} events) does not match the signed tree head of size "
                f"{row.tree_size}; the database has been altered or truncated"
            )
    if heads[-1].tree_size != len(hashes):
        raise VerificationError(
            f"{len(hashes) - heads[-1].tree_size} stored audit events are not covered by any signed tree head"
        )
    return signed


def filter_events(
    events: Sequence[tuple[int, AuditEvent]],
    *,
    org: str | None = None,
    officer: str | None = None,
    purpose: str | None = None,
    case_ref: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    request_id: str | None = None,
) -> list[tuple[int, AuditEvent]]:
    """The events of a verified log that answer an auditor's question (who checked this case, and why).

    Disclosure transitions carry no case reference; they belong to a case through the check that
    opened their request, so a case filter also keeps the life of every request that check opened.
    """
    case_requests: set[str] = set()
    if case_ref:
        for _i, e in events:
            if isinstance(e, Check) and e.case_reference == case_ref:
                case_requests.update(r for r in e.requests if r)
    out = []
    for i, e in events:
        # Which kinds carry an officer, purpose, case or request is their types' business: ask by name.
        if org and org not in e.readers():
            continue
        if officer and getattr(e, "officer_id", None) != officer:
            continue
        if purpose and getattr(e, "purpose", None) != purpose:
            continue
        if (
            case_ref
            and getattr(e, "case_reference", None) != case_ref
            and getattr(e, "request_id", None) not in case_requests
        ):
            continue
        if request_id and request_id not in (getattr(e, "request_id", None), *getattr(e, "requests", ())):
            continue
        if since_ms is not None and e.at_ms < since_ms:
            continue
        if until_ms is not None and e.at_ms > until_ms:
            continue
        out.append((i, e))
    return out
