"""The one clock and the one length of a day, in the integer milliseconds every timestamp here uses.

Why a module: the matcher, its audit log, the SDK, the certificates and the CLI each had their own
``now_ms``, ``utc_now`` or ``86_400_000``. Timestamps in the audit log, index headers and disclosure
deadlines are Unix epoch milliseconds (UTC) as unsigned integers; code that needs "now" takes a ``Clock``
so tests can pass a fixed one. Invariant: this is the only module that reads the system time
(``now_ms``, ``utc_now``, ``utc_today`` all read the same ``time.time``); everything else asks it.
Pure apart from that one read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

SECOND_MS = 1000
"""Milliseconds in a second."""
DAY_S = 24 * 3600
"""Seconds in a (UTC, leap-second-free) day."""
DAY_MS = DAY_S * SECOND_MS
"""Milliseconds in a day: a UTC day starts at a multiple of this."""

Clock = Callable[[], int]
"""Returns the current time in Unix epoch milliseconds."""


def now_ms() -> int:
    """The system time in whole Unix epoch milliseconds (the default ``Clock``)."""
    return int(time.time() * SECOND_MS)


def utc_now() -> datetime:
    """The system time as an aware UTC ``datetime`` (certificate validity, human-readable dates)."""
    return datetime.fromtimestamp(time.time(), UTC)


def utc_today() -> date:
    """Today's date in UTC (e.g. the latest date of birth the encoding accepts)."""
    return utc_now().date()


def day_start_ms(at_ms: int) -> int:
    """The start of the UTC day that contains ``at_ms``."""
    return at_ms - at_ms % DAY_MS
