"""The one clock and the one length of a day, in the integer milliseconds every timestamp here uses.

Why a module: the matcher, its audit log, the SDK and the CLI each had their own ``now_ms`` and their own
``86_400_000``. Timestamps in the audit log, index headers and disclosure deadlines are Unix epoch
milliseconds (UTC) as unsigned integers; code that needs "now" takes a ``Clock`` so tests can pass a
fixed one. Pure apart from reading the system time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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


def day_start_ms(at_ms: int) -> int:
    """The start of the UTC day that contains ``at_ms``."""
    return at_ms - at_ms % DAY_MS
