"""The index generations serving checks: one row per (organisation, epoch) and one snapshot per epoch.

Invariants: a row is in the table only after it and its audit event committed; a force's snapshot entry
is added after its row, so a reader that takes snapshots first and rows second (``view``) finds every
force of a snapshot among the rows. ``retired_through`` only grows (``policy.epochs``), and so does each
(organisation, epoch)'s version. Stored generations in index format 1 (spec v1) are left out: they
cannot match a spec v2 candidate. Mutation happens under the table's own lock, whichever matcher
published: this one (``install``) or another on the same storage (``follow``, told by the audit log).
Each change builds a new immutable ``ServingView`` (copies of the dicts, and what checks derive from
them) that readers share until the next change, so no reader iterates a dict another thread grows and
no check recomputes what only a publish changes.
"""

from __future__ import annotations

import bisect
import functools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossforce.auditlog.events import AuditEvent, EpochChange, PublishAccepted
from crossforce.clock import DAY_MS, SECOND_MS
from crossforce.domain import Coverage, IndexStatus
from crossforce.index import bloom as index
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server import matchkernel
from crossforce.server.policy import coverage, epochs
from crossforce.server.store.protocols import IndexStore
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.hits import record_counts
from crossforce.wire.index_header import parse_index_partitions

RETIRED_THROUGH = "retired_through"
"""The store's meta key for the retired-epoch high-water mark."""
FIRST_EPOCH = 1
"""The epoch a network starts on, before any index is published."""
NEVER = 2**63 - 1
"""A time after every expiry (milliseconds)."""
_FORMAT_1_DROPPED = (
    "not serving the index of %s epoch %d version %d: index format 1 (spec v1) cannot match spec v2 "
    "candidates; the force must publish again with a spec v2 client"
)
"""Why a stored format-1 generation is left out of the table: its tokens (spec v1 keys) can never match
a spec v2 candidate, so serving it, or reporting the force searched, would be wrong."""

log = logging.getLogger("crossforce.server")


@dataclass(frozen=True)
class EpochPlan:
    """How one epoch's snapshot maps onto a check's answer, fixed until the next publish: the output
    column of each of the snapshot's forces and when each one's index expires."""

    snapshot: MatchSnapshot
    cols: npt.NDArray[np.intp]
    expires_at_ms: npt.NDArray[np.int64]


@dataclass(frozen=True)
class ServingView:
    """A consistent copy of the table, built once per change to it (a publish, a follow, a retirement)
    and shared by every check until the next: whatever a check derives from the rows alone is computed
    here once, not once per check (issue 20)."""

    rows: Mapping[tuple[str, int], IndexRow]
    snapshots: Mapping[int, MatchSnapshot]
    retired_through: int

    @functools.cached_property
    def active(self) -> tuple[int, ...]:
        """The epochs checks are answered for, newest first (``policy.epochs``)."""
        return epochs.epochs_in_use(list(self.rows), self.retired_through)

    @functools.cached_property
    def orgs(self) -> tuple[str, ...]:
        """Every organisation with a row, sorted: the columns of a check's match matrix."""
        return tuple(sorted({org for org, _epoch in self.rows}))

    @functools.cached_property
    def plans(self) -> tuple[tuple[int, EpochPlan], ...]:
        """(epoch, plan) for every epoch in use that has a snapshot, in ``active`` order."""
        column = {org: i for i, org in enumerate(self.orgs)}
        out = []
        for epoch in self.active:
            snap = self.snapshots.get(epoch)
            if snap is None:
                continue
            cols = np.array([column[o] for o in snap.orgs], dtype=np.intp)
            expires = np.array([self.rows[(o, epoch)].expires_at_ms for o in snap.orgs], dtype=np.int64)
            out.append((epoch, EpochPlan(snapshot=snap, cols=cols, expires_at_ms=expires)))
        return tuple(out)

    @functools.cached_property
    def record_counts(self) -> Mapping[str, int]:
        """Records each organisation's index declares (``hits.record_counts``): the prior a hit is
        scored with, which only a publish changes."""
        return record_counts(self.rows)

    @functools.cached_property
    def facts(self) -> tuple[coverage.IndexFacts, ...]:
        """The rows as the coverage rule sees them."""
        return tuple(
            coverage.IndexFacts(
                org=r.org,
                epoch=r.epoch,
                version=r.version,
                published_at_ms=r.published_at_ms,
                expires_at_ms=r.expires_at_ms,
            )
            for r in self.rows.values()
        )

    @functools.cached_property
    def expiries(self) -> tuple[int, ...]:
        """Every distinct expiry time, sorted: a coverage answer holds until the next one passes."""
        return tuple(sorted({r.expires_at_ms for r in self.rows.values()}))

    def next_expiry_after(self, now_ms: int) -> int:
        """The first expiry strictly after ``now_ms`` (``2**63 - 1`` when none): until then no row's
        ``expires_at_ms <= now`` test changes, so neither does coverage nor the expired mask."""
        position = bisect.bisect_right(self.expiries, now_ms)
        return self.expiries[position] if position < len(self.expiries) else NEVER

    def coverage(self, configured: tuple[str, ...], token_epochs: frozenset[int], now_ms: int) -> Coverage:
        """``policy.coverage`` over these rows, remembered per (configured, token epochs) until the next
        expiry: it depends on ``now`` only through which rows have expired."""
        key = (configured, token_epochs)
        cached = self._coverage_cache.get(key)
        if cached is not None and cached[0] <= now_ms < cached[1]:
            return cached[2]
        answer = coverage.coverage(
            configured=configured,
            indexes=self.facts,
            active=self.active,
            token_epochs=token_epochs,
            now_ms=now_ms,
        )
        previous = bisect.bisect_right(self.expiries, now_ms) - 1
        since = self.expiries[previous] if previous >= 0 else -NEVER
        self._coverage_cache[key] = (since, self.next_expiry_after(now_ms), answer)
        return answer

    @functools.cached_property
    def _coverage_cache(self) -> dict[tuple[tuple[str, ...], frozenset[int]], tuple[int, int, Coverage]]:
        """Coverage answers by key, each with the [from, until) window of ``now`` it holds for. Threads
        may race to fill an entry; both compute the same answer, so either write is right."""
        return {}


@dataclass(frozen=True)
class Prepared:
    """An epoch's next snapshot, built before any lock is taken (the matcher's snapshots give every force
    a segment of its own, ``matchkernel.SEGMENT_BYTES``, so it copies no bits), and the snapshot it was
    built from: if that is no longer the one serving
    at install (another matcher's publish was followed meanwhile), the install rebuilds from the one
    serving instead."""

    base: MatchSnapshot | None
    snapshot: MatchSnapshot


class IndexTable:
    """The serving generations: loaded once at start-up, then changed by ``install`` (this matcher's
    publishes) and ``follow`` (other matchers' publishes, read back from storage)."""

    def __init__(
        self,
        *,
        store: IndexStore,
        rows: dict[tuple[str, int], IndexRow],
        snapshots: dict[int, MatchSnapshot],
        retired_through: int,
    ) -> None:
        self._store = store
        self._rows = rows
        self._snapshots = snapshots
        self._retired_through = retired_through
        self._mutate = threading.Lock()
        self._view = self._fresh_view()

    @classmethod
    def load(cls, store: IndexStore) -> IndexTable:
        """Rebuild the table from storage: one copy of each live filter, inside its epoch's snapshot; then
        drop bits no row points at (superseded versions, or publishes a crash cut short)."""
        retired_through = int(store.meta(RETIRED_THROUGH) or 0)
        rows: dict[tuple[str, int], IndexRow] = {}
        loaded: dict[int, dict[str, PartitionedIndex]] = {}
        for row in store.indexes():
            layout = parse_index_partitions(row.header)
            if not layout:  # format 1, from before spec v2: see ``_FORMAT_1_DROPPED``
                log.warning(_FORMAT_1_DROPPED, row.org, row.epoch, row.version)
                continue
            rows[(row.org, row.epoch)] = row
            if row.epoch > retired_through:
                bits = store.read_bits(row.bits_sha256)
                loaded.setdefault(row.epoch, {})[row.org] = PartitionedIndex.from_bytes(layout, bits)
        snapshots = {
            epoch: MatchSnapshot.build(indexes, segment_bytes=matchkernel.SEGMENT_BYTES)
            for epoch, indexes in loaded.items()
        }
        del loaded  # the index objects are freed; the snapshots hold the only copy
        store.prune_bits()
        return cls(store=store, rows=rows, snapshots=snapshots, retired_through=retired_through)

    @property
    def retired_through(self) -> int:
        return self._retired_through

    def view(self) -> ServingView:
        """The view of the last change: built once per publish and shared by every check until the next."""
        return self._view

    def _fresh_view(self) -> ServingView:
        """A new view after a change (lock held, or before the table is shared)."""
        snapshots = dict(self._snapshots)  # snapshots first, then rows (see the module docstring)
        return ServingView(rows=dict(self._rows), snapshots=snapshots, retired_through=self._retired_through)

    def keys(self) -> list[tuple[str, int]]:
        return list(self._view.rows)

    def published_orgs(self) -> set[str]:
        """Every organisation with an index row, on any epoch (each is expected in every check)."""
        return set(self._view.orgs)

    def row(self, org: str, epoch: int) -> IndexRow | None:
        return self._rows.get((org, epoch))

    def snapshot(self, epoch: int) -> MatchSnapshot | None:
        return self._snapshots.get(epoch)

    def active_epochs(self) -> tuple[int, ...]:
        """The epochs checks are answered for, newest first (see ``policy.epochs``); computed once per
        change to the table, not once per call."""
        return self._view.active

    def current_epoch(self) -> int:
        active = self.active_epochs()
        return active[0] if active else FIRST_EPOCH

    def prepare(self, org: str, epoch: int, new_index: PartitionedIndex) -> Prepared:
        """``epoch``'s snapshot with ``org``'s index added or replaced, to ``install`` once committed."""
        base = self._snapshots.get(epoch)
        return Prepared(base=base, snapshot=self._with(base, org, new_index))

    def install(
        self,
        row: IndexRow,
        new_index: PartitionedIndex,
        retired_through: int,
        *,
        prepared: Prepared | None = None,
    ) -> None:
        """Serve a committed generation (row before snapshot), unless the table already serves a newer
        version of it; drop snapshots of newly retired epochs. ``prepared`` (from ``prepare``) saves the
        copy when the epoch's snapshot has not changed since; otherwise it is built here."""
        with self._mutate:
            current = self._rows.get((row.org, row.epoch))
            if current is None or current.version < row.version:
                base = self._snapshots.get(row.epoch)
                if prepared is not None and prepared.base is base:
                    snapshot = prepared.snapshot
                else:
                    snapshot = self._with(base, row.org, new_index)
                self._rows[(row.org, row.epoch)] = row
                self._snapshots[row.epoch] = snapshot
            self._retire(retired_through)
            self._view = self._fresh_view()

    @staticmethod
    def _with(base: MatchSnapshot | None, org: str, new_index: PartitionedIndex) -> MatchSnapshot:
        if base is not None:
            return base.with_index(org, new_index)
        return MatchSnapshot.build({org: new_index}, segment_bytes=matchkernel.SEGMENT_BYTES)

    def _retire(self, retired_through: int) -> None:
        """Raise the retired mark (never lower it) and drop the snapshots it retires (lock held)."""
        if retired_through > self._retired_through:
            self._retired_through = retired_through
            for epoch in [e for e in self._snapshots if e <= retired_through]:
                del self._snapshots[epoch]

    def follow(self, log_index: int, event: AuditEvent) -> None:
        """Another matcher's publish or epoch change: serve it before answering with the log that holds it.
        Only the publishing force's row and bits are read (the row as it is now, so a later version wins)."""
        del log_index
        if isinstance(event, PublishAccepted):
            self._reload(event.org, event.epoch)
        elif isinstance(event, EpochChange):
            with self._mutate:
                self._retire(event.retired_through)
                self._view = self._fresh_view()

    def _reload(self, org: str, epoch: int) -> None:
        row = next((r for r in self._store.indexes() if (r.org, r.epoch) == (org, epoch)), None)
        current = self._rows.get((org, epoch))
        if row is None or (current is not None and current.version >= row.version):
            return
        layout = parse_index_partitions(row.header)
        if not layout:  # a format-1 publish by a matcher from before spec v2 on the same storage
            log.warning(_FORMAT_1_DROPPED, row.org, row.epoch, row.version)
            return
        if row.epoch <= self._retired_through:  # no snapshot for a retired epoch (as ``load``)
            with self._mutate:
                self._rows[(org, epoch)] = row
                self._view = self._fresh_view()
            return
        bits = self._store.read_bits(row.bits_sha256)
        self.install(row, PartitionedIndex.from_bytes(layout, bits), self._retired_through)

    def status(self, now_ms: int, *, max_age_s: int) -> list[IndexStatus]:
        """Every force's serving index, with why it is stale if it is (superseded ones left out)."""
        view = self.view()
        active = view.active
        current = active[0] if active else FIRST_EPOCH
        out = []
        for (org, epoch), row in sorted(view.rows.items()):
            if epoch not in active and any(o == org and e in active for (o, e) in view.rows):
                continue  # superseded by the same force's index under a newer epoch
            reason = _stale_reason(row, active, current, now_ms, max_age_ms=max_age_s * SECOND_MS)
            out.append(
                IndexStatus(
                    org=org,
                    epoch=epoch,
                    version=row.version,
                    record_count=row.record_count,
                    token_count=row.token_count,
                    size_bytes=row.num_blocks * index.BLOCK_BYTES,
                    published_at_ms=row.published_at_ms,
                    expires_at_ms=row.expires_at_ms,
                    stale=bool(reason),
                    stale_reason=reason,
                )
            )
        return out


def _stale_reason(
    row: IndexRow, active: tuple[int, ...], current: int, now_ms: int, *, max_age_ms: int
) -> str:
    if row.expires_at_ms <= now_ms:
        return "expired"
    if row.epoch not in active:
        return f"retired epoch {row.epoch}; republish under epoch {current}"
    if now_ms - row.published_at_ms > max_age_ms:
        return f"not republished for {(now_ms - row.published_at_ms) // DAY_MS} days (still matching)"
    if row.epoch != current:
        return f"on previous epoch {row.epoch}; republish under epoch {current}"
    return ""
