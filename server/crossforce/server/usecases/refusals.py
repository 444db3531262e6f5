"""Which refusals become durable audit events: the first of each kind per organisation and minute.

Why: a refused check or publish costs the caller nothing, but each one used to append an event to the
append-only log, so one certificate could write hundreds a second that no one may ever delete (issue 15,
item 11: 566/s, about 16 GB and 13 minutes of extra start-up a day). Now the first refusal of each
(organisation, kind, reason) in a UTC minute is logged, and the ones after it in that minute are counted
into the next event of that key, its ``suppressed`` field. The log therefore still says who was refused,
why and how often, at a cost bounded by keys x minutes. Keys are authenticated organisations and a
small set of reasons, so the memory held here is bounded too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from crossforce.clock import SECOND_MS

MINUTE_MS = 60 * SECOND_MS

RefusalKey = tuple[str, str, str]
"""(organisation, kind of act, reason)."""


@dataclass
class _Seen:
    minute: int
    suppressed: int = 0


class RefusalGate:
    """Admits one refusal per key and minute; counts the rest (thread-safe)."""

    def __init__(self, *, window_ms: int = MINUTE_MS) -> None:
        self._window_ms = window_ms
        self._seen: dict[RefusalKey, _Seen] = {}
        self._lock = threading.Lock()

    def admit(self, key: RefusalKey, now_ms: int) -> int | None:
        """None if a refusal of ``key`` was already logged this minute (this one is counted instead);
        otherwise log this one, with the returned count of refusals of ``key`` since the last one logged."""
        minute = now_ms // self._window_ms
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and seen.minute == minute:
                seen.suppressed += 1
                return None
            suppressed = seen.suppressed if seen is not None else 0
            self._seen[key] = _Seen(minute=minute)
            return suppressed
