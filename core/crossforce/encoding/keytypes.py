"""Key types and their canonical encoding (docs/spec.md, "Match keys", "Canonical encoding").

The table of key types (code, name, the field agreement each stands for, its quota weight and how many
keys of it one record can have) and the injective byte encoding every key is hashed from. Codes and
field layouts are part of the published spec; never renumber or reuse a code.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from crossforce.encoding.identifiers import IDENTIFIER_KINDS
from crossforce.encoding.normalise import MAX_SURNAME_VARIANTS
from crossforce.errors import ValidationError

CANONICAL_PREFIX: Final = b"cf2"
"""Spec version domain tag at the start of every key's canonical bytes: no v2 key equals a v1 key."""

MAX_FORENAMES: Final = 3
"""Given names that each get phonetic keys; a fourth forename is almost never the one a person uses."""
MAX_PREVIOUS_NAMES: Final = 4
"""Previous names keyed per record (8 in spec v1, never justified by data): every previous name widens
what one candidate may probe, so it bounds ``KeyType.max_per_record`` and the matcher's per-type limits."""


@dataclass(frozen=True, slots=True)
class KeyType:
    code: int
    name: str
    strength: int
    """Spec v1's fixed strength, kept only until every caller scores with ``crossforce.scoring`` (spec v2
    has no fixed strengths: a hit's probability comes from which fields agree and how common the name is)."""
    evidence: frozenset[str]
    """Spec v1's evidence set (see ``strength``)."""
    agrees: Mapping[str, str]
    """What a token of this type agreeing says about each record field (spec v2, "Scoring"): field ->
    level, for the fields ``forename`` (exact, phonetic, fragment, initial), ``surname`` (exact, phonetic,
    fragment), ``dob`` (full, unordered, partial, year), ``location`` (postcode, district) and ``id``
    (exact). A field not named is not vouched for."""
    date_span: int
    """Quota weight (spec v2, "Limits"): how many dates of birth one token of this type can agree with
    for a fixed name: 1 for a full date, 2 for an unordered day and month, 100 for a date with one part
    left out (at most a century of years), 366 for a year alone; 1 for keys without a date. A check is
    charged the sum over its tokens, so learning a person's date of birth by guessing costs at least
    one unit per date ruled out, whichever keys the guesses use (issue 15)."""
    max_per_record: int
    """Most distinct keys of this type one record can have (spec v2, "Limits"): reached by a record with
    ``MAX_FORENAMES`` forenames, ``MAX_SURNAME_VARIANTS`` surname variants with distinct Soundex codes and
    ``MAX_PREVIOUS_NAMES`` previous names. The matcher refuses a candidate with more, so a check cannot
    carry a list of guesses dressed as one person (``Limits.max_tokens_per_type``)."""


def _kt(
    code: int, name: str, strength: int, evidence: tuple[str, ...], span: int, most: int, **agrees: str
) -> KeyType:
    return KeyType(code, name, strength, frozenset(evidence), MappingProxyType(agrees), span, most)


_NAMES: Final = 1 + MAX_PREVIOUS_NAMES
"""Names keyed per record: the current one and each previous one."""
_FIRST_TWO_X_VARIANTS: Final = 2 * MAX_SURNAME_VARIANTS + MAX_PREVIOUS_NAMES * MAX_SURNAME_VARIANTS
"""name_dob and name_nodate: c(F1) and c(F2) of the current name, c(F1) of each previous one, each with
every surname variant."""
_PHONETIC_PAIRS: Final = 2 * MAX_FORENAMES + 2 * (MAX_SURNAME_VARIANTS - 1)
"""phonetic_dob per name: two codes (as written, canonical) per forename with the surname's code, and the
first forename's two codes with each other variant's code."""


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
# 22 (fragment_postcode) was withdrawn in spec v2: a postcode disagrees in 30-53% of linked records
#    (moves), so postcode keys corroborate; name_nodate and name_district carry the records without a date.
PHONETIC_POSTCODE: Final = 23
SURNAME_DOB_AREA: Final = 24
FORENAME_DOB_AREA: Final = 25
NAME_NODATE: Final = 26
NAME_YEAR: Final = 27
SURNAME_DOB: Final = 28
FORENAME_DOB: Final = 29
NAME_DISTRICT: Final = 30

_FULL_NAME: Final = ("forename", "surname")
_NAME: Final = {"forename": "exact", "surname": "exact"}
KEY_TYPES: Final[Mapping[int, KeyType]] = MappingProxyType(
    {
        kt.code: kt
        for kt in (
            _kt(PNC_ID, "pnc_id", 3, ("pnc_id",), 1, 1, id="exact"),
            _kt(NI_NUMBER, "ni_number", 3, ("ni_number",), 1, 1, id="exact"),
            _kt(PASSPORT_NUMBER, "passport_number", 3, ("passport_number",), 1, 1, id="exact"),
            _kt(DRIVING_LICENCE, "driving_licence", 3, ("driving_licence",), 1, 1, id="exact"),
            _kt(NAME_DOB, "name_dob", 3, (*_FULL_NAME, "dob"), 1, _FIRST_TWO_X_VARIANTS, **_NAME, dob="full"),
            _kt(
                PHONETIC_DOB,
                "phonetic_dob",
                2,
                (*_FULL_NAME, "dob"),
                2,
                _NAMES * _PHONETIC_PAIRS,
                forename="phonetic",
                surname="phonetic",
                dob="unordered",
            ),
            _kt(
                INITIAL_DOB,
                "initial_dob",
                1,
                (*_FULL_NAME, "dob"),
                1,
                _NAMES,
                forename="initial",
                surname="exact",
                dob="full",
            ),
            _kt(
                FRAGMENT_DOB,
                "fragment_dob",
                2,
                (*_FULL_NAME, "dob"),
                1,
                2 * _NAMES,
                forename="fragment",
                surname="fragment",
                dob="full",
            ),
            _kt(PARTIAL_DOB, "partial_dob", 0, (*_FULL_NAME, "dob"), 100, 3 * _NAMES, **_NAME, dob="partial"),
            _kt(
                PHONETIC_POSTCODE,
                "phonetic_postcode",
                1,
                (*_FULL_NAME, "postcode"),
                1,
                2 * MAX_FORENAMES,
                forename="phonetic",
                surname="phonetic",
                location="postcode",
            ),
            _kt(
                SURNAME_DOB_AREA,
                "surname_dob_area",
                1,
                ("surname", "dob", "postcode"),
                2,
                _NAMES,
                surname="phonetic",
                dob="unordered",
                location="district",
            ),
            _kt(
                FORENAME_DOB_AREA,
                "forename_dob_area",
                1,
                ("forename", "dob", "postcode"),
                2,
                2,
                forename="phonetic",
                dob="unordered",
                location="district",
            ),
            _kt(NAME_NODATE, "name_nodate", 1, _FULL_NAME, 1, _FIRST_TWO_X_VARIANTS, **_NAME),
            _kt(NAME_YEAR, "name_year", 1, (*_FULL_NAME, "dob"), 366, _NAMES, **_NAME, dob="year"),
            _kt(
                SURNAME_DOB,
                "surname_dob",
                1,
                ("surname", "dob"),
                1,
                _NAMES * MAX_SURNAME_VARIANTS,
                surname="exact",
                dob="full",
            ),
            _kt(FORENAME_DOB, "forename_dob", 1, ("forename", "dob"), 1, 1, forename="exact", dob="full"),
            _kt(
                NAME_DISTRICT,
                "name_district",
                1,
                (*_FULL_NAME, "postcode"),
                1,
                1,
                **_NAME,
                location="district",
            ),
        )
    }
)
ID_KEY_TYPES: Final = dict(
    zip(IDENTIFIER_KINDS, (PNC_ID, NI_NUMBER, PASSPORT_NUMBER, DRIVING_LICENCE), strict=True)
)


@dataclass(frozen=True, slots=True, order=True)
class MatchKey:
    key_type: int
    canonical: bytes


# --- Canonical encoding ------------------------------------------------------------------------------

MAX_FIELD_BYTES: Final = 0xFFFF


@lru_cache(maxsize=1 << 16)
def field_bytes(value: str) -> bytes:
    data = value.encode("utf-8")
    if not data:
        raise ValidationError("a match key field is empty", field="match_key")
    if len(data) > MAX_FIELD_BYTES:
        raise ValidationError("a match key field is too long", field="match_key")
    return struct.pack(">H", len(data)) + data


def _head(key_type: int, field_count: int, fields: Iterable[str]) -> bytes:
    return CANONICAL_PREFIX + struct.pack(">BB", key_type, field_count) + b"".join(map(field_bytes, fields))


def encode_key(key_type: int, fields: Sequence[str]) -> bytes:
    """``cf2`` | key_type u8 | field count u8 | per field: length u16 big-endian | UTF-8 bytes.

    Length prefixes make the encoding injective: ("ab", "c") and ("a", "bc") never share bytes, and a
    key of one type can never equal a key of another. Empty or over-long fields raise ValidationError.
    """
    if not 0 <= key_type <= 0xFF or not 0 < len(fields) <= 0xFF:
        raise ValidationError("key type or field count out of range", field="match_key")
    return _head(key_type, len(fields), fields)


def decode_key(canonical: bytes) -> tuple[int, tuple[str, ...]]:
    """Inverse of ``encode_key``: (key_type, fields). For tests, vectors and debugging at a force."""
    if not canonical.startswith(CANONICAL_PREFIX) or len(canonical) < len(CANONICAL_PREFIX) + 2:
        raise ValidationError("not a canonical match key", field="match_key")
    pos = len(CANONICAL_PREFIX)
    key_type, count = canonical[pos], canonical[pos + 1]
    pos += 2
    fields: list[str] = []
    for _ in range(count):
        if pos + 2 > len(canonical):
            raise ValidationError("truncated match key", field="match_key")
        (size,) = struct.unpack_from(">H", canonical, pos)
        pos += 2
        if pos + size > len(canonical):
            raise ValidationError("truncated match key", field="match_key")
        try:
            fields.append(canonical[pos : pos + size].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValidationError("match key field is not UTF-8", field="match_key") from exc
        pos += size
    if pos != len(canonical):
        raise ValidationError("trailing bytes after match key", field="match_key")
    return key_type, tuple(fields)


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
