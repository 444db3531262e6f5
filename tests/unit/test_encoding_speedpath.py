"""Session 29's encoding shortcuts give what the general paths give (issue 20, encoding speed).

Tokens as a whole are compared with the code before the speed work in ``test_encoding_equivalence``
(realistic, synthetic, hostile and arbitrary records) and with the vectors; these tests aim at each
shortcut's edges: identifiers typed in canonical characters, dates of birth a year or more back, and
the cached name and date values being plain tuples the garbage collector stops tracking.
"""

from __future__ import annotations

import datetime
import gc
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.encoding import identifiers, matchkeys
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError

_PNC_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"


def _normalised(kind: str, value: str) -> str | None:
    try:
        return identifiers.normalise_identifier(kind, value)
    except ValidationError as exc:
        return f"error: {exc}"


def _same_as_general_path(kind: str, value: str) -> None:
    """A leading space defeats the typed-shape shortcut; the general path drops it (the clean-up keeps
    only A-Z, 0-9 and, for PNC IDs, "/"), so both must agree, errors included."""
    fast = _normalised(kind, value)
    assert fast == _normalised(kind, " " + value), value


def _pnc_ids() -> list[str]:
    out = []
    for year, serial in itertools.product(
        ("00", "84", "1984", "2003", "0000", "99"), (0, 7, 1234, 9_999_999)
    ):
        right = _PNC_LETTERS[(int(year[-2:]) * 10_000_000 + serial) % 23]
        for digits in dict.fromkeys((str(serial), f"{serial:07d}")):  # ordered: xdist workers agree
            out += [f"{year}/{digits}{letter}" for letter in (right, "A", "Z", "I")]
    return out


@pytest.mark.parametrize("value", _pnc_ids())
def test_typed_pnc_ids_normalise_as_the_general_path(value: str) -> None:
    _same_as_general_path("pnc_id", value)


def test_typed_pnc_id_shortcut_is_taken_and_right() -> None:
    assert identifiers._PNC_TYPED.fullmatch("1984/0001234W")
    assert identifiers.normalise_identifier("pnc_id", "84/1234" + _PNC_LETTERS[(84 * 10**7 + 1234) % 23]) == (
        "84/1234" + _PNC_LETTERS[(84 * 10**7 + 1234) % 23]
    )


@pytest.mark.parametrize(
    "prefix", ["AB", "ZZ", "BG", "GB", "NK", "KN", "NT", "TN", "DA", "AD", "QQ", "AO", "OA", "JV", "VJ"]
)
def test_typed_ni_numbers_normalise_as_the_general_path(prefix: str) -> None:
    for digits in ("123456", "000000", "111111", "654321", "012345", "999999"):
        for suffix in ("", "A", "B", "C", "D", "E"):
            _same_as_general_path("ni_number", prefix + digits + suffix)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[0-9]{2,4}/[0-9]{1,8}[A-Z0-9]", fullmatch=True),
        st.from_regex(r"[A-Z]{2}[0-9]{5,7}[A-F]?", fullmatch=True),
    )
)
def test_identifiers_near_the_typed_shapes_normalise_as_the_general_path(value: str) -> None:
    _same_as_general_path("pnc_id", value)
    _same_as_general_path("ni_number", value)


@pytest.mark.parametrize(
    "today", [datetime.date(2026, 3, 1), datetime.date(2024, 2, 29), datetime.date(2000, 12, 31)]
)
def test_dates_a_year_or_more_back_give_the_general_tails(today: datetime.date) -> None:
    """Every day and month 00-39 (impossible ones too) around leap years, the earliest year, the year
    before today and today's year, written both ways: the shortcut's tails are the general parser's."""
    general = matchkeys._dob_tails.__wrapped__
    years = (1899, 1900, 1904, 1999, 2000, 2001, today.year - 1, today.year)
    for y, m, d in itertools.product(years, range(40), range(40)):
        for dob in (f"{y:04d}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y:04d}"):
            assert matchkeys._dob_tails.__wrapped__(dob, today) == general(f" {dob}", today), dob


def test_cached_name_and_date_values_are_not_tracked_by_the_collector() -> None:
    """Tens of thousands of cached NamedTuples made full collections re-scan them (about a tenth of
    the encoding time): the cached values are plain tuples, untracked once the collector has seen them."""
    record = Record(
        record_id="r",
        given_names="Anne-Marie Jo",
        surname="van der Berg",
        date_of_birth="1984-03-07",
        postcode="LS1 4AB",
        previous_names=("Anne Smith",),
    )
    today = datetime.date(2026, 3, 1)
    matchkeys.canonical_keys(record, today=today)
    values = [
        matchkeys._current_heads(record.given_names, record.surname),
        matchkeys._previous_heads("Anne Smith", record.given_names),
        matchkeys._given_of(record.given_names),
        matchkeys._surname_of(record.surname),
        matchkeys._dob_tails(record.date_of_birth, today),
    ]
    for _ in range(4):  # a tuple is untracked once its items are: one seen before them waits a pass
        gc.collect()
    for value in values:
        assert type(value) is tuple
        assert not gc.is_tracked(value)
