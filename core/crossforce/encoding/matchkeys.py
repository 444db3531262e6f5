"""Match keys: the second half of the Encode step (docs/spec.md, "Match keys", "Canonical encoding").

This module derives a record's keys; the key types, their strengths and canonical encoding are in
``crossforce.encoding.keytypes`` and the phonetic code and nickname table in ``phonetic`` (all
re-exported here). A record becomes several deterministic keys, each built so that one common way
nominal data goes wrong (a nickname, a typo, a swapped day and month, a married name, a dropped
particle) still leaves at least one key equal between two records of the same person, while keys stay
specific enough that namesakes rarely collide among tens of millions of records. Spec v2 adds keys
that need no date of birth or no forename or no surname, because a held record often lacks one of
them (issue 14). Every key is later a 32-byte token and about 60 bits in every index, so the list stays
short: about twenty keys for an ordinary record.

Hot path: ``canonical_keys`` completes each record's keys from cached heads (one set per distinct
name pair, built from cached name halves) and date and postcode tails, by byte concatenation only,
already in key order. The module is over 400 lines because that hot path is one piece: the cached
halves, heads and tails share private types, and splitting them would spread one spec section over
several modules.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final, TypeAlias

from crossforce.clock import DAY_MS, now_ms
from crossforce.encoding.dates import days_in_month
from crossforce.encoding.keytypes import (
    CANONICAL_PREFIX,
    FORENAME_DOB,
    FORENAME_DOB_AREA,
    FRAGMENT_DOB,
    ID_KEY_TYPES,
    INITIAL_DOB,
    KEY_TYPES,
    MAX_FORENAMES,
    MAX_PREVIOUS_NAMES,
    NAME_DISTRICT,
    NAME_DOB,
    NAME_NODATE,
    NAME_YEAR,
    PARTIAL_DOB,
    PHONETIC_DOB,
    PHONETIC_POSTCODE,
    SURNAME_DOB,
    SURNAME_DOB_AREA,
    KeyType,
    MatchKey,
    decode_key,
    encode_key,
    field_bytes,
    hit_strength,
)
from crossforce.encoding.normalise import (
    MIN_BIRTH_YEAR,
    normalise_given_names,
    normalise_identifier,
    normalise_postcode,
    normalise_previous_name,
    normalise_surname,
    parse_date_parts,
    postcode_district,
)
from crossforce.encoding.phonetic import canonical_forename, soundex
from crossforce.encoding.placeholders import DOE_FORENAMES
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError

__all__ = [
    "CANONICAL_PREFIX",
    "KEY_TYPES",
    "MAX_FORENAMES",
    "MAX_PREVIOUS_NAMES",
    "KeyType",
    "MatchKey",
    "canonical_forename",
    "canonical_keys",
    "decode_key",
    "derive_keys",
    "encode_key",
    "hit_strength",
    "key_bytes",
    "soundex",
]


# --- Key derivation ------------------------------------------------------------------------------------
#
# Every field but the last (the date or postcode ones) depends only on the name. Its forename half is
# encoded once per distinct given names and its surname half once per distinct surname, both cached
# (each half is seldom new); the pair's heads (``_Heads``) are cached too, for the common names that
# repeat through a force's file. The record's date of birth and postcode, encoded once per record,
# then complete the keys by plain byte concatenation.

_MAX_DAY: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Longest length of each month (29 for February): the masked-year partial date needs a day that some
year's month has."""


def _header(key_type: int, field_count: int) -> bytes:
    return CANONICAL_PREFIX + bytes((key_type, field_count))


_H_NAME_DOB: Final = _header(NAME_DOB, 3)
_H_PHONETIC_DOB: Final = _header(PHONETIC_DOB, 3)
_H_INITIAL_DOB: Final = _header(INITIAL_DOB, 3)
_H_FRAGMENT_DOB_PREFIX: Final = _header(FRAGMENT_DOB, 4) + field_bytes("p")
_H_FRAGMENT_DOB_SUFFIX: Final = _header(FRAGMENT_DOB, 4) + field_bytes("s")
_H_PARTIAL_DOB: Final = _header(PARTIAL_DOB, 3)
_H_PHONETIC_POSTCODE: Final = _header(PHONETIC_POSTCODE, 3)
_H_SURNAME_DOB_AREA: Final = _header(SURNAME_DOB_AREA, 3)
_H_FORENAME_DOB_AREA: Final = _header(FORENAME_DOB_AREA, 3)
_H_NAME_NODATE: Final = _header(NAME_NODATE, 2)
_H_NAME_YEAR: Final = _header(NAME_YEAR, 3)
_H_SURNAME_DOB: Final = _header(SURNAME_DOB, 2)
_H_FORENAME_DOB: Final = _header(FORENAME_DOB, 2)
_H_NAME_DISTRICT: Final = _header(NAME_DISTRICT, 3)


@lru_cache(maxsize=1 << 14)
def _forename_codes(forename: str) -> tuple[tuple[str, bytes], ...]:
    """(code, encoded) for the Soundex of a full forename as written and of its canonical form, without
    repeats or empties.

    Both, because the nickname table and a misspelling each defeat the other: Jak and Jack share
    J200 only as written (the table makes Jack John), Bill and William share W450 only canonically.
    Encoded here, once per forename: forenames repeat far more than lists of given names do."""
    codes = (soundex(forename), soundex(canonical_forename(forename)))
    return tuple((c, _field(c)) for i, c in enumerate(codes) if c and c not in codes[:i])


@lru_cache(maxsize=1 << 14)
def _canonical_first(forename: str) -> tuple[str, bytes, bytes, bytes]:
    """c(forename) and, encoded, c, pre(c) and suf(c) (its first and last three code points): the
    parts of a given-names half that depend on one forename, encoded once per forename."""
    c = canonical_forename(forename)
    return c, _field(c), _field(c[:3]), _field(c[-3:])


# A pair of names is written in ascending code-point order (``a + b if a <= b else b + a`` below, on
# the encoded fields): a key on a pair does not care which box each name was written in (forename and
# surname transposed, as surname-first naming often leaves them).


# The two name halves, like the heads and the date tails below, are plain tuples rather than
# NamedTuples: the garbage collector stops tracking a cached plain tuple of strings, bytes and tuples
# once it has seen it, never a NamedTuple (see ``_Heads``).

_Given: TypeAlias = tuple[
    str | None,  # first: canonical (nickname-resolved) first full forename, c1; None when there is none
    bytes,  # first_field: c1 encoded
    tuple[tuple[str, bytes], ...],  # firsts: (c, encoded) for c(F1) and, when different, c(F2)
    str,  # pre: pre(c1), its first three code points
    bytes,  # pre_field
    str,  # suf: suf(c1), its last three code points
    bytes,  # suf_field
    tuple[tuple[str, bytes], ...],  # codes: (code, encoded), forename codes of the first full forenames
    tuple[tuple[str, bytes], ...],  # first_codes: the same for the first full forename alone
    bytes | None,  # initial
    tuple[bytes, ...],  # area_heads: forename_dob_area heads (current given names only)
    bytes | None,  # dob_head: forename_dob head, c(F1) encoded after the key header
    bool,  # doe_forename: the first forename is John or Jane ("Doe" beside it is a placeholder)
]
"""The forename half of the name keys, encoded once per distinct list of given names. ``firsts``: the
forenames name_dob and name_nodate key on for the current name (someone known by their middle name);
``codes`` covers the first MAX_FORENAMES full forenames, without repeats."""

_GIVEN_DOE_FORENAME: Final = 12


_Surname: TypeAlias = tuple[
    str,  # compact
    bytes,  # compact_field
    tuple[tuple[str, bytes], ...],  # variants: (v, encoded) for every surname variant, compact first
    str,  # soundex
    bytes,  # soundex_field
    tuple[tuple[str, bytes], ...],  # variant_soundexes: non-empty Soundex of each later variant
    str,  # pre
    bytes,  # pre_field
    str,  # suf
    bytes,  # suf_field
    tuple[bytes, ...],  # area_heads: surname_dob_area head, when the surname has a Soundex code
]
"""The surname half of the name keys, encoded once per distinct surname."""


_LENGTH_PREFIX: Final = tuple(n.to_bytes(2, "big") for n in range(64))


def _field(value: str) -> bytes:
    """``field_bytes`` (length u16 big-endian, then UTF-8) with a table for the length of a short
    field, which every name part is: the halves encode a dozen fields each on a first sighting."""
    data = value.encode()
    return _LENGTH_PREFIX[len(data)] + data if 0 < len(data) < 64 else field_bytes(value)


def _coded(codes: Iterable[str]) -> tuple[tuple[str, bytes], ...]:
    return tuple((c, _field(c)) for c in dict.fromkeys(codes))


@lru_cache(maxsize=1 << 16)
def _given_half(given: tuple[str, ...]) -> _Given:
    full = [g for g in given if len(g) > 1]
    initial = _field(given[0][0]) if given else None
    doe_forename = bool(given) and given[0] in DOE_FORENAMES
    if not full:
        return (None, b"", (), "", b"", "", b"", (), (), initial, (), None, doe_forename)
    first, first_field, pre_field, suf_field = _canonical_first(full[0])
    first_codes = _forename_codes(full[0])
    firsts: tuple[tuple[str, bytes], ...] = ((first, first_field),)
    codes = first_codes
    if len(full) > 1:
        second, second_field, _, _ = _canonical_first(full[1])
        if second != first:
            firsts += ((second, second_field),)
        # (code, encoded) pairs repeat exactly when their codes do: the first of each is kept
        codes = tuple(dict.fromkeys(c for g in full[:MAX_FORENAMES] for c in _forename_codes(g)))
    return (
        first,
        first_field,
        firsts,
        first[:3],
        pre_field,
        first[-3:],
        suf_field,
        codes,
        first_codes,
        initial,
        tuple(_H_FORENAME_DOB_AREA + f for _, f in first_codes),
        _H_FORENAME_DOB + first_field,
        doe_forename,
    )


@lru_cache(maxsize=1 << 16)
def _surname_half(compact: str, variants: tuple[str, ...]) -> _Surname:
    code = soundex(compact)
    code_field = _field(code) if code else b""
    return (
        compact,
        _field(compact),
        tuple((v, _field(v)) for v in variants),
        code,
        code_field,
        _coded(c for c in map(soundex, variants[1:]) if c),
        compact[:3],
        _field(compact[:3]),
        compact[-3:],
        _field(compact[-3:]),
        (_H_SURNAME_DOB_AREA + code_field,) if code else (),
    )


@lru_cache(maxsize=1 << 16)
def _given_of(given_names: str) -> _Given:
    """The current given names' half, keyed by the raw field (one cache lookup per record)."""
    return _given_half(normalise_given_names(given_names))


@lru_cache(maxsize=1 << 16)
def _surname_of(surname: str) -> _Surname | None:
    """The current surname's half, keyed by the raw field; None when the surname is missing."""
    parsed = normalise_surname(surname)
    return None if parsed is None else _surname_half(parsed[0], parsed[2])


def _previous_halves(raw: str, given_names: str) -> tuple[_Given, _Surname] | None:
    name = normalise_previous_name(raw, given_names)
    if name is None:
        return None
    return _given_half(name.given), _surname_half(name.surname, name.surname_variants)


_Heads: TypeAlias = tuple[
    tuple[bytes, ...],  # 16 name_dob: + the full date
    tuple[bytes, ...],  # 17 phonetic_dob: + the year with unordered day and month
    tuple[bytes, ...],  # 18 initial_dob and 19 fragment_dob: + the full date
    bytes | None,  # 20 partial_dob: + each masked partial date (the dob tails' partial dates are sorted)
    tuple[bytes, ...],  # 23 phonetic_postcode: + the postcode
    tuple[bytes, ...],  # 24 surname_dob_area and 25 forename_dob_area: + unordered date and district
    tuple[bytes, ...],  # 26 name_nodate: complete keys
    bytes | None,  # 27 name_year: + the year
    tuple[bytes, ...],  # 28 surname_dob and 29 forename_dob: + the full date
    bytes | None,  # 30 name_district: + the district
]
"""The keys of one name as heads waiting for the record's tails (``head + tail``), built once per
distinct name so that a record's keys cost one concatenation each.

The fields are in key-type order and each field's heads are sorted and distinct, so the keys come
out sorted and distinct without a sort: keys sort by type first (the byte after the prefix), and
heads of one type hold the same number of length-prefixed fields, so none is a prefix of another
and ``head + tail`` sorts as ``head`` for a fixed tail.

A plain tuple, not a NamedTuple, like ``_DobTails``: the garbage collector stops tracking a plain
tuple of bytes and tuples once it has seen it, never a NamedTuple, so tens of thousands of cached
NamedTuples made the collector re-scan them in a full collection about once per 20,000 records
(1-4 us a record, 4-13% of the encoding time in bench/encoding.py's cold passes)."""


def _sorted(heads: list[bytes]) -> tuple[bytes, ...]:
    """Heads already distinct (built from distinct parts), sorted."""
    return tuple(sorted(heads)) if len(heads) > 1 else tuple(heads)


def _sorted_unique(heads: list[bytes]) -> tuple[bytes, ...]:
    """Heads that can repeat (a name pair written in code-point order, a Soundex code shared by two
    surname variants), deduplicated and sorted."""
    return tuple(sorted(set(heads))) if len(heads) > 1 else tuple(heads)


def _name_heads(g: _Given, s: _Surname | None, current: bool) -> _Heads:
    """The heads of one name: the current one (``current``: c(F1) and c(F2) for name_dob and
    name_nodate, the postcode keys, and forename_dob and forename_dob_area, which need no surname) or a
    previous one (c(F1) only, no postcode keys: a postcode is where the person is now). ``s`` None: no
    usable surname (missing, or John or Jane Doe). docs/spec.md "Match keys" states the same rules."""
    c1, c1_field, firsts, pre, pre_field, suf, suf_field, codes, first_codes, initial, g_area, g_dob, _ = g
    surname_dob: list[bytes] = [g_dob] if current and g_dob is not None else []
    area = list(g_area) if current else []
    if s is None:
        return ((), (), (), None, (), _sorted(area), (), None, _sorted(surname_dob), None)
    sur, sur_field, variants, code, code_field, variant_codes, spre, spre_field, ssuf, ssuf_field, heads = s
    area += heads[:1]
    surname_dob += [_H_SURNAME_DOB + v for _, v in variants]
    initial_dob = [] if initial is None else [_H_INITIAL_DOB + initial + sur_field]
    if c1 is None:
        return ((), (), tuple(initial_dob), None, (), _sorted(area), (), None, _sorted(surname_dob), None)
    # Below, heads of one type are gathered with plain loops and sorted inline: a first sighting of a
    # name pair runs this once, and comprehension and helper calls were a quarter of its cost.
    initial_dob.append(
        _H_FRAGMENT_DOB_PREFIX + (pre_field + spre_field if pre <= spre else spre_field + pre_field)
    )
    initial_dob.append(
        _H_FRAGMENT_DOB_SUFFIX + (suf_field + ssuf_field if suf <= ssuf else ssuf_field + suf_field)
    )
    phonetic: list[bytes] = []
    postcode: list[bytes] = []
    if code:
        for x, f in codes:
            pair = f + code_field if x <= code else code_field + f
            phonetic.append(_H_PHONETIC_DOB + pair)
            if current:
                postcode.append(_H_PHONETIC_POSTCODE + pair)
    for y, yf in variant_codes:
        for x, f in first_codes:
            phonetic.append(_H_PHONETIC_DOB + (f + yf if x <= y else yf + f))
    name_dob: list[bytes] = []
    nodate: list[bytes] = []
    for c, cf in firsts if current else firsts[:1]:
        for v, vf in variants:
            name_dob.append(_H_NAME_DOB + cf + vf)
            nodate.append(_H_NAME_NODATE + (cf + vf if c <= v else vf + cf))
    names = c1_field + sur_field if c1 <= sur else sur_field + c1_field
    name_dob.sort()
    initial_dob.sort()
    postcode.sort()
    area.sort()
    surname_dob.sort()
    return (
        tuple(name_dob),
        tuple(sorted(set(phonetic))),  # can repeat: a Soundex code shared by two surname variants
        tuple(initial_dob),
        _H_PARTIAL_DOB + names,
        tuple(postcode),
        tuple(area),
        tuple(sorted(set(nodate))),  # can repeat: a name pair is written in code-point order
        _H_NAME_YEAR + names,
        tuple(surname_dob),
        _H_NAME_DISTRICT + names if current else None,
    )


@lru_cache(maxsize=1 << 15)
def _current_heads(given_names: str, surname: str) -> _Heads:
    """The heads of a record's current name, keyed by its raw fields. Names repeat in a force's file
    (6,190 distinct pairs in the bench's 20,000 synthetic records), so this skips most of the key
    building; a miss costs about what building the keys did. 32,768 entries (about 45 MB when full):
    8,192 thrashed on a 100,000-record file (20,696 distinct pairs), costing about a fifth of the speed."""
    g = _given_of(given_names)
    s = _surname_of(surname)
    return _name_heads(g, None if s is None or (g[_GIVEN_DOE_FORENAME] and s[0] == "doe") else s, True)


@lru_cache(maxsize=1 << 14)
def _previous_heads(raw: str, given_names: str) -> _Heads | None:
    """The heads of a previous name."""
    halves = _previous_halves(raw, given_names)
    return None if halves is None else _name_heads(halves[0], halves[1], False)


def _complete(
    out: list[bytes],
    heads: _Heads,
    dob: _DobTails,
    area: bytes | None,
    postcode: bytes | None,
    district: bytes | None,
) -> None:
    """Append every key of one name, in key order: its heads completed by the record's tails."""
    append = out.append
    full, unordered, partial, year = dob
    (
        name_dob,
        phonetic_dob,
        initial_fragment,
        names,
        phonetic_postcode,
        area_heads,
        nodate,
        name_year,
        own_dob,
        name_district,
    ) = heads
    if full is not None:
        for head in name_dob:
            append(head + full)
    if unordered is not None:
        for head in phonetic_dob:
            append(head + unordered)
    if full is not None:
        for head in initial_fragment:
            append(head + full)
    if names is not None:
        for tail in partial:
            append(names + tail)
    if postcode is not None:
        for head in phonetic_postcode:
            append(head + postcode)
    if area is not None:
        for head in area_heads:
            append(head + area)
    out += nodate
    if year is not None and name_year is not None:
        append(name_year + year)
    if full is not None:
        for head in own_dob:
            append(head + full)
    if district is not None and name_district is not None:
        append(name_district + district)


def _ascii_field(value: str) -> bytes:
    """``_field`` for short ASCII strings that rarely repeat (dates, identifiers, postcodes): no cache."""
    return _LENGTH_PREFIX[len(value)] + value.encode("ascii")


_DobTails: TypeAlias = tuple[bytes | None, bytes | None, tuple[bytes, ...], bytes | None]
"""A date of birth's tails: (full date, year with unordered day and month, the masked partial dates
sorted so the keys made from them come out in order, the year alone for name_year). A plain tuple so
the garbage collector stops tracking the cached ones (see ``_Heads``)."""


_NO_DOB: Final[_DobTails] = (None, None, (), None)


_DATE_LENGTH: Final = b"\x00\x0a"
"""Length prefix of every date field: YYYY-MM-DD, YYYY-LL-HH and the masked forms are 10 characters."""


_TWO_DIGITS: Final = {f"{n:02d}": n for n in range(100)}
_YEARS: Final = {str(y): y for y in range(1000, 2200)}
"""Four-digit years a date of birth can have (``int`` for any other, which then fails the range)."""
_NUMERIC_DOB: Final = re.compile(
    r"([0-9]{4})[-/.]([0-9]{2})[-/.]([0-9]{2})|([0-9]{2})[-/.]([0-9]{2})[-/.]([0-9]{4})"
)
"""A date of birth written exactly YYYY-MM-DD or DD/MM/YYYY (either separator, ASCII digits, two-digit
day and month, nothing around it): what record files and clerks nearly always write.
``parse_date_parts`` reads it as these numbers (its first pattern that fits takes the same groups)."""


def _numeric_tails(ys: str, ms: str, ds: str, today: datetime.date) -> _DobTails:
    """``_dob_tails`` of a date matched by ``_NUMERIC_DOB``, from its year, month and day text.

    The same rules as ``parse_date_parts`` then the general path (a year from MIN_BIRTH_YEAR to
    today's, a real date not after today, day and month read either way round), without building its
    ``DateParts``: a frozen dataclass costs more than the rest, and most dates are new to the cache.
    The fields print as written (four and two digits), so the tails are made of the text; the numbers
    come from tables (``int`` is a third of the cost)."""
    y, m, d = _YEARS.get(ys) or int(ys), _TWO_DIGITS[ms], _TWO_DIGITS[ds]
    if (
        MIN_BIRTH_YEAR <= y < today.year
        and 1 <= m <= 12
        and 1 <= d <= _MAX_DAY[m]
        and (d != 29 or m != 2 or days_in_month(y, 2) == 29)
    ):
        # Nearly every date: a real date in a year before this one, so all the tests below pass (valid,
        # hence day and month unordered too; all three partial dates). The tails straight away, in the
        # same order: less than half the cost of the general branch (0.63 against 1.43 us).
        full = f"\x00\x0a{ys}-{ms}-{ds}".encode()
        return (
            full,
            full if m <= d else f"\x00\x0a{ys}-{ds}-{ms}".encode(),
            (
                f"\x00\x0a****-{ms}-{ds}".encode(),
                f"\x00\x0a{ys}-**-{ds}".encode(),
                f"\x00\x0a{ys}-{ms}-**".encode(),
            ),
            f"\x00\x04{ys}".encode(),
        )
    month_ok, day_ok = 1 <= m <= 12, 1 <= d <= 31
    masked_year = month_ok and day_ok and d <= _MAX_DAY[m]
    if not MIN_BIRTH_YEAR <= y <= today.year:  # no year: at most the year-masked partial date
        return (None, None, (f"\x00\x0a****-{ms}-{ds}".encode(),), None) if masked_year else _NO_DOB
    last = (today.year, today.month, today.day)
    valid = month_ok and 1 <= d <= days_in_month(y, m) and (y, m, d) <= last
    swapped = valid or (1 <= d <= 12 and 1 <= m <= days_in_month(y, d) and (y, d, m) <= last)
    partial: list[bytes] = []  # in byte order: "*" sorts before the digits
    if masked_year:
        partial.append(f"\x00\x0a****-{ms}-{ds}".encode())
    if day_ok:
        partial.append(f"\x00\x0a{ys}-**-{ds}".encode())
    if month_ok:
        partial.append(f"\x00\x0a{ys}-{ms}-**".encode())
    unordered = None
    if swapped:
        unordered = (f"\x00\x0a{ys}-{ms}-{ds}" if m <= d else f"\x00\x0a{ys}-{ds}-{ms}").encode()
    return (
        f"\x00\x0a{ys}-{ms}-{ds}".encode() if valid else None,
        unordered,
        tuple(partial),
        f"\x00\x04{ys}".encode(),
    )


@lru_cache(maxsize=1 << 16)
def _dob_tails(dob: str, today: datetime.date) -> _DobTails:
    """Encoded full date, year with unordered day/month, and masked partial dates of a date of birth
    (``today`` bounds the year: a birth after it is no date, so it is part of the cache key)."""
    if numeric := _NUMERIC_DOB.fullmatch(dob):
        if numeric[1]:
            return _numeric_tails(numeric[1], numeric[2], numeric[3], today)
        return _numeric_tails(numeric[6], numeric[5], numeric[4], today)
    parts = parse_date_parts(dob, today=today)
    if parts is None:
        return _NO_DOB
    y, m, d = parts.year, parts.month, parts.day
    ys = f"{y:04d}" if y is not None else ""
    ms = f"{m:02d}" if m is not None else ""
    ds = f"{d:02d}" if d is not None else ""
    full = _DATE_LENGTH + f"{ys}-{ms}-{ds}".encode() if parts.valid else None
    unordered = None
    if ys and parts.day_month_unordered is not None:
        lo, hi = parts.day_month_unordered
        unordered = _DATE_LENGTH + f"{ys}-{lo:02d}-{hi:02d}".encode()
    partial: list[bytes] = []
    if ys and ms:
        partial.append(_DATE_LENGTH + f"{ys}-{ms}-**".encode())
    if ys and ds:
        partial.append(_DATE_LENGTH + f"{ys}-**-{ds}".encode())
    if m is not None and d is not None and d <= _MAX_DAY[m]:
        partial.append(_DATE_LENGTH + f"****-{ms}-{ds}".encode())
    return (full, unordered, tuple(sorted(partial)), _ascii_field(ys) if ys else None)


_UK_POSTCODE_TEXT: Final = re.compile(
    r"\s*([A-Za-z]{1,2}[0-9][0-9A-Za-z]?)\s*([0-9][A-Za-z]{2})\s*", re.ASCII
)
"""A full UK postcode as typed (any case, spaces anywhere between): the common case, normalised
directly. It is never a placeholder, so the result is ``normalise_postcode``'s."""


_NO_POSTCODE: Final[tuple[bytes | None, bytes | None]] = (None, None)


@lru_cache(maxsize=1 << 14)
def _postcode_tails(raw: str) -> tuple[bytes | None, bytes | None]:
    """Encoded postcode and postcode district, or (None, None) when the postcode is absent."""
    if match := _UK_POSTCODE_TEXT.fullmatch(raw):
        outward = match[1].upper()
        return _ascii_field(outward + match[2].upper()), _ascii_field(outward)
    postcode = normalise_postcode(raw)
    if postcode is None:
        return _NO_POSTCODE
    return _ascii_field(postcode), _ascii_field(postcode_district(postcode))


_ID_HEADERS: Final = {kind: _header(kt, 1) for kind, kt in ID_KEY_TYPES.items()}


def _identifier_key(kind: str, value: str) -> bytes | None:
    """Not cached: identifiers are nearly unique, so a cache would only cost."""
    try:
        canonical = normalise_identifier(kind, value)
    except ValidationError:
        return None
    if canonical is None:
        return None
    return _ID_HEADERS[kind] + _ascii_field(canonical)


class _UtcToday:
    """``crossforce.clock.utc_today``, remembered until the clock's UTC day changes: a comparison of
    the clock's milliseconds instead of a ``datetime`` per record (about 2% of a record's encoding)."""

    __slots__ = ("_date", "_day")

    def __init__(self) -> None:
        self._day = -1
        self._date = _UNIX_EPOCH

    def __call__(self) -> datetime.date:
        day = now_ms() // DAY_MS
        if day != self._day:
            self._day, self._date = day, _UNIX_EPOCH + datetime.timedelta(days=day)
        return self._date


_UNIX_EPOCH: Final = datetime.date(1970, 1, 1)
_utc_today: Final = _UtcToday()


def canonical_keys(record: Record, *, today: datetime.date | None = None) -> list[bytes]:
    """The canonical bytes of every key of ``record``, deduplicated and sorted.

    Sorting the bytes sorts by key type first (its byte follows the fixed prefix), so this is the
    spec's key order; ``key[len(CANONICAL_PREFIX)]`` is each key's type. The tokeniser's hot loop.
    ``today`` (default: the clock's UTC date) is the spec's explicit input: a date of birth after it
    is no date, so two implementations agree only when they agree on it (the vectors state it).
    """
    out: list[bytes] = []
    if record.pnc_id and (key := _identifier_key("pnc_id", record.pnc_id)):
        out.append(key)
    if record.ni_number and (key := _identifier_key("ni_number", record.ni_number)):
        out.append(key)
    if record.passport_number and (key := _identifier_key("passport_number", record.passport_number)):
        out.append(key)
    if record.driving_licence and (key := _identifier_key("driving_licence", record.driving_licence)):
        out.append(key)
    dob = _dob_tails(record.date_of_birth, today or _utc_today()) if record.date_of_birth else _NO_DOB
    postcode, district = _postcode_tails(record.postcode) if record.postcode else _NO_POSTCODE
    unordered = dob[1]
    area = unordered + district if unordered is not None and district is not None else None
    given_names = record.given_names
    _complete(out, _current_heads(given_names, record.surname), dob, area, postcode, district)
    if record.previous_names:
        for raw in record.previous_names[:MAX_PREVIOUS_NAMES]:
            if heads := _previous_heads(raw, given_names):
                _complete(out, heads, dob, area, None, None)
        return sorted(set(out))  # a previous name can repeat a key of the current name
    return out  # sorted and distinct: identifiers by type (below 16), the name's keys by construction


_TYPE_AT: Final = len(CANONICAL_PREFIX)


def key_bytes(record: Record, *, today: datetime.date | None = None) -> list[tuple[int, bytes]]:
    """(key_type, canonical bytes) of every key of ``record``, in ``derive_keys`` order."""
    return [(key[_TYPE_AT], key) for key in canonical_keys(record, today=today)]


def derive_keys(record: Record, *, today: datetime.date | None = None) -> list[MatchKey]:
    """Every match key of ``record``, deduplicated, in a deterministic order (by type, then bytes).

    Lenient by design: an empty, placeholder or malformed field gives no key instead of an error (a
    force's legacy record with a garbled NI number still keys on its name), and a date of birth with
    one bad part still gives the partial-date keys. Raises ValidationError only for a field too long to
    encode. Callers that must reject bad input (a vetting query) validate the fields first with the
    strict ``parse_date`` and ``normalise_identifier``.
    """
    return [MatchKey(key[_TYPE_AT], key) for key in canonical_keys(record, today=today)]
