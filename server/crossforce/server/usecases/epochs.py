"""The operator's epoch acts: activate the next epoch, retire the previous one, read the state.

Invariants (``policy.epochs``): the state is one meta value (``epoch_state``: current and retired-through,
read in one go), with ``retired_through`` beside it for the serving table, changed only together with the
``EpochChange`` event that records the act, in one transaction, so the
log proves who changed the epochs and when (the operator's certificate names the actor; the log is
signed). Decisions read the state inside that transaction under the write lock, whichever matcher made
the last change. A matcher that finds no state logs the one it starts from once (``start``): epoch 1 on a
new network, the epochs in use on a data folder from before operator epochs. A retirement reaches the
serving table as any matcher's does, through ``IndexTable.follow`` with the logged event.
"""

from __future__ import annotations

import logging
import threading

from crossforce.auditlog.events import EpochChange
from crossforce.clock import Clock
from crossforce.crypto.pki import Identity
from crossforce.domain import Role
from crossforce.domain.epochs import EpochState
from crossforce.server.audit import AuditLog
from crossforce.server.policy import epochs
from crossforce.server.policy.epochs import EpochRules, Published
from crossforce.server.store.protocols import IndexStore, Transaction
from crossforce.server.usecases.serving import RETIRED_THROUGH, IndexTable

EPOCH_STATE = "epoch_state"
"""The store's meta key for the operator's epoch state, ``"current,retired_through"``."""
MATCHER_ACTOR = "matcher"
"""The actor of the one event a matcher writes by itself: the epoch state it starts from."""

log = logging.getLogger("crossforce.server")


class Epochs:
    def __init__(
        self,
        *,
        store: IndexStore,
        table: IndexTable,
        audit: AuditLog,
        clock: Clock,
        write_lock: threading.RLock,
    ) -> None:
        self._store = store
        self._table = table
        self._audit = audit
        self._clock = clock
        self._write_lock = write_lock

    def rules(self) -> EpochRules:
        """The stored state (committed), or the one ``start`` would log if none is stored yet."""
        stored = self._store.meta(EPOCH_STATE)
        if stored is None:
            return epochs.bootstrap(self._table.keys(), int(self._store.meta(RETIRED_THROUGH) or 0))
        current, retired_through = (int(n) for n in stored.split(","))
        return EpochRules(current=current, retired_through=retired_through)

    def start(self) -> None:
        """Log the state this matcher starts from, once per data folder or database (a no-op after)."""
        if self._store.meta(EPOCH_STATE) is not None:
            return
        now = self._clock()
        with self._write_lock:
            with self._audit.transaction(now) as tx:
                if self._store.meta(EPOCH_STATE) is not None:  # another matcher started first
                    return
                rules = self.rules()
                event, index = self._record(tx, rules, now, actor=(MATCHER_ACTOR, Role.OPERATOR.value))
            self._table.follow(index, event)
        log.info("epochs start at current %d, retired through %d", rules.current, rules.retired_through)

    def status(self) -> EpochState:
        return self._state(self.rules())

    def activate(self, who: Identity, epoch: int) -> EpochState:
        """Make ``epoch`` (the next one) current: forces may publish under it from now on."""
        now = self._clock()
        with self._write_lock, self._audit.transaction(now) as tx:
            rules = self.rules().activate(epoch)
            _event, index = self._record(tx, rules, now, actor=(who.org, who.role))
        log.info("%s activated epoch %d", who.org, epoch)
        return self._state(rules, log_index=index)

    def retire(self, who: Identity, epoch: int, *, force_override: bool) -> EpochState:
        """Retire ``epoch`` (the older live one) once every force serving an index has moved on, or at
        once with ``force_override`` (logged with the forces it cut off)."""
        now = self._clock()
        with self._write_lock:
            with self._audit.transaction(now) as tx:
                rules, cut_off = self.rules().retire(
                    epoch, self._published(), now_ms=now, force_override=force_override
                )
                event, index = self._record(
                    tx, rules, now, actor=(who.org, who.role), force_override=force_override, cut_off=cut_off
                )
            self._table.follow(index, event)  # drops the retired epoch's snapshot, as on every matcher
        log.info("%s retired epoch %d%s", who.org, epoch, " (force-override)" if force_override else "")
        return self._state(rules, log_index=index)

    def _record(
        self,
        tx: Transaction,
        rules: EpochRules,
        now: int,
        *,
        actor: tuple[str, str],
        force_override: bool = False,
        cut_off: tuple[str, ...] = (),
    ) -> tuple[EpochChange, int]:
        """Stage the state and the event that records it (one transaction); the event and its leaf."""
        tx.set_meta(EPOCH_STATE, f"{rules.current},{rules.retired_through}")
        tx.set_meta(RETIRED_THROUGH, str(rules.retired_through))
        event = EpochChange(
            at_ms=now,
            actor_org=actor[0],
            actor_role=actor[1],
            retired_through=rules.retired_through,
            current_epoch=rules.current,
            force_override=int(force_override),
            cut_off=cut_off,
        )
        return event, self._audit.append(tx, event)

    def _published(self) -> list[Published]:
        view = self._table.view()
        return [Published(org=o, epoch=e, expires_at_ms=r.expires_at_ms) for (o, e), r in view.rows.items()]

    def _state(self, rules: EpochRules, *, log_index: int = 0) -> EpochState:
        return EpochState(
            current_epoch=rules.current,
            retired_through=rules.retired_through,
            behind=epochs.behind(self._published(), rules.current, now_ms=self._clock()),
            log_index=log_index,
        )
