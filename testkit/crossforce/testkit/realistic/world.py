"""The realistic profile's simulator: forces holding some of their areas' people, with real-world errors.

``RealisticSimulator`` has the public face of ``simulate.ForceSimulator`` (records_for, people, holders,
sighting_detail, absent_person, ...) so the same benchmark and tests run on either profile. What differs:

- names are as common as in life (``names``), people live in households (``households``) and a force
  holds ``HELD_SHARE`` of its area's people (more men than women, younger than the population);
- each held record has a class (custody, intelligence, other: ``RECORD_CLASSES``) and its own errors,
  drawn per record from ``errors.ERROR_KINDS`` (``held_errors`` says which), and each vetting query its
  own (``Sighting.corruptions``), so every (query, held record) pair carries independently drawn errors;
- people held nowhere are drawn from the same world (``absent_id``, then ``sighting_detail``), so some are
  twins, namesake sons or household members of held people (``relation``), as vetting applicants are.

Invariants: a pure function of the seed (numpy and ``random.Random`` streams seeded from it); every
record passes ``validate_record`` once its placeholders are emptied there.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np
import numpy.typing as npt

from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.errors import ValidationError
from crossforce.forces import all_forces, sizes_for_total
from crossforce.testkit import _names
from crossforce.testkit.population import (
    NOMINAL_AGE_P,
    female_surname,
    make_identifiers,
    record_id_prefixes,
)
from crossforce.testkit.realistic.errors import Context, RecordClass, apply_errors
from crossforce.testkit.realistic.households import GENERAL_AGE_WEIGHT, World, build_world
from crossforce.testkit.realistic.names import GROUPS, NameBook, name_book
from crossforce.testkit.simulate import (  # as the classic profile: identifiers, maiden names, sharing
    FORCE_CAPTURES,
    FORCE_RECORDS_MAIDEN_NAME,
    MOVED_AWAY_SHARE,
    QUERY_DECLARES,
    QUERY_DECLARES_MAIDEN_NAME,
    SHARED_FORCE_COUNTS,
    Sighting,
)

HELD_SHARE = 0.2
"""[P] Share of an area's adults its force holds a nominal record for (the PNC alone holds some 13 million
people, a recalled figure; local systems add victims and witnesses). The world is 1/HELD_SHARE times the
records, so memory grows with it."""
HELD_WEIGHT_FEMALE = 2 / 3
"""Relative chance a woman is held: about 40% of nominals are women, as in the classic profile."""
RECORD_CLASSES: tuple[tuple[RecordClass, float], ...] = (
    ("custody", 0.55),
    ("intelligence", 0.30),
    ("other", 0.15),
)
"""[P] docs/plans/spec-v2.md section 2."""
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


class RealisticSimulator:
    """Forces holding part of a world of households, each record with its own realistic errors."""

    profile = "realistic"

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
            if any(c not in known for c in forces) or not forces or len(set(forces)) != len(forces):
                raise ValidationError("forces must be distinct known force codes")
            weight = sum(known[c].sizing_weight for c in forces)
            self.sizes = {c: max(1, total_records * known[c].sizing_weight // weight) for c in forces}
        self.forces: tuple[str, ...] = tuple(self.sizes)
        self._index = {code: i for i, code in enumerate(self.forces)}
        self._prefixes = record_id_prefixes(self.forces)
        self._areas = [_names.POSTCODE_AREAS.get(code, ("ZZ",)) for code in self.forces]
        self.book: NameBook = name_book()
        rng = np.random.default_rng([seed, 10])
        size = np.array([self.sizes[c] for c in self.forces], dtype=np.int64)
        shared = self._allocate_shared(rng, size, shared_fraction)
        away = np.zeros(len(self.forces), dtype=np.int64)
        for holders in shared:
            away[holders[1:]] += 1
        home = np.maximum(1, size - away)
        self.world: World = build_world(rng, self.book, [int(np.ceil(h / HELD_SHARE)) for h in home])
        self._holdings = self._choose_held(rng, home, shared)
        self._by_household = np.argsort(self.world.household, kind="stable")
        self._households_sorted = self.world.household[self._by_household]
        self._draws: dict[tuple[str, int, bool], tuple[list[str], list[float]]] = {}
        self._cache: dict[str, list[Record]] = {}
        self._held_kinds: dict[tuple[str, str], tuple[str, ...]] = {}
        self._held_class: dict[tuple[str, str], RecordClass] = {}

    # -- who is held where ------------------------------------------------------------------------

    def _allocate_shared(
        self, rng: np.random.Generator, size: npt.NDArray[np.int64], shared_fraction: float
    ) -> list[list[int]]:
        """Forces for each person held by more than one (size-weighted, distinct; the first is home)."""
        if len(self.forces) < 2 or shared_fraction == 0:
            return []
        counts = np.array([k for k, _ in SHARED_FORCE_COUNTS])
        count_p = np.array([p for _, p in SHARED_FORCE_COUNTS])
        n_shared = round(shared_fraction * int(size.sum()) / float((counts * count_p).sum()))
        ks = np.minimum(rng.choice(counts, size=n_shared, p=count_p), len(self.forces))
        keys = np.log(size / size.sum())[None, :] + rng.gumbel(size=(n_shared, len(self.forces)))
        order = np.argsort(-keys, axis=1)
        room = (size // 2).tolist()  # at most half of a force's records belong to people living elsewhere
        shared: list[list[int]] = []
        for k, row in zip(ks.tolist(), order.tolist(), strict=True):
            chosen = [row[0], *[f for f in row[1:] if room[f] > 0][: k - 1]]
            if len(chosen) >= 2:
                for f in chosen[1:]:
                    room[f] -= 1
                shared.append(chosen)
        return shared

    def _choose_held(
        self, rng: np.random.Generator, home: npt.NDArray[np.int64], shared: list[list[int]]
    ) -> list[npt.NDArray[np.int64]]:
        """Each force's people: ``home[f]`` of its area's (weighted by sex and age), then those from
        elsewhere it also holds; each list shuffled so record order says nothing."""
        w = self.world
        age_weight = NOMINAL_AGE_P / (GENERAL_AGE_WEIGHT / GENERAL_AGE_WEIGHT.sum())
        weight = np.where(w.female, HELD_WEIGHT_FEMALE, 1.0) * age_weight[w.age - 16]
        keys = np.log(rng.random(len(w))) / weight  # Efraimidis-Spirakis: top keys = weighted sample
        held_home: list[npt.NDArray[np.int64]] = []
        for f in range(len(self.forces)):
            rows = np.flatnonzero(w.area == f)
            k = min(int(home[f]), rows.size)
            held_home.append(rows[np.argpartition(-keys[rows], k - 1)[:k]] if k else rows[:0])
        extra: list[list[int]] = [[] for _ in self.forces]
        taken = [0] * len(self.forces)
        for holders in shared:
            f = holders[0]
            if taken[f] >= held_home[f].size:
                continue
            person = int(held_home[f][taken[f]])
            taken[f] += 1
            for g in holders[1:]:
                extra[g].append(person)
        held = np.zeros(len(w), dtype=np.bool_)
        out = []
        for f in range(len(self.forces)):
            ids = np.concatenate([held_home[f], np.array(extra[f], dtype=np.int64)])
            held[ids] = True
            out.append(ids[np.random.default_rng([self.seed, 12, f]).permutation(ids.size)])
        w.has[:, 0] = held & (rng.random(len(w)) < 0.85)  # a PNC ID only for people ever held
        self._held = held
        return out

    @cached_property
    def _people_map(self) -> dict[int, list[tuple[str, str]]]:
        out: dict[int, list[tuple[str, str]]] = {}
        for f, ids in enumerate(self._holdings):
            code, prefix = self.forces[f], self._prefixes[f]
            for i, person in enumerate(ids.tolist()):
                out.setdefault(person, []).append((code, f"{prefix}-{i + 1:07d}"))
        return out

    def people(self) -> dict[int, list[tuple[str, str]]]:
        """Ground truth: person id -> the (force, record_id) pairs that hold that person."""
        return self._people_map

    def shared_people(self) -> list[int]:
        return [p for p, held in self.people().items() if len(held) >= 2]

    def holders(self, person_id: int) -> list[str]:
        return sorted({code for code, _ in self.people().get(person_id, [])})

    @cached_property
    def _not_held(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(~self._held)

    # -- records ------------------------------------------------------------------------------------

    def records_for(self, force_code: str) -> list[Record]:
        """The records a force holds, always the same for the same seed (cached after first call)."""
        if force_code not in self._index:
            raise ValidationError("unknown force code", field="force")
        if force_code not in self._cache:
            self._cache[force_code] = self._build(self._index[force_code])
        return list(self._cache[force_code])

    def iter_records(self) -> Iterator[tuple[str, Record]]:
        for code in self.forces:
            for record in self.records_for(code):
                yield code, record

    def held_errors(self, force_code: str, record_id: str) -> tuple[str, ...]:
        """The error kinds drawn into one held record (after ``records_for`` built its force)."""
        return self._held_kinds.get((force_code, record_id), ())

    def record_class(self, force_code: str, record_id: str) -> RecordClass:
        return self._held_class[(force_code, record_id)]

    def _build(self, f: int) -> list[Record]:
        code, prefix = self.forces[f], self._prefixes[f]
        ids = self._holdings[f]
        n = ids.size
        nprng = np.random.default_rng([self.seed, 11, f])
        classes = nprng.choice(len(RECORD_CLASSES), size=n, p=[p for _, p in RECORD_CLASSES]).tolist()
        captures = (nprng.random((n, 4)) < [FORCE_CAPTURES[name] for name in IDENTIFIER_FIELDS]).tolist()
        keeps_maiden = (nprng.random(n) < FORCE_RECORDS_MAIDEN_NAME).tolist()
        maiden_full = (nprng.random(n) < 0.7).tolist()
        moved = (nprng.random(n) < MOVED_AWAY_SHARE).tolist()
        rng = random.Random(f"realistic:{self.seed}:held:{f}")
        records = []
        for i, person in enumerate(ids.tolist()):
            base = self._person(person, f"{prefix}-{i + 1:07d}")
            previous = base.previous_names if keeps_maiden[i] else ()
            if previous and not maiden_full[i]:
                previous = (previous[0].split()[-1],)
            postcode = base.postcode
            if int(self.world.area[person]) != f and moved[i]:
                postcode = self._postcode(f, rng.randrange(int(self.world.units_per_area[f])))
            record = Record(
                record_id=base.record_id,
                given_names=base.given_names,
                surname=base.surname,
                date_of_birth=base.date_of_birth,
                sex=base.sex,
                previous_names=previous,
                **{
                    name: (getattr(base, name) if captures[i][k] else "")
                    for k, name in enumerate(IDENTIFIER_FIELDS)
                },
                postcode=postcode,
            )
            record_class = RECORD_CLASSES[classes[i]][0]
            record, kinds = apply_errors(record, self.context(person, f, record_class), rng, "held")
            self._held_kinds[(code, record.record_id)] = tuple(kinds)
            self._held_class[(code, record.record_id)] = record_class
            records.append(record)
        return records

    # -- people as text -----------------------------------------------------------------------------

    def _postcode(self, f: int, unit: int) -> str:
        """Postcode unit ``unit`` of force area ``f``: distinct units get distinct postcodes (up to 80,000
        units an outward area), scattered by a multiplier prime to the number of codes."""
        areas = self._areas[f]
        codes = len(areas) * 20 * 10 * 400
        rest, area = divmod(unit * 104_729 % codes, len(areas))
        rest, district = divmod(rest, 20)
        rest, digit = divmod(rest, 10)
        first, second = divmod(rest, 20)
        return f"{areas[area]}{district + 1} {digit}{_INWARD_LETTERS[first]}{_INWARD_LETTERS[second]}"

    def _surname_text(self, person: int) -> str:
        w, names = self.world, self.book.surnames
        female = bool(w.female[person])
        first = names[int(w.surname[person])]
        second = int(w.surname2[person])
        text = female_surname(first) if female else first
        if second >= 0:
            other = female_surname(names[second]) if female else names[second]
            text = f"{text} {other}" if (int(w.bits[person]) >> 5) % 7 == 0 else f"{text}-{other}"
        return text

    def _given_text(self, person: int) -> str:
        w, names = self.world, self.book.forenames
        middle = int(w.middle[person])
        first = names[int(w.forename[person])]
        return f"{first} {names[middle]}" if middle >= 0 else first

    def _dob_text(self, person: int) -> str:
        return str(np.datetime64(int(self.world.dob[person]) - 719163, "D"))

    def _person(self, person: int, record_id: str) -> Record:
        """Everything true about a person: all identifiers they have, a maiden name as a previous name."""
        w = self.world
        female = bool(w.female[person])
        given, surname, dob = self._given_text(person), self._surname_text(person), self._dob_text(person)
        maiden = int(w.maiden[person])
        previous: tuple[str, ...] = ()
        if maiden >= 0:
            name = self.book.surnames[maiden]
            previous = (f"{given} {female_surname(name) if female else name}",)
        identifiers = make_identifiers(
            surname, dob, female, given, int(w.bits[person]), w.has[person].tolist()
        )
        return Record(
            record_id=record_id,
            given_names=given,
            surname=surname,
            date_of_birth=dob,
            sex="F" if female else "M",
            previous_names=previous,
            pnc_id=identifiers[0],
            ni_number=identifiers[1],
            passport_number=identifiers[2],
            driving_licence=identifiers[3],
            postcode=self._postcode(int(w.area[person]), int(w.unit[person])),
        )

    def _mates(self, person: int) -> list[int]:
        """The other people at the person's address."""
        hh = self.world.household[person]
        lo, hi = np.searchsorted(self._households_sorted, [hh, hh + 1])
        return [int(m) for m in self._by_household[lo:hi] if m != person]

    def _drawer(self, kind: str, group: int, female: bool) -> tuple[list[str], list[float]]:
        """Names and cumulative weights of one pool, for ``random.choices`` (built once per pool)."""
        key = (kind, group, female)
        if key not in self._draws:
            book = self.book
            if kind == "forename":
                pool, names = book.forename_pools[(group, female)], book.forenames
            else:
                pool, names = book.surname_pools[group], book.surnames
            self._draws[key] = ([names[i] for i in pool.indices.tolist()], np.cumsum(pool.probs).tolist())
        return self._draws[key]

    def context(self, person: int, f: int, record_class: RecordClass) -> Context:
        """What the error model may draw on for this person's record at force ``f``."""
        w = self.world
        group = int(w.group[person])
        female = bool(w.female[person])
        forenames, forename_cum = self._drawer("forename", group, female)
        surnames, surname_cum = self._drawer("surname", group, False)
        units = int(w.units_per_area[f])
        return Context(
            group=GROUPS[group],
            female=female,
            record_class=record_class,
            household_dobs=lambda: tuple(self._dob_text(m) for m in self._mates(person)),
            other_forename=lambda rng: rng.choices(forenames, cum_weights=forename_cum)[0],
            other_surname=lambda rng: rng.choices(surnames, cum_weights=surname_cum)[0],
            other_postcode=lambda rng: self._postcode(f, rng.randrange(units)),
        )

    def person_record(self, person_id: int) -> Record:
        if not 0 <= person_id < len(self.world):
            raise ValidationError("unknown person id", field="person_id")
        return self._person(person_id, f"PERSON-{person_id}")

    # -- queries ------------------------------------------------------------------------------------

    def sighting_detail(self, person_id: int, rng: random.Random) -> Sighting:
        """A vetting query for this person: what an applicant declares, with the query's own errors."""
        person = self.person_record(person_id)
        declared = {
            name: (getattr(person, name) if rng.random() < QUERY_DECLARES[name] else "")
            for name in IDENTIFIER_FIELDS
        }
        previous = person.previous_names if rng.random() < QUERY_DECLARES_MAIDEN_NAME else ()
        query = Record(
            record_id=f"Q-{rng.getrandbits(40):010x}",
            given_names=person.given_names,
            surname=person.surname,
            date_of_birth=person.date_of_birth,
            sex=person.sex,
            previous_names=previous,
            postcode=person.postcode,
            **declared,
        )
        home = int(self.world.area[person_id])
        record, kinds = apply_errors(query, self.context(person_id, home, "query"), rng, "query")
        return Sighting(record, tuple(kinds))

    def sighting(self, person_id: int, rng: random.Random) -> Record:
        return self.sighting_detail(person_id, rng).record

    def absent_id(self, rng: random.Random) -> int:
        """A person no force holds, from the same world (so possibly a held person's twin or son)."""
        return int(self._not_held[rng.randrange(self._not_held.size)])

    def absent_person(self, rng: random.Random) -> Record:
        return self.person_record(self.absent_id(rng))

    def relation(self, person_id: int) -> str:
        """How a person held nowhere is related to someone held: twin, namesake, household, or none."""
        w = self.world
        twin, namesake = int(w.twin[person_id]), int(w.namesake[person_id])
        if twin >= 0 and self._held[twin]:
            return "twin of a held person"
        if namesake >= 0 and self._held[namesake]:
            return "same-named father or son held"
        if any(self._held[m] for m in self._mates(person_id)):
            return "lives with a held person"
        return "unrelated"
