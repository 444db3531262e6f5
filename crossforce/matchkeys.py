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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final

from crossforce.errors import ValidationError
from crossforce.normalise import (
    IDENTIFIER_KINDS,
    NormalisedName,
    normalise_identifier,
    normalise_name,
    normalise_postcode,
    normalise_previous_name,
    parse_date_parts,
)
from crossforce.records import Record

__all__ = [
    "CANONICAL_PREFIX",
    "KEY_TYPES",
    "MAX_FORENAMES",
    "MAX_PREVIOUS_NAMES",
    "KeyType",
    "MatchKey",
    "canonical_forename",
    "decode_key",
    "derive_keys",
    "encode_key",
    "hit_strength",
    "key_bytes",
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
INITIAL_DOB: Final = 18
FRAGMENT_DOB: Final = 19
PARTIAL_DOB: Final = 20
NAME_POSTCODE: Final = 21

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
            _kt(INITIAL_DOB, "initial_dob", 1, "name", "dob"),
            _kt(FRAGMENT_DOB, "fragment_dob", 2, "name", "dob"),
            _kt(PARTIAL_DOB, "partial_dob", 1, "name", "dob"),
            _kt(NAME_POSTCODE, "name_postcode", 1, "name", "postcode"),
        )
    }
)
_ID_KEY: Final = dict(
    zip(IDENTIFIER_KINDS, (PNC_ID, NI_NUMBER, PASSPORT_NUMBER, DRIVING_LICENCE), strict=True)
)


@dataclass(frozen=True, slots=True, order=True)
class MatchKey:
    key_type: int
    canonical: bytes


# --- Canonical encoding ------------------------------------------------------------------------------

MAX_FIELD_BYTES: Final = 0xFFFF


@lru_cache(maxsize=1 << 16)
def _field(value: str) -> bytes:
    data = value.encode("utf-8")
    if not data:
        raise ValidationError("a match key field is empty", field="match_key")
    if len(data) > MAX_FIELD_BYTES:
        raise ValidationError("a match key field is too long", field="match_key")
    return struct.pack(">H", len(data)) + data


def _head(key_type: int, field_count: int, fields: Iterable[str]) -> bytes:
    return CANONICAL_PREFIX + struct.pack(">BB", key_type, field_count) + b"".join(map(_field, fields))


def encode_key(key_type: int, fields: Sequence[str]) -> bytes:
    """``cf1`` | key_type u8 | field count u8 | per field: length u16 big-endian | UTF-8 bytes.

    Length prefixes make the encoding injective: ("ab", "c") and ("a", "bc") never share bytes, and a
    key of one type can never equal a key of another. Empty or over-long fields raise ValidationError.
    """
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

_Heads = tuple[tuple[int, bytes], ...]
"""(key_type, canonical bytes of every field but the last); the last field (a date or a postcode) is
appended per record, so a name's keys are built once however many records carry it."""


@dataclass(frozen=True, slots=True)
class _NamePlan:
    full: _Heads
    """Keys completed by the full date of birth (YYYY-MM-DD)."""
    unordered: _Heads
    """Completed by year and unordered day/month (YYYY-LL-HH)."""
    partial: _Heads
    """Completed by each masked partial date."""
    postcode: _Heads
    """Completed by the postcode."""


_EMPTY_PLAN: Final = _NamePlan((), (), (), ())


@lru_cache(maxsize=256)
def _header(key_type: int, field_count: int) -> bytes:
    return CANONICAL_PREFIX + struct.pack(">BB", key_type, field_count)


@dataclass(frozen=True, slots=True)
class _Given:
    """The forename half of the name keys, encoded once per distinct set of given names."""

    first: bytes | None
    """Canonical (nickname-resolved) first full forename, encoded; None when there is none."""
    first_pre: bytes
    first_suf: bytes
    soundexes: tuple[str, ...]
    """Soundex of each canonical full forename, at most MAX_FORENAMES, empty codes kept in place."""
    initial: bytes | None


@dataclass(frozen=True, slots=True)
class _Surname:
    """The surname half of the name keys, encoded once per distinct surname."""

    compact: bytes
    variants: tuple[bytes, ...]
    soundex: str
    variant_soundexes: tuple[str, ...]
    """Soundex of each surname variant after the compact one."""
    pre: bytes | None
    suf: bytes | None
    """First and last three letters, None for a surname under three letters."""


@lru_cache(maxsize=1 << 16)
def _given_half(given: tuple[str, ...]) -> _Given:
    full = [g for g in given if len(g) > 1]
    initial = _field(given[0][0]) if given else None
    if not full:
        return _Given(None, b"", b"", (), initial)
    first = canonical_forename(full[0])
    codes = tuple(soundex(canonical_forename(g)) for g in full[:MAX_FORENAMES])
    return _Given(_field(first), _field(first[:3]), _field(first[-3:]), codes, initial)


@lru_cache(maxsize=1 << 16)
def _surname_half(compact: str, variants: tuple[str, ...]) -> _Surname:
    long_enough = len(compact) >= 3
    return _Surname(
        compact=_field(compact),
        variants=tuple(_field(v) for v in variants),
        soundex=soundex(compact),
        variant_soundexes=tuple(soundex(v) for v in variants[1:]),
        pre=_field(compact[:3]) if long_enough else None,
        suf=_field(compact[-3:]) if long_enough else None,
    )


def _phonetic(a: str, b: str) -> bytes:
    lo, hi = (a, b) if a <= b else (b, a)
    return _header(PHONETIC_DOB, 3) + _field(lo) + _field(hi)


def _plan(name: NormalisedName | None) -> _NamePlan:
    """The name half of every name key; docs/spec.md "Match keys" states the same rules."""
    if name is None:
        return _EMPTY_PLAN
    g = _given_half(name.given)
    s = _surname_half(name.surname, name.surname_variants)
    full: list[tuple[int, bytes]] = []
    unordered: list[tuple[int, bytes]] = []
    partial: tuple[tuple[int, bytes], ...] = ()
    postcode: tuple[tuple[int, bytes], ...] = ()
    if g.first is not None:
        head = _header(NAME_DOB, 3) + g.first
        full.extend((NAME_DOB, head + v) for v in s.variants)
        if s.pre is not None and s.suf is not None:
            frag = _header(FRAGMENT_DOB, 4)
            full.append((FRAGMENT_DOB, frag + _field("pp") + g.first_pre + s.pre))
            full.append((FRAGMENT_DOB, frag + _field("ps") + g.first_pre + s.suf))
            full.append((FRAGMENT_DOB, frag + _field("sp") + g.first_suf + s.pre))
            full.append((FRAGMENT_DOB, frag + _field("ss") + g.first_suf + s.suf))
        if s.soundex:
            unordered.extend((PHONETIC_DOB, _phonetic(f, s.soundex)) for f in g.soundexes if f)
        if g.soundexes[0]:
            unordered.extend((PHONETIC_DOB, _phonetic(g.soundexes[0], v)) for v in s.variant_soundexes if v)
        first_sur = g.first + s.compact
        partial = ((PARTIAL_DOB, _header(PARTIAL_DOB, 3) + first_sur),)
        postcode = ((NAME_POSTCODE, _header(NAME_POSTCODE, 3) + first_sur),)
    if g.initial is not None:
        full.append((INITIAL_DOB, _header(INITIAL_DOB, 3) + g.initial + s.compact))
    return _NamePlan(tuple(full), tuple(unordered), partial, postcode)


@lru_cache(maxsize=1 << 16)
def _current_plan(given_names: str, surname: str) -> _NamePlan:
    return _plan(normalise_name(given_names, surname))


@lru_cache(maxsize=1 << 14)
def _previous_plan(raw: str, given_names: str) -> _NamePlan:
    return _plan(normalise_previous_name(raw, given_names))


@lru_cache(maxsize=1 << 16)
def _dob_tails(dob: str) -> tuple[bytes | None, bytes | None, tuple[bytes, ...]]:
    """Encoded (full date, year + unordered day/month, masked partial dates) of a date of birth."""
    parts = parse_date_parts(dob)
    if parts is None:
        return None, None, ()
    date = parts.date()
    full = _field(date.iso()) if date is not None else None
    unordered = None
    if parts.year is not None and parts.day_month_unordered is not None:
        lo, hi = parts.day_month_unordered
        unordered = _field(f"{parts.year:04d}-{lo:02d}-{hi:02d}")
    partial: list[bytes] = []
    y, m, d = parts.year, parts.month, parts.day
    if y is not None and m is not None:
        partial.append(_field(f"{y:04d}-{m:02d}-**"))
    if y is not None and d is not None:
        partial.append(_field(f"{y:04d}-**-{d:02d}"))
    if y is not None and m is not None and d is not None and d <= _MAX_DAY[m]:
        # Year wrong: one of its last two digits (off by one, a decade misread, a typo).
        partial.append(_field(f"{y // 10:03d}*-{m:02d}-{d:02d}"))
        partial.append(_field(f"{y // 100:02d}*{y % 10}-{m:02d}-{d:02d}"))
    return full, unordered, tuple(partial)


_MAX_DAY: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=1 << 14)
def _identifier_key(kind: str, value: str) -> tuple[int, bytes] | None:
    try:
        canonical = normalise_identifier(kind, value)
    except ValidationError:
        return None
    if canonical is None:
        return None
    key_type = _ID_KEY[kind]
    return key_type, _head(key_type, 1, (canonical,))


def key_bytes(record: Record) -> list[tuple[int, bytes]]:
    """(key_type, canonical bytes) of every key of ``record``: ``derive_keys`` without the wrapper
    objects, for the tokeniser's hot loop."""
    out: list[tuple[int, bytes]] = []
    for kind in IDENTIFIER_KINDS:
        value = getattr(record, kind)
        if value:
            key = _identifier_key(kind, value)
            if key is not None:
                out.append(key)
    full, unordered, partial = _dob_tails(record.date_of_birth)
    postcode_raw = record.postcode
    postcode = normalise_postcode(postcode_raw) if postcode_raw else None
    plans = [_current_plan(record.given_names, record.surname)]
    previous = record.previous_names[:MAX_PREVIOUS_NAMES]
    plans.extend(_previous_plan(raw, record.given_names) for raw in previous)
    for i, plan in enumerate(plans):
        if full is not None:
            out.extend((kt, head + full) for kt, head in plan.full)
        if unordered is not None:
            out.extend((kt, head + unordered) for kt, head in plan.unordered)
        for tail in partial:
            out.extend((kt, head + tail) for kt, head in plan.partial)
        if postcode is not None and i == 0:
            tail = _field(postcode)
            out.extend((kt, head + tail) for kt, head in plan.postcode)
    return sorted(set(out))


def derive_keys(record: Record) -> list[MatchKey]:
    """Every match key of ``record``, deduplicated, in a deterministic order (by type, then bytes).

    Lenient by design: an empty, placeholder or malformed field gives no key instead of an error (a
    force's legacy record with a garbled NI number still keys on its name), and a date of birth with
    one bad part still gives the partial-date keys. Raises ValidationError only for a field too long to
    encode. Callers that must reject bad input (a vetting query) validate the fields first with the
    strict ``parse_date`` and ``normalise_identifier``.
    """
    return [MatchKey(kt, canonical) for kt, canonical in key_bytes(record)]


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
