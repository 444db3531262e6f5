"""A cap on long-lived streams (publish, watch)."""

from __future__ import annotations

import threading

from crossforce.errors import ResourceExhaustedError


class StreamSlots:
    """A cap on one kind of long-lived stream. Each open stream holds a worker thread for its whole life,
    so without a cap a few slow publishers or idle watchers would leave no thread for anyone else."""

    def __init__(self, kind: str, slots: int) -> None:
        self.kind = kind
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)

    def take(self) -> None:
        if not self._free.acquire(blocking=False):
            raise ResourceExhaustedError(
                f"all {self.slots} {self.kind} streams the matcher allows at once are open; retry shortly"
            )

    def give_back(self) -> None:
        self._free.release()
