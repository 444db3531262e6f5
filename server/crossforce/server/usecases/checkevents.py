"""A batch's CHECK events, encoded once per shape instead of once per candidate, byte for byte the same.

Why: every candidate of a batch is recorded by its own CHECK event (each one provable on its own), and
encoding an event validates every field against the record format (~20-45 us, most of a batch's
recording). Within one batch every field but four is the same (time, caller, justification, officer
flag), and of those four only the check id differs between candidates that hit the same forces, opened
no request and cost the same: a screening batch has a few dozen such shapes among its thousand
candidates. So a shape met a second time is encoded with the one canonical encoder (``AuditEvent.encode``,
which validates it) under two different check ids; the two encodings must have the same length and differ
only in one 32-byte window holding the id, or the shape is never templated. A candidate of that shape
is then that encoding with its own id in the window: exactly the bytes the encoder would have written
(tests/unit/test_check_path_equivalence.py compares them with the encoder's on random batches).
Anything else (a candidate that opened requests, whose ids are unique anyway, or an id that is not 32
lowercase hex characters) is encoded the ordinary way.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field

from crossforce.auditlog.events import Check

ID_CHARS = 32
"""A check id is ``uuid4().hex``: 32 lowercase hexadecimal characters."""
_HEX = frozenset(string.hexdigits.lower())
_PROBES = ("0" * ID_CHARS, "f" * ID_CHARS)
"""Two valid check ids that differ in every character, so the window they occupy is found exactly."""
MAX_SHAPES = 4096
"""Shapes remembered per batch (a batch holds at most ``Limits.max_batch_candidates`` candidates)."""

Shape = tuple[tuple[str, ...], int]
"""(hits, cost) of a candidate that opened no request."""
_UUID_BYTES = 16
_VARIANT_CLEAR, _VARIANT_SET = ~(0xC000 << 48), 0x8000 << 48
_VERSION_CLEAR, _VERSION_4 = ~(0xF000 << 64), 4 << 76


def check_ids(count: int) -> list[str]:
    """``count`` fresh check ids, each what ``uuid.uuid4().hex`` gives (random, version 4, the RFC 4122
    variant: the same bits set the same way), from one read of the OS's random source instead of one
    read and one ``UUID`` object per candidate (a third of a batch's recording before)."""
    raw = os.urandom(_UUID_BYTES * count)
    ids = []
    for start in range(0, len(raw), _UUID_BYTES):
        value = int.from_bytes(raw[start : start + _UUID_BYTES], "big")
        value = (value & _VARIANT_CLEAR | _VARIANT_SET) & _VERSION_CLEAR | _VERSION_4
        ids.append(f"{value:032x}")
    return ids


@dataclass
class CheckEvents:
    """The CHECK events of one batch: the fields every candidate shares, and the shapes seen so far."""

    at_ms: int
    actor_org: str
    actor_role: str
    officer_id: str
    purpose: str
    legal_basis: str
    case_reference: str
    officer_unverified: int
    _seen: set[Shape] = field(default_factory=set)
    """Shapes met once already (at most ``MAX_SHAPES``)."""
    _templates: dict[Shape, tuple[bytes, int] | None] = field(default_factory=dict)
    """Shape -> (encoding with a probe id, where the id starts), or None if it cannot be templated."""

    def event(self, check_id: str, hits: tuple[str, ...], requests: tuple[str, ...], cost: int) -> Check:
        """The event itself, as the ordinary path builds it."""
        return Check(
            at_ms=self.at_ms,
            actor_org=self.actor_org,
            actor_role=self.actor_role,
            check_id=check_id,
            officer_id=self.officer_id,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            case_reference=self.case_reference,
            hits=hits,
            requests=requests,
            cost=cost,
            officer_unverified=self.officer_unverified,
        )

    def encode(self, check_id: str, hits: tuple[str, ...], requests: tuple[str, ...], cost: int) -> bytes:
        """The event's canonical bytes (``Check.encode``), from the shape's template when it has one."""
        if requests or len(check_id) != ID_CHARS or not _HEX.issuperset(check_id):
            return self.event(check_id, hits, requests, cost).encode()
        shape = (hits, cost)
        if shape not in self._seen:
            # The first of its shape is encoded as usual: a single check, or a shape met once in a batch,
            # costs no more than before. Only a shape met again is templated.
            if len(self._seen) < MAX_SHAPES:
                self._seen.add(shape)
            return self.event(check_id, hits, requests, cost).encode()
        if shape not in self._templates:
            self._templates[shape] = self._template(hits, cost)
        template = self._templates[shape]
        if template is None:
            return self.event(check_id, hits, requests, cost).encode()
        data, start = template
        return data[:start] + check_id.encode("ascii") + data[start + ID_CHARS :]

    def _template(self, hits: tuple[str, ...], cost: int) -> tuple[bytes, int] | None:
        """The shape encoded by the encoder under both probe ids, and where the id sits; None unless the
        two encodings differ in exactly one window of ``ID_CHARS`` bytes holding each probe id."""
        first, second = (self.event(probe, hits, (), cost).encode() for probe in _PROBES)
        if len(first) != len(second):
            return None
        differ = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
        if len(differ) != ID_CHARS or differ[-1] - differ[0] != ID_CHARS - 1:
            return None
        start = differ[0]
        window = slice(start, start + ID_CHARS)
        if first[window] != _PROBES[0].encode("ascii") or second[window] != _PROBES[1].encode("ascii"):
            return None
        return first, start
