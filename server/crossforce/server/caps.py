"""Per-certificate caps on calls in flight: so many unary calls, so many streams of each kind.

Why: one organisation's certificate must not be able to take every slot the matcher has (issue 15,
finding 11), nor, with calls that never send their request, every slot it could wait in (finding 4).
The transport (``crossforce.server.transport``) takes a slot before it reads any request and gives it
back when the call ends; the bounds are ``TransportSettings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crossforce.crypto import pki
from crossforce.errors import ResourceExhaustedError

UNARY = "unary"
"""The bucket every unary call shares; each streaming method has a bucket of its own."""


@dataclass
class Lease:
    """One slot a call holds in ``Caps``; given back once."""

    caps: Caps
    key: tuple[str, str, str, str]
    returned: bool = False

    def give_back(self) -> None:
        if not self.returned:
            self.returned = True
            self.caps.give_back(self.key)


@dataclass
class Caps:
    """Calls in flight per (certificate, bucket). Touched only on the event loop thread: no lock."""

    unary: int
    streams: int
    _open: dict[tuple[str, str, str, str], int] = field(default_factory=dict)

    def take(self, who: pki.Identity, bucket: str) -> Lease:
        key = (who.fingerprint, who.org, who.role, bucket)
        limit = self.unary if bucket == UNARY else self.streams
        held = self._open.get(key, 0)
        if held >= limit:
            what = "calls in flight" if bucket == UNARY else f"{bucket} streams open"
            raise ResourceExhaustedError(
                f"this certificate already has {limit} {what}, the most the matcher allows per "
                "certificate; retry once one has ended"
            )
        self._open[key] = held + 1
        return Lease(self, key)

    def give_back(self, key: tuple[str, str, str, str]) -> None:
        left = self._open[key] - 1
        if left:
            self._open[key] = left
        else:
            del self._open[key]

    def in_use(self) -> int:
        return sum(self._open.values())
