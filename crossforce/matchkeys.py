"""Match keys: the second half of the Encode step (docs/spec.md, "Match keys", "Canonical encoding").

A record becomes several deterministic keys, each built so that one common way nominal data goes wrong
(a nickname, a typo, a swapped day and month, a married name, a dropped particle) still leaves at least
one key equal between two records of the same person, while keys stay specific enough that namesakes
rarely collide among tens of millions of records. Every key is later a 32-byte token and about 40 bits
in every index, so the list is deliberately short: about a dozen keys for an ordinary record.

Codes and field layouts are part of the published spec; never renumber or reuse a code.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final

from crossforce.normalise import (
    IDENTIFIER_KINDS,
    DateParts,
    NormalisedName,
    normalise_identifier,
    normalise_name,
    normalise_postcode,
    normalise_previous_name,
    parse_date_parts,
)
from crossforce.errors import ValidationError
from crossforce.records import Record

__all__ = [
    "CANONICAL_PREFIX",
    "KEY_TYPES",
    "MAX_FORENAMES",
    "MAX_PREVIOUS_NAMES",
    "KeyType",
    "MatchKey",
    "canonical_forename",
    "derive_keys",
    "encode_key",
    "hit_strength",
    "soundex",
]

CANONICAL_PREFIX: Final = b"cf1"
"""Spec version 1 domain tag at the start of every key's canonical bytes."""

MAX_FORENAMES: Final = 3
"""Given names that each get a phonetic key; a fourth forename is almost never the one a person uses."""
MAX_PREVIOUS_NAMES: Final = 8
"""Previous names keyed per record; bounds tokens per candidate (Limits.max_tokens_per_candidate)."""


@dataclass(frozen=True, slots=True)
class KeyType:
    code: int
    name: str
    strength: int
    """1 weak (namesakes common: partial date, initial, postcode), 2 medium (fuzzy name, full date),
    3 strong (exact name and date, or an identifier)."""
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
SWAPPED_DOB: Final = 18
INITIAL_DOB: Final = 19
FRAGMENT_DOB: Final = 20
PARTIAL_DOB: Final = 21
NAME_POSTCODE: Final = 22

KEY_TYPES: Final[Mapping[int, KeyType]] = MappingProxyType(
    {
        kt.code: kt
        for kt in (
            _kt(PNC_ID, "pnc_id", 3, "pnc_id"),
            _kt(NI_NUMBER, "ni_number", 3, "ni_number"),
            _kt(PASSPORT_NUMBER, "passport_number", 3, "passport_number"),
            _kt(DRIVING_LICENCE, "driving_licence", 3, "driving_licence"),
            _kt(NAME_DOB, "name_dob", 3, "name", "dob"),
            _kt(PHONETIC_DOB, "phonetic_dob", 2, "name", "dob"),
            _kt(SWAPPED_DOB, "swapped_dob", 2, "name", "dob"),
            _kt(INITIAL_DOB, "initial_dob", 1, "name", "dob"),
            _kt(FRAGMENT_DOB, "fragment_dob", 1, "name", "dob"),
            _kt(PARTIAL_DOB, "partial_dob", 1, "name", "dob"),
            _kt(NAME_POSTCODE, "name_postcode", 1, "name", "postcode"),
        )
    }
)
_ID_KEY: Final = dict(zip(IDENTIFIER_KINDS, (PNC_ID, NI_NUMBER, PASSPORT_NUMBER, DRIVING_LICENCE), strict=True))


@dataclass(frozen=True, slots=True, order=True)
class MatchKey:
    key_type: int
    canonical: bytes


# --- Canonical encoding ------------------------------------------------------------------------------


def encode_key(key_type: int, fields: Iterable[str]) -> bytes:
    """``cf1`` | key_type u8 | field count u8 | per field: length u16 big-endian | UTF-8 bytes.

    Length prefixes make the encoding injective: ("ab", "c") and ("a", "bc") never share bytes, and a
    key of one type can never equal a key of another.
    """
    encoded = [f.encode("utf-8") for f in fields]
    if not encoded or any(not e for e in encoded):
        raise ValidationError("a match key field is empty", field="match_key")
    out = bytearray(CANONICAL_PREFIX)
    out += struct.pack(">BB", key_type, len(encoded))
    for e in encoded:
        out += struct.pack(">H", len(e))
        out += e
    return bytes(out)


# --- Phonetic code and nickname table ------------------------------------------------------------------

_SOUNDEX_CODES: Final = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
    **dict.fromkeys("aeiouy", ""),
}


@lru_cache(maxsize=1 << 16)
def soundex(word: str) -> str:
    """American Soundex (US National Archives rules, H and W transparent) of the a-z letters of ``word``.

    Returns "" when ``word`` has no a-z letter. Chosen over NYSIIS and Metaphone because typos, the
    commonest error in keyed records, keep the Soundex code about twice as often, and keys that use it
    also carry a full date of birth, so its coarser codes cost little precision.
    """
    letters = [c for c in word if "a" <= c <= "z"]
    if not letters:
        return ""
    first = letters[0]
    out = [first.upper()]
    last = _SOUNDEX_CODES.get(first, "")
    for c in letters[1:]:
        if c in "hw":
            continue
        code = _SOUNDEX_CODES[c]
        if code and code != last:
            out.append(code)
            if len(out) == 4:
                break
        last = code
    return "".join(out).ljust(4, "0")


def _load_nicknames() -> Mapping[str, str]:
    table: dict[str, str] = {}
    text = resources.files("crossforce.data").joinpath("nicknames.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            variant, canonical = line.split("\t")
            table[variant] = canonical
    return MappingProxyType(table)


_NICKNAMES: Final = _load_nicknames()


def canonical_forename(name: str) -> str:
    """The nickname table's canonical form of a folded forename (Bill, Billy, Will -> william)."""
    return _NICKNAMES.get(name, name)


# --- Key derivation ------------------------------------------------------------------------------------


def _dob_fields(parts: DateParts | None) -> tuple[str | None, str | None, list[str]]:
    """(full date, year + unordered day/month, masked partial dates) of a date of birth."""
    if parts is None:
        return None, None, []
    full = None
    date = parts.date()
    if date is not None:
        full = date.iso()
    swapped = None
    if parts.year is not None and parts.day_month_unordered is not None:
        lo, hi = parts.day_month_unordered
        swapped = f"{parts.year:04d}-{lo:02d}-{hi:02d}"
    partial: list[str] = []
    y, m, d = parts.year, parts.month, parts.day
    if y is not None and m is not None:
        partial.append(f"{y:04d}-{m:02d}-**")
    if y is not None and d is not None:
        partial.append(f"{y:04d}-**-{d:02d}")
    if m is not None and d is not None and d <= (29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31):
        partial.append(f"****-{m:02d}-{d:02d}")
    return full, swapped, partial


def _name_keys(
    name: NormalisedName, full: str | None, swapped: str | None, partial: list[str], postcode: str | None
) -> list[tuple[int, tuple[str, ...]]]:
    out: list[tuple[int, tuple[str, ...]]] = []
    forenames = name.full_forenames
    first = forenames[0] if forenames else None
    canon_first = canonical_forename(first) if first else None
    initial = name.given[0][0] if name.given else None
    sur = name.surname
    sdx_sur = [c for c in (soundex(v) for v in name.surname_variants) if c]
    sdx_first = soundex(canon_first) if canon_first else ""
    if full is not None:
        if canon_first:
            out.extend((NAME_DOB, (canon_first, v, full)) for v in name.surname_variants)
        sdx_fore = [c for c in (soundex(canonical_forename(g)) for g in forenames[:MAX_FORENAMES]) if c]
        if sdx_sur:
            out.extend((PHONETIC_DOB, (f, sdx_sur[0], full)) for f in sdx_fore)
            if sdx_first:
                out.extend((PHONETIC_DOB, (sdx_first, s, full)) for s in sdx_sur[1:])
        if initial and sdx_sur:
            out.append((INITIAL_DOB, (initial, sdx_sur[0], full)))
        if canon_first and len(sur) >= 3:
            out.append((FRAGMENT_DOB, ("<", canon_first[:3], sur[:3], full)))
            out.append((FRAGMENT_DOB, (">", canon_first[-3:], sur[-3:], full)))
    if swapped is not None and sdx_first and sdx_sur:
        lo, hi = sorted((sdx_first, sdx_sur[0]))
        out.append((SWAPPED_DOB, (lo, hi, swapped)))
    if canon_first:
        out.extend((PARTIAL_DOB, (canon_first, sur, p)) for p in partial)
        if postcode is not None:
            out.append((NAME_POSTCODE, (canon_first, sur, postcode)))
    return out


def derive_keys(record: Record) -> list[MatchKey]:
    """Every match key of ``record``, deduplicated, in a deterministic order (by type, then bytes).

    Never raises on bad data: a field that is empty, a placeholder or malformed gives no key (a force's
    legacy record with a garbled NI number still keys on its name), and a date with one bad part still
    gives the partial-date keys. Callers wanting to reject bad input call ``validate_record`` first.
    """
    fields: list[tuple[int, tuple[str, ...]]] = []
    for kind in IDENTIFIER_KINDS:
        try:
            value = normalise_identifier(kind, getattr(record, kind))
        except ValidationError:
            value = None
        if value is not None:
            fields.append((_ID_KEY[kind], (value,)))
    full, swapped, partial = _dob_fields(parse_date_parts(record.date_of_birth))
    postcode = normalise_postcode(record.postcode)
    names: list[NormalisedName] = []
    current = normalise_name(record.given_names, record.surname)
    if current is not None:
        names.append(current)
    for raw in record.previous_names[:MAX_PREVIOUS_NAMES]:
        previous = normalise_previous_name(raw, record.given_names)
        if previous is not None and previous not in names:
            names.append(previous)
    for name in names:
        fields.extend(_name_keys(name, full, swapped, partial, postcode if name is current else None))
    keys = {MatchKey(kt, encode_key(kt, f)) for kt, f in fields}
    return sorted(keys)


def hit_strength(key_types: Collection[int]) -> int:
    """Combined strength of the distinct key types that matched at one force: 0 if none.

    The strongest matched type, raised one level (at most to 3) when two matched types vouch for
    different evidence, e.g. a partial date of birth and a postcode, or a phonetic name with its date
    and an identifier: independent fields agreeing are much less likely to be a namesake.
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
