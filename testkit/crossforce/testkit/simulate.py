"""A simulator of the 43 forces' nominal records, used instead of mocks by tests, demo and benchmarks.

``ForceSimulator`` makes a seeded synthetic population (British name distributions, ages 16-90,
realistic identifier presence), sizes each force in proportion to the population it serves, and lets
some people be held by more than one force, each force holding its own slightly different record.
``corrupt`` turns a record into a second sighting of the same person with the errors that real
vetting queries and force systems carry: each kind of error is a named function in ``CORRUPTIONS``
with a weight for how often it happens, so a benchmark can say exactly which errors the match keys
miss.

Invariants: everything is a pure function of the seed (the same seed gives the same records, people
and sightings on any machine); every record produced, corrupted or not, passes
``crossforce.encoding.recordfile.validate_record``; no real person's data is used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from crossforce.encoding.normalise import normalise_identifier
from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.errors import ValidationError
from crossforce.forces import all_forces, sizes_for_total
from crossforce.testkit import _names

Level = Literal["none", "light", "default", "heavy"]
LEVELS: tuple[Level, ...] = ("none", "light", "default", "heavy")

REFERENCE_DATE = dt.date(2025, 1, 1)
"""Ages are computed against this fixed day, not today, so a seed gives the same records every year."""
MIN_AGE, MAX_AGE = 16, 90
FEMALE_SHARE = 0.4
"""Nominal indexes hold more men than women (suspects outnumber victims and witnesses)."""

PERSON_HAS = {"pnc_id": 0.85, "ni_number": 0.9, "passport_number": 0.6, "driving_licence": 0.6}
"""Chance a held person has each identifier at all (people held nowhere never have a PNC ID)."""
FORCE_CAPTURES = {"pnc_id": 0.95, "ni_number": 0.6, "passport_number": 0.3, "driving_licence": 0.45}
"""Chance a force's record carries an identifier the person has."""
QUERY_DECLARES = {"pnc_id": 0.05, "ni_number": 0.8, "passport_number": 0.6, "driving_licence": 0.55}
"""Chance a vetting query carries an identifier the person has (candidates rarely know a PNC ID)."""
FORCE_RECORDS_MAIDEN_NAME = 0.6
QUERY_DECLARES_MAIDEN_NAME = 0.85
MIDDLE_NAME_SHARE = {"british": 0.6}
OTHER_MIDDLE_NAME_SHARE = 0.3
DOUBLE_BARRELLED_SHARE = 0.012
SHARED_FORCE_COUNTS = ((2, 0.7), (3, 0.2), (4, 0.1))
"""How many forces hold a shared person (most people known to two forces; a few to several)."""
MOVED_AWAY_SHARE = 0.5
"""Chance a second force holds a shared person at an address in its own area."""

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

_SURNAMES: list[str] = []
_SURNAME_POOLS = _lay_out(_names.SURNAMES, _SURNAMES, {})
_SURNAMES_F = [_female_surname(s) for s in _SURNAMES]
_FORENAMES: list[str] = []
_forename_index: dict[str, int] = {}
_MALE_POOLS = _lay_out(_names.MALE_FORENAMES, _FORENAMES, _forename_index)
_FEMALE_POOLS = _lay_out(_names.FEMALE_FORENAMES, _FORENAMES, _forename_index)
_SURNAME_ARR = np.array([*_SURNAMES, ""], dtype=object)  # index -1 reads the trailing ""
_SURNAME_F_ARR = np.array([*_SURNAMES_F, ""], dtype=object)
_FORENAME_ARR = np.array([*_FORENAMES, ""], dtype=object)

_AGES = np.arange(MIN_AGE, MAX_AGE + 1)
_AGE_WEIGHTS = (_AGES - 14.0) ** 1.5 * np.exp(-(_AGES - 14.0) / 12.0)
_AGE_P = _AGE_WEIGHTS / _AGE_WEIGHTS.sum()
"""Peaks in the early thirties with a long tail to 90, like a nominal index."""


# --- the population ---------------------------------------------------------------------------


@dataclass
class _People:
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


def _draw_people(
    rng: np.random.Generator, n: int, *, held: bool, force_weights: npt.NDArray[np.float64]
) -> _People:
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
        surname[rows] = _SURNAME_POOLS[name].draw(rng, rows.size)
        wives = rows[married[rows]]
        maiden[wives] = _SURNAME_POOLS[name].draw(rng, wives.size)
    maiden[maiden == surname] = -1
    surname2 = np.full(n, -1, dtype=np.int64)
    barrelled = np.flatnonzero((group == _BRITISH) & (rng.random(n) < DOUBLE_BARRELLED_SHARE))
    surname2[barrelled] = _SURNAME_POOLS["british"].draw(rng, barrelled.size)
    surname2[surname2 == surname] = -1

    rates = np.array([PERSON_HAS[f] if held or f != "pnc_id" else 0.0 for f in IDENTIFIER_FIELDS])
    has = rng.random((n, len(IDENTIFIER_FIELDS))) < rates
    has[:, IDENTIFIER_FIELDS.index("driving_licence")] &= age >= 17
    bits = rng.integers(0, 2**62, size=n, dtype=np.int64)
    home = rng.choice(len(force_weights), size=n, p=force_weights)
    return _People(group, female, dob, forename, middle, surname, surname2, maiden, has, bits, home)


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


def _render(people: _People, rows: npt.NDArray[np.int64]) -> _Rendered:
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


def _postcode(areas: tuple[str, ...], bits: int) -> str:
    area = areas[(bits >> 45) % len(areas)]
    district = (bits >> 20) % 20 + 1
    inward = f"{(bits >> 25) % 10}{_INWARD_LETTERS[(bits >> 35) % 20]}{_INWARD_LETTERS[(bits >> 40) % 20]}"
    return f"{area}{district} {inward}"


def fold_accents(text: str) -> str:
    """Drop diacritics (Zoë -> Zoe, Łukasz -> Lukasz); NFKD alone leaves ł, ø, ı and đ."""
    text = text.translate(_UNDECOMPOSABLE)
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


_UNDECOMPOSABLE = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ı": "i", "đ": "d", "Đ": "D"})


# --- the simulator ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """A query record for a person and the names of the errors put into it."""

    record: Record
    corruptions: tuple[str, ...]


class ForceSimulator:
    """Synthetic forces: seeded population, per-force records, ground truth and corrupted sightings.

    Person ids are integers; ``people()`` maps each to the (force, record_id) pairs that hold them.
    """

    def __init__(
        self,
        seed: int,
        total_records: int,
        *,
        shared_fraction: float = 0.02,
        forces: Sequence[str] | None = None,
    ) -> None:
        if total_records < 1:
            raise ValidationError("total_records must be at least 1")
        if not 0.0 <= shared_fraction <= 0.5:
            raise ValidationError("shared_fraction must be between 0 and 0.5")
        self.seed = seed
        known = {f.code: f for f in all_forces()}
        if forces is None:
            self.sizes = sizes_for_total(total_records)
        else:
            unknown = [code for code in forces if code not in known]
            if unknown or not forces or len(set(forces)) != len(forces):
                raise ValidationError("forces must be distinct known force codes")
            weight = sum(known[c].sizing_weight for c in forces)
            self.sizes = {c: max(1, total_records * known[c].sizing_weight // weight) for c in forces}
        self.forces: tuple[str, ...] = tuple(self.sizes)
        self._index = {code: i for i, code in enumerate(self.forces)}
        self._prefixes = _record_id_prefixes(self.forces)
        self._areas = [_names.POSTCODE_AREAS.get(code, ("ZZ",)) for code in self.forces]
        size_arr = np.array([self.sizes[c] for c in self.forces], dtype=np.float64)
        self._force_p = size_arr / size_arr.sum()

        rng = np.random.default_rng([seed, 0])
        shared = self._allocate_shared(rng, shared_fraction)
        # Person ids: shared people first, then each force's own people in force order.
        self._shared_holders: dict[int, list[int]] = {p: fs for p, fs in enumerate(shared)}
        shared_per_force: list[list[int]] = [[] for _ in self.forces]
        for person, holders in enumerate(shared):
            for f in holders:
                shared_per_force[f].append(person)
        next_id = len(shared)
        slots: list[npt.NDArray[np.int64]] = []
        for f, code in enumerate(self.forces):
            own = self.sizes[code] - len(shared_per_force[f])
            ids = np.concatenate(
                [np.arange(next_id, next_id + own, dtype=np.int64), np.array(shared_per_force[f], np.int64)]
            )
            next_id += own
            slots.append(ids[np.random.default_rng([seed, 2, f]).permutation(ids.size)])
        self._slots = slots
        self._population = next_id
        self._people = _draw_people(rng, next_id, held=True, force_weights=self._force_p)
        # A person lives in the area of the (first) force that holds them.
        for f, ids in enumerate(slots):
            self._people.home[ids] = f
        for person, holders in self._shared_holders.items():
            self._people.home[person] = holders[0]
        self._planted: dict[int, tuple[Record, list[int]]] = {}
        self._planted_per_force: list[list[int]] = [[] for _ in self.forces]
        self._cache: dict[str, list[Record]] = {}
        self._people_map: dict[int, list[tuple[str, str]]] | None = None

    # -- sizing ---------------------------------------------------------------------------------

    def _allocate_shared(self, rng: np.random.Generator, shared_fraction: float) -> list[list[int]]:
        """Choose forces for each shared person (size-weighted, distinct), within each force's size."""
        if len(self.forces) < 2 or shared_fraction == 0:
            return []
        counts = np.array([k for k, _ in SHARED_FORCE_COUNTS])
        count_p = np.array([p for _, p in SHARED_FORCE_COUNTS])
        total = sum(self.sizes.values())
        n_shared = round(shared_fraction * total / float((counts * count_p).sum()))
        ks = np.minimum(rng.choice(counts, size=n_shared, p=count_p), len(self.forces))
        # Gumbel top-k: a weighted sample without replacement for every person at once.
        keys = np.log(self._force_p)[None, :] + rng.gumbel(size=(n_shared, len(self.forces)))
        order = np.argsort(-keys, axis=1)
        room = [self.sizes[c] - 1 for c in self.forces]  # every force keeps one record of its own
        shared: list[list[int]] = []
        for k, row in zip(ks.tolist(), order.tolist(), strict=True):
            chosen = [f for f in row if room[f] > 0][:k]
            if len(chosen) >= 2:
                for f in chosen:
                    room[f] -= 1
                shared.append(chosen)
        return shared

    # -- records --------------------------------------------------------------------------------

    def records_for(self, force_code: str) -> list[Record]:
        """The records a force holds, always the same for the same seed (cached after first call)."""
        if force_code not in self._index:
            raise ValidationError("unknown force code", field="force")
        if force_code not in self._cache:
            self._cache[force_code] = self._build(self._index[force_code])
        return list(self._cache[force_code])

    def iter_records(self) -> Iterator[tuple[str, Record]]:
        """Every force's records in force order, building one force at a time (nothing cached)."""
        for code in self.forces:
            records = self._cache.get(code) or self._build(self._index[code])
            for record in records:
                yield code, record

    def _build(self, f: int) -> list[Record]:
        ids = self._slots[f]
        r = _render(self._people, ids)
        n = ids.size
        rng = np.random.default_rng([self.seed, 1, f])
        captures = rng.random((n, len(IDENTIFIER_FIELDS))) < np.array(
            [FORCE_CAPTURES[name] for name in IDENTIFIER_FIELDS]
        )
        keeps_maiden = (rng.random(n) < FORCE_RECORDS_MAIDEN_NAME).tolist()
        maiden_full = (rng.random(n) < 0.7).tolist()
        moved = (rng.random(n) < MOVED_AWAY_SHARE).tolist()
        local_bits = rng.integers(0, 2**62, size=n, dtype=np.int64).tolist()
        homes = self._people.home[ids].tolist()
        cap = captures.tolist()
        prefix = self._prefixes[f]
        noise = random.Random(f"{self.seed}:{f}")
        records: list[Record] = []
        for i, person in enumerate(ids.tolist()):
            previous: tuple[str, ...] = ()
            if r.maiden[i] and keeps_maiden[i]:
                previous = (f"{r.given_names[i]} {r.maiden[i]}" if maiden_full[i] else r.maiden[i],)
            ident = [r.identifiers[k][i] if cap[i][k] else "" for k in range(4)]
            holders = self._shared_holders.get(person)
            secondary = holders is not None and holders[0] != f
            if secondary and moved[i]:
                postcode = _postcode(self._areas[f], local_bits[i])
            else:
                postcode = _postcode(self._areas[homes[i]], r.bits[i])
            record = Record(
                record_id=f"{prefix}-{i + 1:07d}",
                given_names=r.given_names[i],
                surname=r.surname[i],
                date_of_birth=r.date_of_birth[i],
                sex=r.sex[i],
                previous_names=previous,
                pnc_id=ident[0],
                ni_number=ident[1],
                passport_number=ident[2],
                driving_licence=ident[3],
                postcode=postcode,
            )
            if secondary:
                # Another force typed this person in separately: its record carries its own errors.
                record, _ = corrupt_with_log(record, noise, "light")
            records.append(record)
        for k, person in enumerate(self._planted_per_force[f]):
            planted = self._planted[person][0]
            records.append(dataclasses.replace(planted, record_id=f"{prefix}-P{k + 1:06d}"))
        return records

    # -- ground truth -----------------------------------------------------------------------------

    def people(self) -> dict[int, list[tuple[str, str]]]:
        """Ground truth: person id -> the (force, record_id) pairs that hold that person."""
        if self._people_map is None:
            out: dict[int, list[tuple[str, str]]] = {}
            for f, ids in enumerate(self._slots):
                code, prefix = self.forces[f], self._prefixes[f]
                for i, person in enumerate(ids.tolist()):
                    out.setdefault(person, []).append((code, f"{prefix}-{i + 1:07d}"))
            for person, (_, holders) in self._planted.items():
                out[person] = [self._planted_id(person, f) for f in holders]
            self._people_map = out
        return self._people_map

    def shared_people(self) -> list[int]:
        """Ids of people held by two or more forces."""
        return [p for p, forces in self.people().items() if len(forces) >= 2]

    def holders(self, person_id: int) -> list[str]:
        """Force codes holding this person."""
        return sorted({code for code, _ in self.people()[person_id]})

    def _planted_id(self, person: int, f: int) -> tuple[str, str]:
        k = self._planted_per_force[f].index(person)
        return self.forces[f], f"{self._prefixes[f]}-P{k + 1:06d}"

    def person_record(self, person_id: int) -> Record:
        """Everything known about a person (all identifiers they have, maiden name), uncorrupted."""
        if person_id in self._planted:
            return self._planted[person_id][0]
        if not 0 <= person_id < self._population:
            raise ValidationError("unknown person id", field="person_id")
        return _full_record(self._people, person_id, self._areas, f"PERSON-{person_id}")

    # -- queries ----------------------------------------------------------------------------------

    def sighting(self, person_id: int, rng: random.Random, level: Level = "default") -> Record:
        """A vetting query for this person, with the errors ``level`` puts into it."""
        return self.sighting_detail(person_id, rng, level).record

    def sighting_detail(self, person_id: int, rng: random.Random, level: Level = "default") -> Sighting:
        return as_query(self.person_record(person_id), rng, level)

    def absent_person(self, rng: random.Random) -> Record:
        """A person no force holds, drawn from the same name and age distributions (a namesake risk)."""
        nprng = np.random.default_rng(rng.getrandbits(64))
        people = _draw_people(nprng, 1, held=False, force_weights=self._force_p)
        return _full_record(people, 0, self._areas, f"ABSENT-{rng.getrandbits(32):08x}")

    def plant(self, person: Record, forces: Sequence[str]) -> int:
        """Add a known person to these forces (demos and tests); returns the new person id."""
        if not forces:
            raise ValidationError("plant needs at least one force", field="forces")
        indices = []
        for code in dict.fromkeys(forces):
            if code not in self._index:
                raise ValidationError("unknown force code", field="forces")
            indices.append(self._index[code])
        person_id = self._population + len(self._planted)
        self._planted[person_id] = (person, indices)
        for f in indices:
            self._planted_per_force[f].append(person_id)
            self._cache.pop(self.forces[f], None)
        self._people_map = None
        return person_id


def _record_id_prefixes(forces: Sequence[str]) -> list[str]:
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


def _full_record(people: _People, row: int, areas: Sequence[tuple[str, ...]], record_id: str) -> Record:
    r = _render(people, np.array([row], dtype=np.int64))
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
        postcode=_postcode(areas[int(people.home[row])], r.bits[0]),
    )


def _with(record: Record, changes: Mapping[str, Any]) -> Record:
    """``dataclasses.replace`` for field names chosen at run time (mypy cannot check those)."""
    return dataclasses.replace(record, **changes)


def as_query(person: Record, rng: random.Random, level: Level = "default") -> Sighting:
    """Turn a person's full details into what a vetting query would carry, then corrupt it.

    Candidates declare some identifiers (rarely a PNC ID) and usually their previous names.
    """
    changes: dict[str, object] = {
        name: (getattr(person, name) if rng.random() < QUERY_DECLARES[name] else "")
        for name in IDENTIFIER_FIELDS
    }
    if person.previous_names and rng.random() >= QUERY_DECLARES_MAIDEN_NAME:
        changes["previous_names"] = ()
    changes["record_id"] = f"Q-{rng.getrandbits(40):010x}"
    query = _with(person, changes)
    if not query.given_names and not any(getattr(query, f) for f in IDENTIFIER_FIELDS):
        query = _with(query, {f: getattr(person, f) for f in IDENTIFIER_FIELDS})
    record, log = corrupt_with_log(query, rng, level)
    return Sighting(record, tuple(log))


# --- corruptions ------------------------------------------------------------------------------
#
# Each takes a record and a random.Random and returns a changed record, or None when it does not
# apply to this record (no accent to drop, no second forename to promote). Every result passes
# validate_record: a corruption never leaves a record without a surname, or without both a
# forename and an identifier.

CorruptFn = Callable[[Record, random.Random], Record | None]

_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ADJACENT: dict[str, str] = {}
for _r, _row in enumerate(_QWERTY_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_QWERTY_ROWS):
                near += [_QWERTY_ROWS[_other][j] for j in (_c - 1, _c) if 0 <= j < len(_QWERTY_ROWS[_other])]
        _ADJACENT[_ch] = "".join(near)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template.islower():
        return word.lower()
    return word


def _name_field(record: Record, rng: random.Random) -> str | None:
    fields = [f for f in ("surname", "given_names") if sum(ch.isalpha() for ch in getattr(record, f)) >= 2]
    return rng.choice(fields) if fields else None


def keyboard_typo(record: Record, rng: random.Random) -> Record | None:
    """A slip on a QWERTY keyboard: neighbouring key, dropped, doubled or swapped letter."""
    name = _name_field(record, rng)
    if name is None:
        return None
    value: str = getattr(record, name)
    letters = [i for i, ch in enumerate(value) if ch.isalpha()]
    for _ in range(10):
        i = rng.choice(letters)
        op = rng.choices(("adjacent", "drop", "double", "swap"), weights=(5, 2, 2, 2))[0]
        ch = value[i]
        if op == "adjacent" and ch.lower() in _ADJACENT:
            new_ch = rng.choice(_ADJACENT[ch.lower()])
            new = value[:i] + (new_ch.upper() if ch.isupper() else new_ch) + value[i + 1 :]
        elif op == "drop" and len(letters) > 2:
            new = value[:i] + value[i + 1 :]
        elif op == "double":
            new = value[:i] + ch.lower() + value[i:] if i else value[:1] + ch.lower() + value[1:]
        elif op == "swap" and i + 1 < len(value) and value[i + 1].isalpha():
            first, second = value[i + 1], value[i]
            if i == 0 and first.islower():  # keep the capital at the front
                first, second = first.upper(), second.lower()
            new = value[:i] + first + second + value[i + 2 :]
        else:
            continue
        if new != value:
            return _with(record, {name: new})
    return None


_OCR_PAIRS = (
    ("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("vv", "w"), ("w", "vv"), ("li", "h"),
    ("h", "li"), ("l", "I"), ("I", "l"), ("e", "c"), ("c", "e"), ("u", "v"), ("n", "ri"), ("O", "Q"),
    ("a", "o"), ("B", "R"), ("E", "F"),
)  # fmt: skip


def ocr_confusion(record: Record, rng: random.Random) -> Record | None:
    """A scanned form misread: rn/m, cl/d, l/I, e/c and similar shapes."""
    options = [
        (name, old, new)
        for name in ("surname", "given_names")
        for old, new in _OCR_PAIRS
        if old in getattr(record, name)
    ]
    if not options:
        return None
    name, old, new = rng.choice(options)
    value: str = getattr(record, name)
    starts = [m.start() for m in re.finditer(re.escape(old), value)]
    at = rng.choice(starts)
    return _with(record, {name: value[:at] + new + value[at + len(old) :]})


def _family_lookup(families: tuple[tuple[str, ...], ...]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for family in families:
        for member in family:
            out.setdefault(member.lower(), tuple(m for m in family if m.lower() != member.lower()))
    return out


_PHONETIC = _family_lookup(_names.PHONETIC_FAMILIES)
_TRANSLIT = _family_lookup(_names.TRANSLITERATIONS)
_PHONETIC_RULES: tuple[tuple[str, str], ...] = (
    (r"ph", "f"),
    (r"(?<=[aeiou])f(?=[aeiou])", "ph"),
    (r"ck", "k"),
    (r"(?<=[aeiou])k", "ck"),
    (r"ie$", "y"),
    (r"(?<=[^aeiou])y$", "ie"),
    (r"ey$", "y"),
    (r"([bdfglmnprst])\1", r"\1"),
    (r"(?<=[aeiou])([bdglmnprt])(?=[aeiouy])", r"\1\1"),
    (r"ai", "ay"),
    (r"ou", "ow"),
    (r"ee", "ea"),
    (r"ea", "ee"),
    (r"son$", "sen"),
    (r"c(?=[aou])", "k"),
    (r"(?<=.)th", "t"),
    (r"z", "s"),
    (r"ei", "ie"),
)
"""Spelling changes that keep the sound: what a clerk writes from a name heard over the phone."""


def _replace_word(record: Record, name: str, index: int, word: str) -> Record:
    value: str = getattr(record, name)
    words = value.split(" ")
    words[index] = _match_case(words[index], word)
    return _with(record, {name: " ".join(words)})


def _family_swap(record: Record, rng: random.Random, lookup: Mapping[str, tuple[str, ...]]) -> Record | None:
    options = []
    for name in ("given_names", "surname"):
        for index, word in enumerate(getattr(record, name).split(" ")):
            if word.lower() in lookup:
                options.append((name, index, word))
    if not options:
        return None
    name, index, word = rng.choice(options)
    return _replace_word(record, name, index, rng.choice(lookup[word.lower()]))


def phonetic_misspelling(record: Record, rng: random.Random) -> Record | None:
    """A name written as it sounds: Thomson/Thompson, Stephen/Steven, or a sound-alike spelling."""
    swapped = _family_swap(record, rng, _PHONETIC)
    if swapped is not None and rng.random() < 0.7:
        return swapped
    name = _name_field(record, rng)
    if name is None:
        return swapped
    value: str = getattr(record, name)
    words = value.split(" ")
    index = rng.randrange(len(words))
    word = words[index]
    options = [(p, r) for p, r in _PHONETIC_RULES if re.search(p, word[1:].lower())]
    if not options:
        return swapped
    pattern, repl = rng.choice(options)
    # Rules apply after the first letter so the initial (and its capital) stays as heard.
    new = word[0] + re.sub(pattern, repl, word[1:].lower(), count=1)
    new = _match_case(word, new) if word.isupper() else new
    if new == word or sum(ch.isalpha() for ch in new) < 2:
        return swapped
    return _replace_word(record, name, index, new)


_NICK_TO_FORMAL: dict[str, list[str]] = {}
for _formal, _nicks in _names.NICKNAMES.items():
    for _nick in _nicks:
        _NICK_TO_FORMAL.setdefault(_nick.lower(), []).append(_formal)


def nickname(record: Record, rng: random.Random) -> Record | None:
    """The familiar form of a forename, or the formal one: Bill/William, Peggy/Margaret, Sasha/Alexander."""
    words = record.given_names.split(" ")
    first = words[0]
    formal = {k.lower(): v for k, v in _names.NICKNAMES.items()}
    if first.lower() in formal:
        choice = rng.choice(formal[first.lower()])
    elif first.lower() in _NICK_TO_FORMAL:
        choice = rng.choice(_NICK_TO_FORMAL[first.lower()])
    else:
        return None
    choice = _match_case(first, choice)
    # People who go by a nickname seldom give their middle names with it.
    rest = words[1:] if rng.random() < 0.5 else []
    return dataclasses.replace(record, given_names=" ".join([choice, *rest]))


def _dob(record: Record) -> dt.date | None:
    try:
        return dt.date.fromisoformat(record.date_of_birth) if record.date_of_birth else None
    except ValueError:
        return None


def _with_dob(record: Record, day: dt.date) -> Record | None:
    if day > REFERENCE_DATE or day.year < 1900 or day.isoformat() == record.date_of_birth:
        return None
    return dataclasses.replace(record, date_of_birth=day.isoformat())


def day_month_swap(record: Record, rng: random.Random) -> Record | None:
    """US-style or misread date: 1985-03-07 recorded as 1985-07-03."""
    day = _dob(record)
    if day is None or day.day > 12 or day.day == day.month:
        return None
    return _with_dob(record, day.replace(month=day.day, day=day.month))


def dob_digit_typo(record: Record, rng: random.Random) -> Record | None:
    """One digit of the date of birth mistyped (still a real date)."""
    if _dob(record) is None:
        return None
    value = record.date_of_birth
    for _ in range(20):
        pos = rng.choice((2, 3, 5, 6, 8, 9))
        digit = rng.choice([d for d in "0123456789" if d != value[pos]])
        try:
            day = dt.date.fromisoformat(value[:pos] + digit + value[pos + 1 :])
        except ValueError:
            continue
        result = _with_dob(record, day)
        if result is not None:
            return result
    return None


def year_off(record: Record, rng: random.Random) -> Record | None:
    """Birth year one out (age arithmetic) or a decade out (a misread digit)."""
    day = _dob(record)
    if day is None:
        return None
    deltas = [1, -1, 10, -10]
    rng.shuffle(deltas)
    deltas.sort(key=lambda d: abs(d) == 10 and rng.random() < 0.7)
    for delta in deltas:
        try:
            result = _with_dob(record, day.replace(year=day.year + delta))
        except ValueError:  # 29 February
            continue
        if result is not None:
            return result
    return None


def missing_dob(record: Record, rng: random.Random) -> Record | None:
    """Date of birth not given."""
    return dataclasses.replace(record, date_of_birth="") if record.date_of_birth else None


def _has_identifier(record: Record) -> bool:
    return any(getattr(record, f) for f in IDENTIFIER_FIELDS)


def missing_forename(record: Record, rng: random.Random) -> Record | None:
    """Forenames not given (only where an identifier still makes the record usable)."""
    if not record.given_names or not _has_identifier(record):
        return None
    return dataclasses.replace(record, given_names="")


def forename_initial(record: Record, rng: random.Random) -> Record | None:
    """Only initials recorded: "J" or "J. P." for John Paul."""
    words = record.given_names.split()
    if not words or len(words[0]) < 2 or not words[0][0].isalpha():
        return None
    initials = [w[0].upper() for w in words] if rng.random() < 0.4 else [words[0][0].upper()]
    dotted = rng.random() < 0.3
    return dataclasses.replace(record, given_names=" ".join(i + "." if dotted else i for i in initials))


def names_transposed(record: Record, rng: random.Random) -> Record | None:
    """First forename and surname in each other's boxes (common with surname-first naming)."""
    words = record.given_names.split()
    if not words or words[0] == record.surname:
        return None
    return dataclasses.replace(record, given_names=" ".join([record.surname, *words[1:]]), surname=words[0])


def middle_name_as_forename(record: Record, rng: random.Random) -> Record | None:
    """Known by a middle name: "Sarah Jane" recorded as "Jane" or "Jane Sarah"."""
    words = record.given_names.split()
    if len(words) < 2:
        return None
    middle = rng.randrange(1, len(words))
    if rng.random() < 0.6:
        return dataclasses.replace(record, given_names=words[middle])
    return dataclasses.replace(
        record, given_names=" ".join([words[middle], *(w for i, w in enumerate(words) if i != middle)])
    )


def _surname_from_previous(record: Record, previous: str) -> str:
    if record.given_names and previous.startswith(record.given_names + " "):
        return previous[len(record.given_names) + 1 :]
    return previous


def surname_change_marriage(record: Record, rng: random.Random) -> Record | None:
    """Surname changed by marriage (or back): the other surname is given, with the former one
    declared as a previous name or not."""
    if record.previous_names:
        maiden = _surname_from_previous(record, record.previous_names[0])
        if maiden == record.surname:
            return None
        keep = (f"{record.given_names} {record.surname}".strip(),) if rng.random() < 0.5 else ()
        return dataclasses.replace(record, surname=maiden, previous_names=keep)
    if not record.sex.upper().startswith("F"):
        return None
    pool = _SURNAME_POOLS["british"]
    new = _SURNAMES[int(pool.draw(np.random.default_rng(rng.getrandbits(64)), 1)[0])]
    if new == record.surname:
        return None
    previous = (f"{record.given_names} {record.surname}".strip(),) if rng.random() < 0.5 else ()
    return dataclasses.replace(record, surname=new, previous_names=previous)


def hyphenated_half_dropped(record: Record, rng: random.Random) -> Record | None:
    """A double-barrelled or hyphenated surname given as one half."""
    parts = [p for p in re.split(r"[- ]", record.surname) if sum(ch.isalpha() for ch in p) >= 2]
    if len(parts) < 2:
        return None
    return dataclasses.replace(record, surname=rng.choice(parts))


_ACCENTED_LOWER = {k.lower(): v for k, v in _names.ACCENTED.items()}


def accents_changed(record: Record, rng: random.Random) -> Record | None:
    """Accents dropped (Zoë -> Zoe, Łukasz -> Lukasz) or added (Jose -> José)."""
    options = []
    for name in ("given_names", "surname"):
        value: str = getattr(record, name)
        if not value.isascii():
            options.append(_with(record, {name: fold_accents(value)}))
        for index, word in enumerate(value.split(" ")):
            if word.lower() in _ACCENTED_LOWER:
                options.append(_replace_word(record, name, index, _ACCENTED_LOWER[word.lower()]))
    options = [o for o in options if o != record]
    return rng.choice(options) if options else None


def transliteration(record: Record, rng: random.Random) -> Record | None:
    """Another romanisation of the same name: Mohammed/Muhammad, Aleksandr/Alexander, Zhang/Cheung."""
    return _family_swap(record, rng, _TRANSLIT)


def case_whitespace_noise(record: Record, rng: random.Random) -> Record | None:
    """Capitals and spacing as another system stores them: SMITH, smith, "Mary  Ann"."""
    options = []
    for name in ("given_names", "surname"):
        value: str = getattr(record, name)
        if not value:
            continue
        for new in (value.upper(), value.lower(), value.title(), value.replace(" ", "  ", 1)):
            if new != value:
                options.append((name, new))
    if not options:
        return None
    if rng.random() < 0.4:  # whole-record upper case, as a legacy system exports it
        shouted = dataclasses.replace(
            record, given_names=record.given_names.upper(), surname=record.surname.upper()
        )
        if shouted != record:
            return shouted
    name, new = rng.choice(options)
    return _with(record, {name: new})


def missing_identifiers(record: Record, rng: random.Random) -> Record | None:
    """Some identifiers left out of the query or the record."""
    present = [f for f in IDENTIFIER_FIELDS if getattr(record, f)]
    if not present:
        return None
    drop = rng.sample(present, rng.randint(1, len(present)))
    if not record.given_names and len(drop) == len(present):
        drop = drop[:-1]
    if not drop:
        return None
    return _with(record, dict.fromkeys(drop, ""))


def identifier_typo(record: Record, rng: random.Random) -> Record | None:
    """One digit of an NI or passport number mistyped (PNC IDs and licences carry check characters,
    so a typo there is refused at entry rather than silently searched)."""
    options = [f for f in ("ni_number", "passport_number") if getattr(record, f)]
    if not options:
        return None
    name = rng.choice(options)
    value: str = getattr(record, name)
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return None
    i = rng.choice(digits)
    new_digit = rng.choice([d for d in "0123456789" if d != value[i]])
    if name == "passport_number" and i == 0 and new_digit == "0":
        new_digit = "9" if value[0] != "9" else "8"
    new = value[:i] + new_digit + value[i + 1 :]
    try:
        normalise_identifier(name, new)
    except ValidationError:  # e.g. the typo made 000001 into 000000, a placeholder
        return None
    return _with(record, {name: new})


@dataclass(frozen=True)
class Corruption:
    name: str
    apply: CorruptFn
    weight: float
    """Relative frequency among the corruptions that apply to a record."""


CORRUPTIONS: Mapping[str, Corruption] = {
    c.name: c
    for c in (
        Corruption("keyboard_typo", keyboard_typo, 14),
        Corruption("phonetic_misspelling", phonetic_misspelling, 12),
        Corruption("missing_identifiers", missing_identifiers, 10),
        Corruption("nickname", nickname, 8),
        Corruption("case_whitespace_noise", case_whitespace_noise, 6),
        Corruption("dob_digit_typo", dob_digit_typo, 6),
        Corruption("day_month_swap", day_month_swap, 5),
        Corruption("year_off", year_off, 4),
        Corruption("transliteration", transliteration, 4),
        Corruption("middle_name_as_forename", middle_name_as_forename, 4),
        Corruption("surname_change_marriage", surname_change_marriage, 4),
        Corruption("missing_dob", missing_dob, 3),
        Corruption("forename_initial", forename_initial, 3),
        Corruption("names_transposed", names_transposed, 3),
        Corruption("hyphenated_half_dropped", hyphenated_half_dropped, 3),
        Corruption("accents_changed", accents_changed, 3),
        Corruption("ocr_confusion", ocr_confusion, 3),
        Corruption("missing_forename", missing_forename, 2),
        Corruption("identifier_typo", identifier_typo, 2),
    )
}
"""Every kind of error a sighting can carry, with how often it is chosen."""

_ERROR_COUNTS: Mapping[Level, tuple[tuple[int, float], ...]] = {
    "none": ((0, 1.0),),
    "light": ((0, 0.5), (1, 0.5)),
    "default": ((1, 0.6), (2, 0.4)),
    "heavy": ((2, 0.35), (3, 0.4), (4, 0.25)),
}


def corrupt_with_log(
    record: Record, rng: random.Random, level: Level = "default"
) -> tuple[Record, list[str]]:
    """Apply ``level``'s number of distinct errors, drawn by weight among those that apply."""
    if level not in _ERROR_COUNTS:
        raise ValidationError("unknown corruption level", field="level")
    counts = _ERROR_COUNTS[level]
    wanted = rng.choices([n for n, _ in counts], weights=[p for _, p in counts])[0]
    remaining = dict(CORRUPTIONS)
    applied: list[str] = []
    while len(applied) < wanted and remaining:
        names = list(remaining)
        name = rng.choices(names, weights=[remaining[n].weight for n in names])[0]
        changed = remaining.pop(name).apply(record, rng)
        if changed is not None and changed != record:
            record = changed
            applied.append(name)
    return record, applied


def corrupt(record: Record, rng: random.Random, level: Level = "default") -> Record:
    """A second sighting of the same person with realistic errors (see ``CORRUPTIONS``)."""
    return corrupt_with_log(record, rng, level)[0]
