"""Which refusals become durable audit events: the first of each kind per organisation and minute.

Why: a refused check or publish costs the caller nothing, but each one used to append an event to the
append-only log, so one certificate could write hundreds a second that no one may ever delete (issue 15,
item 11: 566/s, about 16 GB and 13 minutes of extra start-up a day). Now the first refusal of each
(organisation, kind, reason) in a UTC minute is logged, and the ones after it in that minute are counted
into the next event of that key, its ``suppressed`` field; counts still held when their minute has
passed are written by ``drain`` (the matcher's flusher runs it every few seconds and at stop), so no
refusal stays out of the log. The log therefore still says who was refused, why and how often, at a cost
bounded by keys x minutes. Keys are authenticated organisations and a
small set of reasons, so the memory held here is bounded too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from crossforce.auditlog.events import AuditEvent
from crossforce.clock import SECOND_MS
from crossforce.server.audit import AuditLog

MINUTE_MS = 60 * SECOND_MS

RefusalKey = tuple[str, str, str]
"""(organisation, kind of act, reason)."""


EventFor = Callable[[int, int], AuditEvent]
"""Builds the refusal event of a key for (time, suppressed count): the latest refusal's fields."""


@dataclass
class _Seen:
    minute: int
    suppressed: int = 0
    event_for: EventFor | None = None


class RefusalGate:
    """Admits one refusal per key and minute; counts the rest (thread-safe)."""

    def __init__(self, *, window_ms: int = MINUTE_MS) -> None:
        self._window_ms = window_ms
        self._seen: dict[RefusalKey, _Seen] = {}
        self._lock = threading.Lock()

    def admit(self, key: RefusalKey, now_ms: int, event_for: EventFor | None = None) -> int | None:
        """None if a refusal of ``key`` was already logged this minute (this one is counted instead, and
        ``event_for`` kept to write the count later); otherwise log this one, with the returned count of
        refusals of ``key`` since the last one logged."""
        minute = now_ms // self._window_ms
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and seen.minute == minute:
                seen.suppressed += 1
                seen.event_for = event_for or seen.event_for
                return None
            suppressed = seen.suppressed if seen is not None else 0
            self._seen[key] = _Seen(minute=minute)
            return suppressed

    def restore(self, key: RefusalKey, count: int) -> None:
        """Count ``count`` refusals of ``key`` again: the event that was to carry them was not written."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None:
                seen.suppressed += count

    def drain(self, now_ms: int, *, everything: bool = False) -> list[tuple[RefusalKey, AuditEvent, int]]:
        """The events that carry the counts of minutes that have passed (every count when
        ``everything``, at stop), each with its key and count; those counts are reset (``restore`` them if
        the event cannot be written)."""
        minute = now_ms // self._window_ms
        out: list[tuple[RefusalKey, AuditEvent, int]] = []
        with self._lock:
            for key, seen in self._seen.items():
                if seen.suppressed and seen.event_for is not None and (everything or seen.minute < minute):
                    out.append((key, seen.event_for(now_ms, seen.suppressed), seen.suppressed))
                    seen.suppressed = 0
        return out


FLUSH_EVERY_S = 5.0
"""How often the matcher writes the counts of minutes that have passed."""


def write_drained(gates: tuple[RefusalGate, ...], audit: AuditLog, now_ms: int, *, everything: bool) -> int:
    """Write every drained count as its own event (one transaction each); a count whose event cannot be
    written is restored, to be written next time. Returns how many events were written."""
    written = 0
    for gate in gates:
        for key, event, count in gate.drain(now_ms, everything=everything):
            try:
                with audit.transaction(now_ms) as tx:
                    audit.append(tx, event)
                written += 1
            except Exception:  # storage is down: keep the count for the next flush
                gate.restore(key, count)
    return written


class RefusalFlusher:
    """A thread that runs ``write_drained`` every ``FLUSH_EVERY_S`` and, at ``stop``, once for everything."""

    def __init__(self, gates: tuple[RefusalGate, ...], audit: AuditLog, clock: Callable[[], int]) -> None:
        self._gates, self._audit, self._clock = gates, audit, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="refusal-flush", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_S):
            write_drained(self._gates, self._audit, self._clock(), everything=False)

    def stop(self) -> None:
        """Stop the thread, then write every count still held (before the audit log closes)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=FLUSH_EVERY_S)
        write_drained(self._gates, self._audit, self._clock(), everything=True)
