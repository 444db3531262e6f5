"""Ctrl-C during ``check-batch``: finish the sub-batch in flight, write it, then stop.

Why: a sub-batch the matcher has answered has been logged and may have opened disclosure requests. Were
Ctrl-C to drop its answers, ``--resume`` would send it again and open every request twice. So the first
Ctrl-C only asks the run to stop after the current sub-batch is written; a second one stops at once
(the person asked twice), and a wait for quota stops at once too, since nothing is in flight then.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from crossforce.cli.status import ExitStatus

INTERRUPTED_EXIT = ExitStatus.INTERRUPTED
"""What a shell reports for a program stopped by Ctrl-C (130 = 128 + SIGINT)."""
STOPPING_NOTICE = b"\nstopping after the sub-batch in flight is written (Ctrl-C again to stop at once)\n"


@dataclass
class StopRequest:
    """Set by the first Ctrl-C; waits made through ``sleep`` end early (and raise) once it is set."""

    event: threading.Event = field(default_factory=threading.Event)

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or raise KeyboardInterrupt as soon as a stop is asked for."""
        if self.event.wait(seconds):
            raise KeyboardInterrupt


@contextmanager
def deferred_interrupt() -> Iterator[StopRequest]:
    """Within the block, the first SIGINT sets the stop request instead of raising; the second raises.

    Signal handlers can only be installed from the main thread; elsewhere (a test runner's worker) the
    block runs with the default behaviour and a stop is never requested.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def first(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # A plain write, not the console: the handler may run while the console holds its own lock.
        os.write(2, STOPPING_NOTICE)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
