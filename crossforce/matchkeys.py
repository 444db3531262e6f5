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
from typing import Final, NamedTuple

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


class _NamePlan(NamedTuple):
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


@lru_cache(maxsize=1 << 16)
def _first_forename_plan(
    first: bytes | None,
    first_pre: bytes,
    first_suf: bytes,
    sdx_first: str,
    initial: bytes | None,
    s: _Surname,
) -> _NamePlan:
    """Keys from the first forename, initial and surname: shared by everyone of that name whatever
    their middle names, so cached apart from them."""
    full: list[tuple[int, bytes]] = []
    unordered: tuple[tuple[int, bytes], ...] = ()
    partial: tuple[tuple[int, bytes], ...] = ()
    postcode: tuple[tuple[int, bytes], ...] = ()
    if first is not None:
        head = _header(NAME_DOB, 3) + first
        full.extend((NAME_DOB, head + v) for v in s.variants)
        if s.pre is not None and s.suf is not None:
            frag = _header(FRAGMENT_DOB, 4)
            full.append((FRAGMENT_DOB, frag + _field("pp") + first_pre + s.pre))
            full.append((FRAGMENT_DOB, frag + _field("ps") + first_pre + s.suf))
            full.append((FRAGMENT_DOB, frag + _field("sp") + first_suf + s.pre))
            full.append((FRAGMENT_DOB, frag + _field("ss") + first_suf + s.suf))
        if sdx_first:
            pairs = ([s.soundex] if s.soundex else []) + [v for v in s.variant_soundexes if v]
            unordered = tuple((PHONETIC_DOB, _phonetic(sdx_first, v)) for v in pairs)
        first_sur = first + s.compact
        partial = ((PARTIAL_DOB, _header(PARTIAL_DOB, 3) + first_sur),)
        postcode = ((NAME_POSTCODE, _header(NAME_POSTCODE, 3) + first_sur),)
    if initial is not None:
        full.append((INITIAL_DOB, _header(INITIAL_DOB, 3) + initial + s.compact))
    return _NamePlan(tuple(full), unordered, partial, postcode)


def _plan(name: NormalisedName | None) -> _NamePlan:
    """The name half of every name key; docs/spec.md "Match keys" states the same rules."""
    if name is None:
        return _EMPTY_PLAN
    g = _given_half(name.given)
    s = _surname_half(name.surname, name.surname_variants)
    sdx_first = g.soundexes[0] if g.soundexes else ""
    plan = _first_forename_plan(g.first, g.first_pre, g.first_suf, sdx_first, g.initial, s)
    if len(g.soundexes) < 2 or not s.soundex:
        return plan
    others = tuple((PHONETIC_DOB, _phonetic(f, s.soundex)) for f in g.soundexes[1:] if f)
    return _NamePlan(plan.full, plan.unordered + others, plan.partial, plan.postcode)


@lru_cache(maxsize=1 << 16)
def _current_plan(given_names: str, surname: str) -> _NamePlan:
    return _plan(normalise_name(given_names, surname))


@lru_cache(maxsize=1 << 14)
def _previous_plan(raw: str, given_names: str) -> _NamePlan:
    return _plan(normalise_previous_name(raw, given_names))


def _ascii_field(value: str) -> bytes:
    """``_field`` for short ASCII strings that rarely repeat (dates, identifiers): no cache."""
    return struct.pack(">H", len(value)) + value.encode("ascii")


@lru_cache(maxsize=1 << 16)
def _dob_tails(dob: str) -> tuple[bytes | None, bytes | None, tuple[bytes, ...]]:
    """Encoded (full date, year + unordered day/month, masked partial dates) of a date of birth."""
    parts = parse_date_parts(dob)
    if parts is None:
        return None, None, ()
    y, m, d = parts.year, parts.month, parts.day
    ys = f"{y:04d}" if y is not None else ""
    ms = f"{m:02d}" if m is not None else ""
    ds = f"{d:02d}" if d is not None else ""
    full = _ascii_field(f"{ys}-{ms}-{ds}") if parts.valid else None
    unordered = None
    if y is not None and parts.day_month_unordered is not None:
        lo, hi = parts.day_month_unordered
        unordered = _ascii_field(f"{ys}-{lo:02d}-{hi:02d}")
    partial: list[bytes] = []
    if ys and ms:
        partial.append(_ascii_field(f"{ys}-{ms}-**"))
    if ys and ds:
        partial.append(_ascii_field(f"{ys}-**-{ds}"))
    if ys and ms and ds and d is not None and m is not None and d <= _MAX_DAY[m]:
        # Year wrong: one of its last two digits (off by one, a decade misread, a typo).
        partial.append(_ascii_field(f"{ys[:3]}*-{ms}-{ds}"))
        partial.append(_ascii_field(f"{ys[:2]}*{ys[3]}-{ms}-{ds}"))
    return full, unordered, tuple(partial)


_MAX_DAY: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ID_HEADERS: Final = {kind: CANONICAL_PREFIX + struct.pack(">BB", kt, 1) for kind, kt in _ID_KEY.items()}


def _identifier_key(kind: str, value: str) -> tuple[int, bytes] | None:
    """Not cached: identifiers are nearly unique, so a cache would only cost."""
    try:
        canonical = normalise_identifier(kind, value)
    except ValidationError:
        return None
    if canonical is None:
        return None
    return _ID_KEY[kind], _ID_HEADERS[kind] + _ascii_field(canonical)


def key_bytes(record: Record) -> list[tuple[int, bytes]]:
    """(key_type, canonical bytes) of every key of ``record``: ``derive_keys`` without the wrapper
    objects, for the tokeniser's hot loop."""
    out: list[tuple[int, bytes]] = []
    for kind, value in (
        ("pnc_id", record.pnc_id),
        ("ni_number", record.ni_number),
        ("passport_number", record.passport_number),
        ("driving_licence", record.driving_licence),
    ):
        if value:
            key = _identifier_key(kind, value)
            if key is not None:
                out.append(key)
    full, unordered, partial = _dob_tails(record.date_of_birth)
    postcode_raw = record.postcode
    postcode = normalise_postcode(postcode_raw) if postcode_raw else None
    plans = [_current_plan(record.given_names, record.surname)]
    if record.previous_names:
        given = record.given_names
        plans.extend(_previous_plan(raw, given) for raw in record.previous_names[:MAX_PREVIOUS_NAMES])
    first = True
    for plan in plans:
        if full is not None:
            out += [(kt, head + full) for kt, head in plan.full]
        if unordered is not None:
            out += [(kt, head + unordered) for kt, head in plan.unordered]
        for tail in partial:
            out += [(kt, head + tail) for kt, head in plan.partial]
        if postcode is not None and first:
            tail = _ascii_field(postcode)
            out += [(kt, head + tail) for kt, head in plan.postcode]
        first = False
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
