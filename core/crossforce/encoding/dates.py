"""Dates of birth as the match keys see them (docs/spec.md, "Normalisation", dates).

A lenient parse for keying (``parse_date_parts``: what parts are plausible, day and month possibly swapped)
and a strict one for record files (``parse_date``). The only outside input is today's UTC date, used to
reject births in the future; by default it comes from ``crossforce.clock.utc_today`` (the one clock).
Errors are ``ValidationError`` naming the field, never the value.

Characters outside ASCII go through the spec's Unicode table (``unicodetable.DATE``: NFKC and casefold per
code point), never the interpreter's database; every pattern then takes ASCII only.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from crossforce.clock import utc_today
from crossforce.encoding.unicodetable import ASCII_WHITESPACE, DATE, whitespace
from crossforce.errors import ValidationError

# --- Dates -------------------------------------------------------------------------------------------

MIN_BIRTH_YEAR: Final = 1900


@dataclass(frozen=True, slots=True, order=True)
class NormalisedDate:
    year: int
    month: int
    day: int

    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True, slots=True)
class DateParts:
    """A date of birth split into parts, each kept only if plausible on its own (None otherwise).

    A typo usually spoils one part (1980-02-30, 1980-13-05, 1098-03-05); keeping the good parts lets the
    partial-date keys still match. ``valid`` is True only for a real calendar date in range.
    """

    year: int | None
    month: int | None
    day: int | None
    valid: bool
    day_month_unordered: tuple[int, int] | None
    """(low, high) of the written day and month when the year is good and the date is real read either
    way round (1980-03-05 and 1980-05-03 and 1980-13-05 as 13 May): the US/UK swap key uses it."""

    def date(self) -> NormalisedDate | None:
        if self.valid and self.year is not None and self.month is not None and self.day is not None:
            return NormalisedDate(self.year, self.month, self.day)
        return None


_MONTHS: Final = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_ISO: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_YMD: Final = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", re.ASCII)
_DMY: Final = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", re.ASCII)
_YM: Final = re.compile(r"(\d{4})[-/.](\d{1,2})", re.ASCII)
_MY: Final = re.compile(r"(\d{1,2})[-/.](\d{4})", re.ASCII)
_D_MON_Y: Final = re.compile(r"(\d{1,2})[-/. ]*([a-z]+)[-/. ,]*(\d{4})", re.ASCII)
_MON_D_Y: Final = re.compile(r"([a-z]+)[-/. ]*(\d{1,2})(?:st|nd|rd|th)?[-/. ,]*(\d{4})", re.ASCII)
_TIME_SUFFIX: Final = re.compile(
    r"(?:[t ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)$", re.ASCII
)
_ORDINAL: Final = re.compile(r"(\d)(?:st|nd|rd|th)\b", re.ASCII)
_EIGHT_DIGITS: Final = re.compile(r"[0-9]{8}")


def days_in_month(year: int, month: int) -> int:
    """Days in ``month`` (1-12) of ``year``, Gregorian leap years."""
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _real(year: int, month: int, day: int, today: datetime.date) -> bool:
    return (
        1 <= month <= 12
        and 1 <= day <= days_in_month(year, month)
        and (year, month, day) <= (today.year, today.month, today.day)
    )


def _split_date(s: str) -> tuple[int, int, int] | None:
    """(year, month, day) numbers as written, before any range check; None if no format fits.

    Folding per code point before the patterns (not NFKC over the whole field, then casefold) parses
    every field alike: composition and reordering only ever touch code points outside ASCII, which no
    pattern accepts, and a casefold never turns a date's digits or separators into others."""
    ascii_input = s.isascii()
    spaces = ASCII_WHITESPACE if ascii_input else whitespace()
    t = (s if ascii_input else s.translate(DATE)).strip(spaces)
    if match := _ISO.fullmatch(t):  # the common case, first
        return int(match[1]), int(match[2]), int(match[3])
    if ascii_input:
        t = t.lower()  # what DATE does to ASCII; ASCII case mapping is the same in every Unicode version
    if ":" in t:
        t = _TIME_SUFFIX.sub("", t).strip(spaces)
    t = _ORDINAL.sub(r"\1", t)
    if _EIGHT_DIGITS.fullmatch(t):
        y, m, d = int(t[:4]), int(t[4:6]), int(t[6:])
        if MIN_BIRTH_YEAR <= y <= 2100 or not 1 <= int(t[2:4]) <= 12:
            return y, m, d
        return int(t[4:]), int(t[2:4]), int(t[:2])  # DDMMYYYY
    if match := _YMD.fullmatch(t):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _DMY.fullmatch(t):
        return int(match[3]), int(match[2]), int(match[1])
    if (match := _D_MON_Y.fullmatch(t)) and match[2] in _MONTHS:
        return int(match[3]), _MONTHS[match[2]], int(match[1])
    if (match := _MON_D_Y.fullmatch(t)) and match[1] in _MONTHS:
        return int(match[3]), _MONTHS[match[1]], int(match[2])
    # Month and year only (day unknown): day 0, which no check accepts, so only year+month keys.
    if match := _YM.fullmatch(t):
        return int(match[1]), int(match[2]), 0
    if match := _MY.fullmatch(t):
        return int(match[2]), int(match[1]), 0
    return None


@lru_cache(maxsize=1 << 16)
def _parts(s: str, today: datetime.date) -> DateParts | None:
    if not s.strip(ASCII_WHITESPACE if s.isascii() else whitespace()):
        return None
    split = _split_date(s)
    if split is None:
        return DateParts(None, None, None, valid=False, day_month_unordered=None)
    y, m, d = split
    year = y if MIN_BIRTH_YEAR <= y <= today.year else None
    month = m if 1 <= m <= 12 else None
    day = d if 1 <= d <= 31 else None
    valid = year is not None and _real(year, m, d, today)
    swapped = year is not None and _real(year, d, m, today)
    unordered = (min(m, d), max(m, d)) if valid or swapped else None
    return DateParts(year, month, day, valid=valid, day_month_unordered=unordered)


def parse_date_parts(s: str, *, today: datetime.date | None = None) -> DateParts | None:
    """Lenient parse for keying: None for an empty field, else the plausible parts. Never raises."""
    return _parts(s, today or utc_today())


def parse_date(s: str, *, today: datetime.date | None = None) -> NormalisedDate | None:
    """Strict parse: None for an empty field; ValidationError for an unparseable or impossible date.

    Accepts YYYY-MM-DD (also / or . separators, optional time), DD/MM/YYYY (UK order, also - or .),
    YYYYMMDD, DDMMYYYY when not a valid YYYYMMDD, and D-Mon-YYYY / D Month YYYY / Month D, YYYY.
    """
    parts = parse_date_parts(s, today=today)
    if parts is None:
        return None
    date = parts.date()
    if date is None:
        raise ValidationError("not a real date of birth in the accepted range", field="date_of_birth")
    return date
