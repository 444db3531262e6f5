"""Spec v1's match keys, frozen: for ``bench.quality`` to compare v1 and v2 in one run, nothing else.

The v1 key table (fixed strengths, ``fragment_postcode``, up to 8 previous names, prefix ``cf1``), its
``hit_strength`` and ``Tokeniser`` (v1 HKDF labels), copied from spec v1's modules at the commit before
spec v2 so that changing the live modules never changes these. It shares the live normalisation
(``crossforce.encoding.normalise``), so v1 keys here already ignore spec v2's placeholder names: the
bench compares the key sets, not the normalisation. No production code imports this module.

It is over 400 lines because it is a verbatim copy of spec v1's table and hot path: splitting a frozen
copy would only make it harder to compare with the commit it was taken from.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crossforce.encoding.identifiers import IDENTIFIER_KINDS
from crossforce.encoding.normalise import (
    normalise_given_names,
    normalise_identifier,
    normalise_postcode,
    normalise_previous_name,
    normalise_surname,
    parse_date_parts,
    postcode_district,
)
from crossforce.encoding.phonetic import canonical_forename, soundex
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Hash, hmac_states
from crossforce.errors import ValidationError

__all__ = [
    "CANONICAL_PREFIX",
    "KEY_TYPES",
    "KeyType",
    "Tokeniser",
    "canonical_keys",
    "hit_strength",
    "key_bytes",
]

CANONICAL_PREFIX: Final = b"cf1"
MAX_FORENAMES: Final = 3
MAX_PREVIOUS_NAMES: Final = 8
HKDF_SALT: Final = b"crossforce/v1/token-subkey-salt"
HKDF_INFO_PREFIX: Final = b"crossforce/v1/token-subkey\x00"


@dataclass(frozen=True, slots=True)
class KeyType:
    code: int
    name: str
    strength: int
    """3 strong (exact name and date, or an identifier), 2 medium (fuzzy name, full date), 1 weak
    (namesakes possible: an initial, a postcode, one name missing), 0 corroboration only: never a hit
    on its own (exact name with one date part wrong), but raises a hit it agrees with."""
    evidence: frozenset[str]
    """Source fields the key vouches for; ``hit_strength`` bumps a level when two matched keys vouch for
    different evidence (neither set contains the other)."""


def _kt(code: int, name: str, strength: int, *evidence: str) -> KeyType:
    return KeyType(code, name, strength, frozenset(evidence))


PNC_ID: Final = 1
NI_NUMBER: Final = 2
PASSPORT_NUMBER: Final = 3
DRIVING_LICENCE: Final = 4
NAME_DOB: Final = 16
PHONETIC_DOB: Final = 17
INITIAL_DOB: Final = 18
FRAGMENT_DOB: Final = 19
PARTIAL_DOB: Final = 20
# 21 (name_postcode) was withdrawn before release: fragment_postcode covers it and more.
FRAGMENT_POSTCODE: Final = 22
PHONETIC_POSTCODE: Final = 23
SURNAME_DOB_AREA: Final = 24
FORENAME_DOB_AREA: Final = 25

_FULL_NAME: Final = ("forename", "surname")
KEY_TYPES: Final[Mapping[int, KeyType]] = MappingProxyType(
    {
        kt.code: kt
        for kt in (
            _kt(PNC_ID, "pnc_id", 3, "pnc_id"),
            _kt(NI_NUMBER, "ni_number", 3, "ni_number"),
            _kt(PASSPORT_NUMBER, "passport_number", 3, "passport_number"),
            _kt(DRIVING_LICENCE, "driving_licence", 3, "driving_licence"),
            _kt(NAME_DOB, "name_dob", 3, *_FULL_NAME, "dob"),
            _kt(PHONETIC_DOB, "phonetic_dob", 2, *_FULL_NAME, "dob"),
            _kt(INITIAL_DOB, "initial_dob", 1, *_FULL_NAME, "dob"),
            _kt(FRAGMENT_DOB, "fragment_dob", 2, *_FULL_NAME, "dob"),
            _kt(PARTIAL_DOB, "partial_dob", 0, *_FULL_NAME, "dob"),
            _kt(FRAGMENT_POSTCODE, "fragment_postcode", 1, *_FULL_NAME, "postcode"),
            _kt(PHONETIC_POSTCODE, "phonetic_postcode", 1, *_FULL_NAME, "postcode"),
            _kt(SURNAME_DOB_AREA, "surname_dob_area", 1, "surname", "dob", "postcode"),
            _kt(FORENAME_DOB_AREA, "forename_dob_area", 1, "forename", "dob", "postcode"),
        )
    }
)
ID_KEY_TYPES: Final = dict(
    zip(IDENTIFIER_KINDS, (PNC_ID, NI_NUMBER, PASSPORT_NUMBER, DRIVING_LICENCE), strict=True)
)


MAX_FIELD_BYTES: Final = 0xFFFF


@lru_cache(maxsize=1 << 16)
def field_bytes(value: str) -> bytes:
    data = value.encode("utf-8")
    if not data:
        raise ValidationError("a match key field is empty", field="match_key")
    if len(data) > MAX_FIELD_BYTES:
        raise ValidationError("a match key field is too long", field="match_key")
    return struct.pack(">H", len(data)) + data


def hit_strength(key_types: Collection[int]) -> int:
    """Combined strength of the distinct key types that matched at one force: 0 means no hit.

    The strongest matched type, raised one level (at most to 3) when two matched types vouch for
    different evidence (neither's evidence set contains the other's): independent fields agreeing, a
    partial date of birth and a postcode, or a phonetic name with its date and an identifier, are much
    less likely to be a namesake. A corroboration-only type (strength 0, partial_dob) alone gives 0.
    """
    types = [KEY_TYPES[k] for k in set(key_types) if k in KEY_TYPES]
    if not types:
        return 0
    best = max(t.strength for t in types)
    evidence = {t.evidence for t in types}
    for a in evidence:
        for b in evidence:
            if not (a <= b or b <= a):
                return min(3, best + 1)
    return best


# --- Key derivation ------------------------------------------------------------------------------------
#
# Every field but the last (the date or postcode ones) depends only on the name. Its forename half is
# encoded once per distinct given names and its surname half once per distinct surname, both cached
# (most records' exact given-names-and-surname pair is new, each half seldom is); the record's date of
# birth and postcode, encoded once per record, then complete the keys by plain byte concatenation.

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
_H_FRAGMENT_POSTCODE_PREFIX: Final = _header(FRAGMENT_POSTCODE, 4) + field_bytes("p")
_H_FRAGMENT_POSTCODE_SUFFIX: Final = _header(FRAGMENT_POSTCODE, 4) + field_bytes("s")
_H_PHONETIC_POSTCODE: Final = _header(PHONETIC_POSTCODE, 3)
_H_SURNAME_DOB_AREA: Final = _header(SURNAME_DOB_AREA, 3)
_H_FORENAME_DOB_AREA: Final = _header(FORENAME_DOB_AREA, 3)


@lru_cache(maxsize=1 << 14)
def _forename_codes(forename: str) -> tuple[str, ...]:
    """Soundex of a full forename as written and of its canonical form, without repeats or empties.

    Both, because the nickname table and a misspelling each defeat the other: Jak and Jack share
    J200 only as written (the table makes Jack John), Bill and William share W450 only canonically."""
    codes = (soundex(forename), soundex(canonical_forename(forename)))
    return tuple(c for i, c in enumerate(codes) if c and c not in codes[:i])


# A pair of names is written in ascending code-point order (``a + b if a <= b else b + a`` below, on
# the encoded fields): a key on a pair does not care which box each name was written in (forename and
# surname transposed, as surname-first naming often leaves them).


class _Given(NamedTuple):
    """The forename half of the name keys, encoded once per distinct list of given names."""

    first: str | None
    """Canonical (nickname-resolved) first full forename, ``c1``; None when there is none."""
    first_field: bytes
    pre: str
    """pre(c1) and suf(c1): its first and last three code points."""
    pre_field: bytes
    suf: str
    suf_field: bytes
    codes: tuple[tuple[str, bytes], ...]
    """(code, encoded) for the forename codes of the first MAX_FORENAMES full forenames, no repeats."""
    first_codes: tuple[tuple[str, bytes], ...]
    """The same for the first full forename alone."""
    initial: bytes | None
    area_heads: tuple[bytes, ...]
    """forename_dob_area heads (current given names only; no surname needed)."""


class _Surname(NamedTuple):
    """The surname half of the name keys, encoded once per distinct surname."""

    compact: str
    compact_field: bytes
    variant_fields: tuple[bytes, ...]
    soundex: str
    soundex_field: bytes
    variant_soundexes: tuple[tuple[str, bytes], ...]
    """(code, encoded) for the non-empty Soundex of each surname variant after the compact one."""
    pre: str
    pre_field: bytes
    suf: str
    suf_field: bytes
    area_heads: tuple[bytes, ...]
    """surname_dob_area head, when the surname has a Soundex code."""


def _coded(codes: Iterable[str]) -> tuple[tuple[str, bytes], ...]:
    return tuple((c, field_bytes(c)) for c in dict.fromkeys(codes))


_NO_GIVEN: Final = _Given(None, b"", "", b"", "", b"", (), (), None, ())


@lru_cache(maxsize=1 << 16)
def _given_half(given: tuple[str, ...]) -> _Given:
    full = [g for g in given if len(g) > 1]
    initial = field_bytes(given[0][0]) if given else None
    if not full:
        return _NO_GIVEN._replace(initial=initial)
    first = canonical_forename(full[0])
    first_codes = _coded(_forename_codes(full[0]))
    return _Given(
        first=first,
        first_field=field_bytes(first),
        pre=first[:3],
        pre_field=field_bytes(first[:3]),
        suf=first[-3:],
        suf_field=field_bytes(first[-3:]),
        codes=_coded(c for g in full[:MAX_FORENAMES] for c in _forename_codes(g)),
        first_codes=first_codes,
        initial=initial,
        area_heads=tuple(_H_FORENAME_DOB_AREA + f for _, f in first_codes),
    )


@lru_cache(maxsize=1 << 16)
def _surname_half(compact: str, variants: tuple[str, ...]) -> _Surname:
    code = soundex(compact)
    code_field = field_bytes(code) if code else b""
    return _Surname(
        compact=compact,
        compact_field=field_bytes(compact),
        variant_fields=tuple(field_bytes(v) for v in variants),
        soundex=code,
        soundex_field=code_field,
        variant_soundexes=_coded(c for c in map(soundex, variants[1:]) if c),
        pre=compact[:3],
        pre_field=field_bytes(compact[:3]),
        suf=compact[-3:],
        suf_field=field_bytes(compact[-3:]),
        area_heads=(_H_SURNAME_DOB_AREA + code_field,) if code else (),
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


@lru_cache(maxsize=1 << 14)
def _previous_halves(raw: str, given_names: str) -> tuple[_Given, _Surname] | None:
    name = normalise_previous_name(raw, given_names)
    if name is None:
        return None
    return _given_half(name.given), _surname_half(name.surname, name.surname_variants)


def _name_keys(
    out: list[bytes],
    g: _Given,
    s: _Surname,
    full: bytes | None,
    unordered: bytes | None,
    partial: tuple[bytes, ...],
    area: bytes | None,
    postcode: bytes | None,
) -> None:
    """Append the keys of one name (given and surname halves) completed by the record's tails; the
    postcode keys only for the current name. docs/spec.md "Match keys" states the same rules."""
    c1, c1_field, pre, pre_field, suf, suf_field, codes, first_codes, initial, _ = g
    (
        sur,
        sur_field,
        variant_fields,
        code,
        code_field,
        variant_codes,
        spre,
        spre_field,
        ssuf,
        ssuf_field,
        heads,
    ) = s
    if area is not None and heads:
        out.append(heads[0] + area)
    if full is not None and initial is not None:
        out.append(_H_INITIAL_DOB + initial + sur_field + full)
    if c1 is None:
        return
    # Pairs of names in ascending code-point order, encoded once for the keys below.
    pres = pre_field + spre_field if pre <= spre else spre_field + pre_field
    sufs = suf_field + ssuf_field if suf <= ssuf else ssuf_field + suf_field
    if full is not None:
        out += [_H_NAME_DOB + c1_field + v + full for v in variant_fields]
        out.append(_H_FRAGMENT_DOB_PREFIX + pres + full)
        out.append(_H_FRAGMENT_DOB_SUFFIX + sufs + full)
    if unordered is not None:
        if code:
            out += [
                _H_PHONETIC_DOB + (f + code_field if x <= code else code_field + f) + unordered
                for x, f in codes
            ]
        for y, yf in variant_codes:
            out += [_H_PHONETIC_DOB + (f + yf if x <= y else yf + f) + unordered for x, f in first_codes]
    if partial:
        head = _H_PARTIAL_DOB + (c1_field + sur_field if c1 <= sur else sur_field + c1_field)
        out += [head + tail for tail in partial]
    if postcode is not None:
        out.append(_H_FRAGMENT_POSTCODE_PREFIX + pres + postcode)
        out.append(_H_FRAGMENT_POSTCODE_SUFFIX + sufs + postcode)
        if code:
            out += [
                _H_PHONETIC_POSTCODE + (f + code_field if x <= code else code_field + f) + postcode
                for x, f in codes
            ]


_LENGTH_PREFIX: Final = tuple(n.to_bytes(2, "big") for n in range(64))


def _ascii_field(value: str) -> bytes:
    """``_field`` for short ASCII strings that rarely repeat (dates, identifiers, postcodes): no cache."""
    return _LENGTH_PREFIX[len(value)] + value.encode("ascii")


class _DobTails(NamedTuple):
    full: bytes | None
    unordered: bytes | None
    partial: tuple[bytes, ...]


_NO_DOB: Final = _DobTails(None, None, ())


_DATE_LENGTH: Final = b"\x00\x0a"
"""Length prefix of every date field: YYYY-MM-DD, YYYY-LL-HH and the masked forms are 10 characters."""


@lru_cache(maxsize=1 << 16)
def _dob_tails(dob: str) -> _DobTails:
    """Encoded full date, year with unordered day/month, and masked partial dates of a date of birth."""
    parts = parse_date_parts(dob)
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
    return _DobTails(full, unordered, tuple(partial))


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


def canonical_keys(record: Record) -> list[bytes]:
    """The canonical bytes of every key of ``record``, deduplicated and sorted.

    Sorting the bytes sorts by key type first (its byte follows the fixed prefix), so this is the
    spec's key order; ``key[len(CANONICAL_PREFIX)]`` is each key's type. The tokeniser's hot loop.
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
    dob = record.date_of_birth
    full, unordered, partial = _dob_tails(dob) if dob else _NO_DOB
    postcode, district = _postcode_tails(record.postcode) if record.postcode else _NO_POSTCODE
    area = unordered + district if unordered is not None and district is not None else None
    given_names = record.given_names
    g = _given_of(given_names)
    s = _surname_of(record.surname)
    if s is not None:
        _name_keys(out, g, s, full, unordered, partial, area, postcode)
    if area is not None:
        out += [head + area for head in g.area_heads]
    if record.previous_names:
        for raw in record.previous_names[:MAX_PREVIOUS_NAMES]:
            if halves := _previous_halves(raw, given_names):
                _name_keys(out, halves[0], halves[1], full, unordered, partial, area, None)
    out = list(set(out))
    out.sort()
    return out


_TYPE_AT: Final = len(CANONICAL_PREFIX)


def key_bytes(record: Record) -> list[tuple[int, bytes]]:
    """(key_type, canonical bytes) of every key of ``record``, in ``derive_keys`` order."""
    return [(key[_TYPE_AT], key) for key in canonical_keys(record)]


class Tokeniser:
    """Spec v1 tokens: HMAC-SHA256 under v1 subkeys (v1 HKDF labels) of the v1 canonical keys."""

    def __init__(self, *, secret: bytes, epoch: int) -> None:
        self._inner: dict[int, Callable[[], Hash]] = {}
        self._outer: dict[int, Callable[[], Hash]] = {}
        for kt in KEY_TYPES:
            info = HKDF_INFO_PREFIX + struct.pack(">BI", kt, epoch)
            subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=info).derive(secret)
            inner, outer = hmac_states(subkey)
            self._inner[kt], self._outer[kt] = inner.copy, outer.copy

    def record_tokens(self, record: Record) -> list[tuple[int, bytes]]:
        """(key_type, token) for every v1 key of ``record``, in key order."""
        out: list[tuple[int, bytes]] = []
        for key_type, canonical in key_bytes(record):
            h = self._inner[key_type]()
            h.update(canonical)
            o = self._outer[key_type]()
            o.update(h.digest())
            out.append((key_type, o.digest()))
        return out
