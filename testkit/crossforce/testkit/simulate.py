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
``crossforce.encoding.recordrules.validate_record``; no real person's data is used.

The population is drawn in ``population``, the errors live in ``corruptions`` and ``name_errors``;
this module holds the forces, the ground truth and the queries, and re-exports the names callers use.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.errors import ValidationError
from crossforce.forces import all_forces, sizes_for_total
from crossforce.testkit import _names
from crossforce.testkit.corruptions import (
    CORRUPTIONS,
    LEVELS,
    Corruption,
    Level,
    corrupt,
    corrupt_with_log,
)
from crossforce.testkit.name_errors import with_fields
from crossforce.testkit.population import (
    draw_people,
    fold_accents,
    full_record,
    make_postcode,
    record_id_prefixes,
    render_people,
)

if TYPE_CHECKING:
    from crossforce.testkit.realistic import RealisticSimulator

__all__ = [
    "CORRUPTIONS",
    "LEVELS",
    "PROFILES",
    "Corruption",
    "ForceSimulator",
    "Level",
    "Profile",
    "Sighting",
    "as_query",
    "corrupt",
    "corrupt_with_log",
    "fold_accents",
    "make_simulator",
]

Profile = Literal["classic", "realistic"]
PROFILES: tuple[Profile, ...] = ("classic", "realistic")
"""classic: ``ForceSimulator``, a query carries a level's worth of weighted errors (``corrupt``);
realistic: ``realistic.RealisticSimulator``, every held record and query carries errors drawn per kind at
stated rates, names as common as in life, households (docs/records.md, "How real records go wrong")."""

FORCE_CAPTURES = {"pnc_id": 0.95, "ni_number": 0.6, "passport_number": 0.3, "driving_licence": 0.45}
"""Chance a force's record carries an identifier the person has."""
QUERY_DECLARES = {"pnc_id": 0.05, "ni_number": 0.8, "passport_number": 0.6, "driving_licence": 0.55}
"""Chance a vetting query carries an identifier the person has (candidates rarely know a PNC ID)."""
FORCE_RECORDS_MAIDEN_NAME = 0.6
QUERY_DECLARES_MAIDEN_NAME = 0.85
SHARED_FORCE_COUNTS = ((2, 0.7), (3, 0.2), (4, 0.1))
"""How many forces hold a shared person (most people known to two forces; a few to several)."""
MOVED_AWAY_SHARE = 0.5
"""Chance a second force holds a shared person at an address in its own area."""


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
        self._prefixes = record_id_prefixes(self.forces)
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
        self._people = draw_people(rng, next_id, held=True, force_weights=self._force_p)
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
        r = render_people(self._people, ids)
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
                postcode = make_postcode(self._areas[f], local_bits[i])
            else:
                postcode = make_postcode(self._areas[homes[i]], r.bits[i])
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
        return full_record(self._people, person_id, self._areas, f"PERSON-{person_id}")

    # -- queries ----------------------------------------------------------------------------------

    def sighting(self, person_id: int, rng: random.Random, level: Level = "default") -> Record:
        """A vetting query for this person, with the errors ``level`` puts into it."""
        return self.sighting_detail(person_id, rng, level).record

    def sighting_detail(self, person_id: int, rng: random.Random, level: Level = "default") -> Sighting:
        return as_query(self.person_record(person_id), rng, level)

    def absent_person(self, rng: random.Random) -> Record:
        """A person no force holds, drawn from the same name and age distributions (a namesake risk)."""
        nprng = np.random.default_rng(rng.getrandbits(64))
        people = draw_people(nprng, 1, held=False, force_weights=self._force_p)
        return full_record(people, 0, self._areas, f"ABSENT-{rng.getrandbits(32):08x}")

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
    query = with_fields(person, changes)
    if not query.given_names and not any(getattr(query, f) for f in IDENTIFIER_FIELDS):
        query = with_fields(query, {f: getattr(person, f) for f in IDENTIFIER_FIELDS})
    record, log = corrupt_with_log(query, rng, level)
    return Sighting(record, tuple(log))


def make_simulator(
    seed: int,
    total_records: int,
    *,
    profile: Profile = "classic",
    shared_fraction: float = 0.02,
    forces: Sequence[str] | None = None,
) -> ForceSimulator | RealisticSimulator:
    """The simulator of a profile (``PROFILES``), seeded and sized the same way for either."""
    if profile == "classic":
        return ForceSimulator(seed, total_records, shared_fraction=shared_fraction, forces=forces)
    if profile == "realistic":
        # Imported here: the realistic profile builds on this module (its Sighting, the classic constants).
        from crossforce.testkit.realistic import RealisticSimulator

        return RealisticSimulator(seed, total_records, shared_fraction=shared_fraction, forces=forces)
    raise ValidationError("unknown simulator profile", field="profile")
