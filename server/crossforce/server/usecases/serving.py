"""The index generations serving checks: one row per (organisation, epoch) and one snapshot per epoch.

Invariants: a row is in the table only after it and its audit event committed; a force's snapshot entry
is added after its row, so a reader that takes snapshots first and rows second (``view``) finds every
force of a snapshot among the rows. ``retired_through`` only grows (``policy.epochs``), and so does each
(organisation, epoch)'s version. Mutation happens under the table's own lock, whichever matcher
published: this one (``install``) or another on the same storage (``follow``, told by the audit log);
readers copy the dicts and never iterate one another thread grows.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from crossforce.auditlog.events import AuditEvent, EpochChange, PublishAccepted
from crossforce.clock import DAY_MS, SECOND_MS
from crossforce.domain import IndexStatus
from crossforce.index import bloom as index
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server.policy import epochs
from crossforce.server.store.protocols import IndexStore
from crossforce.server.store.rows import IndexRow

RETIRED_THROUGH = "retired_through"
"""The store's meta key for the retired-epoch high-water mark."""
FIRST_EPOCH = 1
"""The epoch a network starts on, before any index is published."""


@dataclass(frozen=True)
class ServingView:
    """A consistent copy of the table for one check or report."""

    rows: Mapping[tuple[str, int], IndexRow]
    snapshots: Mapping[int, MatchSnapshot]
    retired_through: int

    @functools.cached_property
    def active(self) -> tuple[int, ...]:
        """Computed once per view: a check reads it for validation, coverage and matching."""
        return epochs.epochs_in_use(list(self.rows), self.retired_through)


@dataclass(frozen=True)
class Prepared:
    """An epoch's next snapshot, built before any lock is taken (copying the table takes seconds at 10M
    records), and the snapshot it was built from: if that is no longer the one serving at install (another
    matcher's publish was followed meanwhile), the install rebuilds from the one serving instead."""

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

    @classmethod
    def load(cls, store: IndexStore) -> IndexTable:
        """Rebuild the table from storage: one copy of each live filter, inside its epoch's snapshot; then
        drop bits no row points at (superseded versions, or publishes a crash cut short)."""
        retired_through = int(store.meta(RETIRED_THROUGH) or 0)
        rows: dict[tuple[str, int], IndexRow] = {}
        loaded: dict[int, dict[str, index.BloomIndex]] = {}
        for row in store.indexes():
            rows[(row.org, row.epoch)] = row
            if row.epoch > retired_through:
                params = index.IndexParams(num_blocks=row.num_blocks, num_probes=row.num_probes)
                bloom = index.BloomIndex.from_bytes(params, store.read_bits(row.bits_sha256))
                loaded.setdefault(row.epoch, {})[row.org] = bloom
        snapshots = {epoch: MatchSnapshot.build(blooms) for epoch, blooms in loaded.items()}
        del loaded  # the BloomIndex objects are freed; the snapshots hold the only copy
        store.prune_bits()
        return cls(store=store, rows=rows, snapshots=snapshots, retired_through=retired_through)

    @property
    def retired_through(self) -> int:
        return self._retired_through

    def view(self) -> ServingView:
        snapshots = dict(self._snapshots)  # snapshots first, then rows (see the module docstring)
        return ServingView(rows=dict(self._rows), snapshots=snapshots, retired_through=self._retired_through)

    def keys(self) -> list[tuple[str, int]]:
        return list(self._rows)

    def published_orgs(self) -> set[str]:
        """Every organisation with an index row, on any epoch (each is expected in every check)."""
        return {org for org, _epoch in self._rows}

    def row(self, org: str, epoch: int) -> IndexRow | None:
        return self._rows.get((org, epoch))

    def snapshot(self, epoch: int) -> MatchSnapshot | None:
        return self._snapshots.get(epoch)

    def active_epochs(self) -> tuple[int, ...]:
        """The epochs checks are answered for, newest first (see ``policy.epochs``)."""
        return epochs.epochs_in_use(self.keys(), self._retired_through)

    def current_epoch(self) -> int:
        active = self.active_epochs()
        return active[0] if active else FIRST_EPOCH

    def prepare(self, org: str, epoch: int, bloom: index.BloomIndex) -> Prepared:
        """``epoch``'s snapshot with ``org``'s index added or replaced, to ``install`` once committed."""
        base = self._snapshots.get(epoch)
        return Prepared(base=base, snapshot=self._with(base, org, bloom))

    def install(
        self,
        row: IndexRow,
        bloom: index.BloomIndex,
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
                    snapshot = self._with(base, row.org, bloom)
                self._rows[(row.org, row.epoch)] = row
                self._snapshots[row.epoch] = snapshot
            self._retire(retired_through)

    @staticmethod
    def _with(base: MatchSnapshot | None, org: str, bloom: index.BloomIndex) -> MatchSnapshot:
        return base.with_index(org, bloom) if base is not None else MatchSnapshot.build({org: bloom})

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

    def _reload(self, org: str, epoch: int) -> None:
        row = next((r for r in self._store.indexes() if (r.org, r.epoch) == (org, epoch)), None)
        current = self._rows.get((org, epoch))
        if row is None or (current is not None and current.version >= row.version):
            return
        if row.epoch <= self._retired_through:  # no snapshot for a retired epoch (as ``load``)
            with self._mutate:
                self._rows[(org, epoch)] = row
            return
        params = index.IndexParams(num_blocks=row.num_blocks, num_probes=row.num_probes)
        bloom = index.BloomIndex.from_bytes(params, self._store.read_bits(row.bits_sha256))
        self.install(row, bloom, self._retired_through)

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
