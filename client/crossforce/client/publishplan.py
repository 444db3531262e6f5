"""What a publish would do, worked out before anything is sent: rows, skipped rows, tokens, and the diff
against the last published generation, with the two bounds that stop a careless republish.

Issue 13: a one-record test file replaced an eight-record index with exit 0, and every open request
against the removed records then read as a false positive. So a publish is planned first, and refused
(a ``ValidationError``: the input is wrong for what it would do) when it would drop more than a share of
the published records (``ShrinkBound``, 10% unless the caller allows it) or skip more bad rows than the
caller allowed (``BadRowBound``, none by default: the first bad row refuses the whole file).

Pure: no file, network or clock; ``crossforce validate`` and ``crossforce publish --dry-run`` print a
plan, and the publisher checks the shrink bound against the store's current generation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crossforce.client.tokenstore import record_body
from crossforce.encoding.matchkeys import canonical_keys
from crossforce.encoding.records import Record
from crossforce.errors import RecordError, ValidationError

DEFAULT_MAX_SHRINK = 0.10
"""A publish may drop at most this share of the records last published unless allowed to drop more."""
EXAMPLES_SHOWN = 5
"""Record ids named in a refusal before the rest are only counted."""

_BOUND = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


@dataclass(frozen=True)
class RecordDiff:
    """How a new record set differs from the published one, by record id (bodies compared whole)."""

    previous_count: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int

    @property
    def removed_share(self) -> float:
        return len(self.removed) / self.previous_count if self.previous_count else 0.0


@dataclass(frozen=True)
class SkippedRow:
    """A row left out: where it is, which record id it claimed (if it got that far), and why; never a
    value from the row."""

    source: str
    line: int
    record_id: str
    reason: str

    @classmethod
    def of(cls, error: RecordError, record_id: str = "") -> SkippedRow:
        prefix = f"{error.source}:{error.line}: "
        reason = str(error)
        return cls(
            source=error.source,
            line=error.line,
            record_id=record_id,
            reason=reason[len(prefix) :] if reason.startswith(prefix) else reason,
        )

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def __str__(self) -> str:
        named = f" (record {self.record_id})" if self.record_id else ""
        return f"{self.where}{named}: {self.reason}"

    def as_json(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "record_id": self.record_id, "reason": self.reason}


@dataclass(frozen=True)
class PublishPlan:
    """Everything ``validate`` and ``publish --dry-run`` report; ``diff`` is None with no published
    generation to compare against."""

    rows: int
    records: int
    skipped: tuple[SkippedRow, ...]
    tokens: int
    keyless: tuple[str, ...]
    """Record ids that yield no match key: published, but no check can ever find them."""
    diff: RecordDiff | None
    against: str = ""
    """Which generation the diff is against (e.g. "v1764501234567, epoch 1"), empty without a diff."""


@dataclass(frozen=True)
class BadRowBound:
    """``--max-bad``: at most ``count`` rows, or at most ``share`` of the rows read, may be skipped."""

    count: int | None = 0
    share: float | None = None

    @classmethod
    def parse(cls, text: str) -> BadRowBound:
        """``N`` (rows) or ``P%`` (of the rows read)."""
        match = _BOUND.fullmatch(text)
        if match is None:
            raise ValidationError(
                "must be a number of rows (e.g. 5) or a percentage (e.g. 2%)", field="max-bad"
            )
        number, percent = match.groups()
        if percent:
            return cls(count=None, share=_percent(number, "max-bad"))
        if "." in number:
            raise ValidationError("a number of rows must be whole (or give a percentage)", field="max-bad")
        return cls(count=int(number))

    @classmethod
    def unlimited(cls) -> BadRowBound:
        return cls(count=None, share=None)

    def allows(self, skipped: int, rows: int) -> bool:
        if self.count is not None:
            return skipped <= self.count
        if self.share is not None:
            return skipped <= self.share * rows
        return True

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count} row(s)"
        if self.share is not None:
            return f"{self.share * 100:g}% of the rows"
        return "any number of rows"


def parse_share(text: str, *, option: str) -> float:
    """``P%`` or ``P`` (a percentage) as a fraction, for ``--max-shrink``."""
    match = _BOUND.fullmatch(text)
    if match is None:
        raise ValidationError("must be a percentage, e.g. 10%", field=option)
    return _percent(match.group(1), option)


def _percent(number: str, option: str) -> float:
    value = float(number)
    if value > 100:
        raise ValidationError("a percentage cannot be over 100%", field=option)
    return value / 100


def diff_records(previous: Mapping[str, str], records: Sequence[Record]) -> RecordDiff:
    """Compare ``records`` with the published ``previous`` ({record_id: canonical body})."""
    new = {r.record_id: record_body(r) for r in records}
    return RecordDiff(
        previous_count=len(previous),
        added=tuple(sorted(set(new) - set(previous))),
        removed=tuple(sorted(set(previous) - set(new))),
        changed=tuple(sorted(rid for rid, body in new.items() if rid in previous and previous[rid] != body)),
        unchanged=sum(1 for rid, body in new.items() if previous.get(rid) == body),
    )


def plan(
    records: Sequence[Record],
    skipped: Sequence[SkippedRow],
    *,
    previous: Mapping[str, str] | None,
    against: str = "",
) -> PublishPlan:
    """The plan for publishing ``records`` (``skipped``: the rows left out); tokens are counted as the
    distinct match keys, which is the number of distinct tokens under any one secret and epoch."""
    keys: set[bytes] = set()
    keyless = []
    for record in records:
        found = canonical_keys(record)
        if not found:
            keyless.append(record.record_id)
        keys.update(found)
    return PublishPlan(
        rows=len(records) + len(skipped),
        records=len(records),
        skipped=tuple(skipped),
        tokens=len(keys),
        keyless=tuple(keyless),
        diff=None if previous is None else diff_records(previous, records),
        against=against if previous is not None else "",
    )


def check_bad_rows(skipped: Sequence[SkippedRow], *, rows: int, bound: BadRowBound) -> None:
    """Refuse a file with more bad rows than ``bound`` allows; with the default bound (0) the message
    starts with the first bad row's own, as it always did."""
    if bound.allows(len(skipped), rows):
        return
    first = skipped[0]
    hint = "give --max-bad N or P% to skip bad rows (--bad-rows-out FILE lists them)"
    if bound.count == 0:
        more = f" (and {len(skipped) - 1} more bad rows)" if len(skipped) > 1 else ""
        raise ValidationError(f"{first}{more}: the whole file is refused; fix it, or {hint}")
    raise ValidationError(
        f"{len(skipped)} of {rows} rows are bad, more than --max-bad allows ({bound.describe()}); "
        f"the whole file is refused; first: {first}; fix the file, or {hint}"
    )


def check_shrink(diff: RecordDiff, *, max_share: float, against: str = "") -> None:
    """Refuse a publish that would drop more than ``max_share`` of the published records."""
    if diff.removed_share <= max_share:
        return
    named = ", ".join(diff.removed[:EXAMPLES_SHOWN]) + (", ..." if len(diff.removed) > EXAMPLES_SHOWN else "")
    where = f" ({against}, " if against else " ("
    raise ValidationError(
        f"this publish would drop {len(diff.removed)} of {diff.previous_count} records published last{where}"
        f"{diff.removed_share:.0%}, more than the {max_share:.0%} allowed): {named}; open requests against "
        "them stay answerable, but checks will no longer find them. Run `crossforce validate` to see the "
        "diff; publish anyway with --allow-shrink, or raise --max-shrink"
    )
