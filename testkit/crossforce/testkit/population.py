"""The simulator's synthetic population: names, ages, identifiers and addresses as numpy arrays.

A population is drawn in one pass (a million people in about a second) from the name tables in
``_names`` (British name distributions by community, ages 16-90 peaking in the early thirties,
realistic identifier presence), then rendered to text a force or a query chooses from. Identifiers
have the real shapes and check characters (PNC ID, NI number, passport, DVLA licence).

Invariants: a pure function of the numpy generator it is given; no real person's data is used.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.testkit import _names

REFERENCE_DATE = dt.date(2025, 1, 1)
"""Ages are computed against this fixed day, not today, so a seed gives the same records every year."""
MIN_AGE, MAX_AGE = 16, 90
FEMALE_SHARE = 0.4
"""Nominal indexes hold more men than women (suspects outnumber victims and witnesses)."""

PERSON_HAS = {"pnc_id": 0.85, "ni_number": 0.9, "passport_number": 0.6, "driving_licence": 0.6}
"""Chance a held person has each identifier at all (people held nowhere never have a PNC ID)."""
MIDDLE_NAME_SHARE = {"british": 0.6}
OTHER_MIDDLE_NAME_SHARE = 0.3
DOUBLE_BARRELLED_SHARE = 0.012

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_REFERENCE_ORDINAL = REFERENCE_DATE.toordinal()
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_PNC_CHECK = "ZABCDEFGHJKLMNPQRTUVWXY"
_NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NI_PREFIXES = tuple(
    a + b for a in _NI_FIRST for b in _NI_SECOND if a + b not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
)


# --- name tables as arrays --------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """One name pool laid out for numpy draws: global indices and their probabilities."""

    indices: npt.NDArray[np.int64]
    probs: npt.NDArray[np.float64]

    def draw(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        return self.indices[rng.choice(len(self.indices), size=n, p=self.probs)]


def _female_surname(name: str) -> str:
    """Polish surnames agree with sex: Kowalski -> Kowalska."""
    for male, female in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
        if name.endswith(male):
            return name[: -len(male)] + female
    return name


def _lay_out(
    tables: Mapping[str, tuple[tuple[str, int], ...]], names: list[str], index: dict[str, int]
) -> dict[str, _Pool]:
    pools: dict[str, _Pool] = {}
    for group, pairs in tables.items():
        idx = []
        for name, _ in pairs:
            if name not in index:
                index[name] = len(names)
                names.append(name)
            idx.append(index[name])
        weights = np.array([w for _, w in pairs], dtype=np.float64)
        pools[group] = _Pool(np.array(idx, dtype=np.int64), weights / weights.sum())
    return pools


GROUPS: tuple[str, ...] = tuple(_names.GROUP_SHARES)
_GROUP_P = np.array([_names.GROUP_SHARES[g] for g in GROUPS]) / sum(_names.GROUP_SHARES.values())
_BRITISH = GROUPS.index("british")
_OTHER = GROUPS.index("other")

SURNAMES: list[str] = []
SURNAME_POOLS = _lay_out(_names.SURNAMES, SURNAMES, {})
_SURNAMES_F = [_female_surname(s) for s in SURNAMES]
_FORENAMES: list[str] = []
_forename_index: dict[str, int] = {}
_MALE_POOLS = _lay_out(_names.MALE_FORENAMES, _FORENAMES, _forename_index)
_FEMALE_POOLS = _lay_out(_names.FEMALE_FORENAMES, _FORENAMES, _forename_index)
_SURNAME_ARR = np.array([*SURNAMES, ""], dtype=object)  # index -1 reads the trailing ""
_SURNAME_F_ARR = np.array([*_SURNAMES_F, ""], dtype=object)
_FORENAME_ARR = np.array([*_FORENAMES, ""], dtype=object)

_AGES = np.arange(MIN_AGE, MAX_AGE + 1)
_AGE_WEIGHTS = (_AGES - 14.0) ** 1.5 * np.exp(-(_AGES - 14.0) / 12.0)
_AGE_P = _AGE_WEIGHTS / _AGE_WEIGHTS.sum()
"""Peaks in the early thirties with a long tail to 90, like a nominal index."""


# --- the population ---------------------------------------------------------------------------


@dataclass
class People:
    """A population as parallel arrays (one row per person) so a million people draw in a second."""

    group: npt.NDArray[np.int64]
    female: npt.NDArray[np.bool_]
    dob: npt.NDArray[np.int64]
    """Proleptic Gregorian ordinal."""
    forename: npt.NDArray[np.int64]
    middle: npt.NDArray[np.int64]
    surname: npt.NDArray[np.int64]
    surname2: npt.NDArray[np.int64]
    maiden: npt.NDArray[np.int64]
    has: npt.NDArray[np.bool_]
    """(n, 4) in IDENTIFIER_FIELDS order."""
    bits: npt.NDArray[np.int64]
    """Random bits from which identifiers and the address are derived."""
    home: npt.NDArray[np.int64]
    """Index of the force whose area the person lives in."""


def draw_people(
    rng: np.random.Generator, n: int, *, held: bool, force_weights: npt.NDArray[np.float64]
) -> People:
    group = rng.choice(len(GROUPS), size=n, p=_GROUP_P)
    female = rng.random(n) < FEMALE_SHARE
    age = rng.choice(_AGES, size=n, p=_AGE_P)
    dob = _REFERENCE_ORDINAL - ((age + rng.random(n)) * 365.2425).astype(np.int64) - 1

    # Forenames come from the person's own pool, with some mixing (anglicised or borrowed names).
    fgroup = group.copy()
    mix = rng.random(n) < _names.FORENAME_MIXING
    fgroup[mix & (group != _BRITISH)] = _BRITISH
    fgroup[mix & (group == _BRITISH) & (rng.random(n) < 0.25)] = _OTHER
    forename = np.empty(n, dtype=np.int64)
    middle = np.full(n, -1, dtype=np.int64)
    middle_share = np.array([MIDDLE_NAME_SHARE.get(g, OTHER_MIDDLE_NAME_SHARE) for g in GROUPS])
    wants_middle = rng.random(n) < middle_share[group]
    for g, name in enumerate(GROUPS):
        for is_female, pools in ((False, _MALE_POOLS), (True, _FEMALE_POOLS)):
            rows = np.flatnonzero((fgroup == g) & (female == is_female))
            if rows.size:
                forename[rows] = pools[name].draw(rng, rows.size)
                mids = rows[wants_middle[rows]]
                middle[mids] = pools[name].draw(rng, mids.size)
    middle[middle == forename] = -1

    surname = np.empty(n, dtype=np.int64)
    maiden = np.full(n, -1, dtype=np.int64)
    married_p = np.where(age >= 25, 0.45, np.where(age >= 21, 0.2, 0.0))
    married = female & (rng.random(n) < married_p)
    for g, name in enumerate(GROUPS):
        rows = np.flatnonzero(group == g)
        surname[rows] = SURNAME_POOLS[name].draw(rng, rows.size)
        wives = rows[married[rows]]
        maiden[wives] = SURNAME_POOLS[name].draw(rng, wives.size)
    maiden[maiden == surname] = -1
    surname2 = np.full(n, -1, dtype=np.int64)
    barrelled = np.flatnonzero((group == _BRITISH) & (rng.random(n) < DOUBLE_BARRELLED_SHARE))
    surname2[barrelled] = SURNAME_POOLS["british"].draw(rng, barrelled.size)
    surname2[surname2 == surname] = -1

    rates = np.array([PERSON_HAS[f] if held or f != "pnc_id" else 0.0 for f in IDENTIFIER_FIELDS])
    has = rng.random((n, len(IDENTIFIER_FIELDS))) < rates
    has[:, IDENTIFIER_FIELDS.index("driving_licence")] &= age >= 17
    bits = rng.integers(0, 2**62, size=n, dtype=np.int64)
    home = rng.choice(len(force_weights), size=n, p=force_weights)
    return People(group, female, dob, forename, middle, surname, surname2, maiden, has, bits, home)


@dataclass
class _Rendered:
    """A person's own details as text, before a force or a query chooses what to record."""

    given_names: list[str]
    surname: list[str]
    maiden: list[str]
    date_of_birth: list[str]
    sex: list[str]
    identifiers: list[list[str]]
    """Per identifier field (IDENTIFIER_FIELDS order), per person; "" where the person has none."""
    bits: list[int]


def render_people(people: People, rows: npt.NDArray[np.int64]) -> _Rendered:
    female = people.female[rows]
    fore = _FORENAME_ARR[people.forename[rows]]
    mid = _FORENAME_ARR[people.middle[rows]]
    given = [f"{f} {m}" if m else f for f, m in zip(fore.tolist(), mid.tolist(), strict=True)]
    s1 = np.where(female, _SURNAME_F_ARR[people.surname[rows]], _SURNAME_ARR[people.surname[rows]])
    s2 = np.where(female, _SURNAME_F_ARR[people.surname2[rows]], _SURNAME_ARR[people.surname2[rows]])
    bits = people.bits[rows]
    spaced = (bits >> 5) % 7 == 0  # a few double-barrelled names are written with a space
    surnames = [
        a if not b else (f"{a} {b}" if sp else f"{a}-{b}")
        for a, b, sp in zip(s1.tolist(), s2.tolist(), spaced.tolist(), strict=True)
    ]
    maiden = np.where(female, _SURNAME_F_ARR[people.maiden[rows]], _SURNAME_ARR[people.maiden[rows]])
    dob_days = people.dob[rows] - _EPOCH_ORDINAL
    dobs = dob_days.astype("datetime64[D]").astype(str).tolist()
    sex = ["F" if f else "M" for f in female.tolist()]

    has = people.has[rows]
    b = bits.tolist()
    dob_years = [int(d[:4]) for d in dobs]
    pnc = [_pnc_id(y, bb) if h else "" for y, bb, h in zip(dob_years, b, has[:, 0].tolist(), strict=True)]
    ni = [_ni_number(bb) if h else "" for bb, h in zip(b, has[:, 1].tolist(), strict=True)]
    passport = [_passport(bb) if h else "" for bb, h in zip(b, has[:, 2].tolist(), strict=True)]
    licence = [
        _licence(s, d, f == "F", g, bb) if h else ""
        for s, d, f, g, bb, h in zip(surnames, dobs, sex, given, b, has[:, 3].tolist(), strict=True)
    ]
    return _Rendered(given, surnames, maiden.tolist(), dobs, sex, [pnc, ni, passport, licence], b)


def _pnc_id(birth_year: int, bits: int) -> str:
    """A PNC ID in the usual YY/NNNNNNNA shape, year of first recording, check letter mod 23."""
    year = min(birth_year + 12 + (bits >> 40) % 25, REFERENCE_DATE.year - 1)
    serial = (bits >> 12) % 999_999 + 1
    check = _PNC_CHECK[int(f"{year % 100:02d}{serial:07d}") % 23]
    return f"{year % 100:02d}/{serial}{check}"


def _ni_number(bits: int) -> str:
    prefix = _NI_PREFIXES[bits % len(_NI_PREFIXES)]
    digits = f"{(bits >> 10) % 1_000_000:06d}"
    if len(set(digits)) == 1 or digits == "123456":  # read as placeholders by the spec
        digits = digits[:5] + str((int(digits[5]) + 1) % 10)
    suffix = "ABCD"[(bits >> 30) % 4]
    if (bits >> 33) % 4 == 0:  # as printed on the card
        return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{prefix}{digits}{suffix}"


def _passport(bits: int) -> str:
    return str((bits >> 32) % 900_000_000 + 100_000_000)


@cache
def _ascii_upper(name: str) -> str:
    return "".join(ch for ch in fold_accents(name).upper() if "A" <= ch <= "Z")


def _licence(surname: str, dob: str, female: bool, given: str, bits: int) -> str:
    """A DVLA licence number: surname, birth date (month + 50 for women), initials, check letters."""
    head = (_ascii_upper(surname)[:5]).ljust(5, "9")
    year, month, day = dob[:4], int(dob[5:7]), dob[8:10]
    initials = "".join(_ascii_upper(part)[:1] for part in given.split()[:2]).ljust(2, "9")
    check = _INWARD_LETTERS[(bits >> 50) % 20] + _INWARD_LETTERS[(bits >> 55) % 20]
    return f"{head}{year[2]}{month + 50 if female else month:02d}{day}{year[3]}{initials}9{check}"


def make_postcode(areas: tuple[str, ...], bits: int) -> str:
    area = areas[(bits >> 45) % len(areas)]
    district = (bits >> 20) % 20 + 1
    inward = f"{(bits >> 25) % 10}{_INWARD_LETTERS[(bits >> 35) % 20]}{_INWARD_LETTERS[(bits >> 40) % 20]}"
    return f"{area}{district} {inward}"


def fold_accents(text: str) -> str:
    """Drop diacritics (Zoë -> Zoe, Łukasz -> Lukasz); NFKD alone leaves ł, ø, ı and đ."""
    text = text.translate(_UNDECOMPOSABLE)
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


_UNDECOMPOSABLE = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ı": "i", "đ": "d", "Đ": "D"})


def record_id_prefixes(forces: Sequence[str]) -> list[str]:
    """Short distinct prefixes (West Midlands "WM", West Mercia "WME") so record ids differ by force."""
    used: set[str] = set()
    out = []
    for code in forces:
        words = [w for w in code.split("-") if w not in {"and", "of"}]
        initials = "".join(w[0] for w in words).upper()
        candidates = [initials if len(words) > 1 else code[:3].upper(), initials + words[-1][1].upper()]
        candidates += [code[:4].upper(), code.replace("-", "")[:6].upper()]
        prefix = next(c for c in candidates if c not in used)
        used.add(prefix)
        out.append(prefix)
    return out


def full_record(people: People, row: int, areas: Sequence[tuple[str, ...]], record_id: str) -> Record:
    r = render_people(people, np.array([row], dtype=np.int64))
    previous = (f"{r.given_names[0]} {r.maiden[0]}",) if r.maiden[0] else ()
    return Record(
        record_id=record_id,
        given_names=r.given_names[0],
        surname=r.surname[0],
        date_of_birth=r.date_of_birth[0],
        sex=r.sex[0],
        previous_names=previous,
        pnc_id=r.identifiers[0][0],
        ni_number=r.identifiers[1][0],
        passport_number=r.identifiers[2][0],
        driving_licence=r.identifiers[3][0],
        postcode=make_postcode(areas[int(people.home[row])], r.bits[0]),
    )


# --- shared with the realistic profile (crossforce.testkit.realistic) ------------------------------

AGES = _AGES
NOMINAL_AGE_P = _AGE_P
"""Ages 16-90 and how a nominal index spreads over them (peak in the early thirties)."""


def female_surname(name: str) -> str:
    """The form a woman's surname takes (Polish -ski becomes -ska; others unchanged)."""
    return _female_surname(name)


def make_identifiers(
    surname: str, dob: str, female: bool, given: str, bits: int, has: Sequence[bool]
) -> tuple[str, str, str, str]:
    """A person's identifiers (IDENTIFIER_FIELDS order) with real shapes and check characters; "" where
    ``has`` says the person has none."""
    return (
        _pnc_id(int(dob[:4]), bits) if has[0] else "",
        _ni_number(bits) if has[1] else "",
        _passport(bits) if has[2] else "",
        _licence(surname, dob, female, given, bits) if has[3] else "",
    )
