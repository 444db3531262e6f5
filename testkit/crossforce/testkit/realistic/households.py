"""Everyone who lives in the simulated force areas, held by a force or not, in households.

The realistic profile needs the people no force holds as well as those it does: a vetting applicant
held nowhere may share an address, a surname and a date of birth with a held twin, or a forename and
surname with a held father. So the world is built as households in each force area (adults only:
1-5 a household, mean about 1.96 [P], from 2.4 people a household [F, ONS Families and households 2020,
via CRATE] less children), sharing an address and usually a surname, with twins (``TWIN_SHARE``) and
sons named after their fathers (``NAMESAKE_SON_SHARE``) added, and postcodes shared by about
``PEOPLE_PER_POSTCODE`` people as real postcode units are. A force holds a share of its area's people
(``HELD_SHARE``, chosen in ``world``).

Invariants: a pure function of the numpy generator and the name book; arrays, not objects, so five
million people build in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossforce.testkit import _names
from crossforce.testkit.population import (
    AGES,
    DOUBLE_BARRELLED_SHARE,
    MIDDLE_NAME_SHARE,
    OTHER_MIDDLE_NAME_SHARE,
    PERSON_HAS,
    REFERENCE_DATE,
)
from crossforce.testkit.realistic.names import GROUPS, NameBook

ADULTS_PER_HOUSEHOLD = ((1, 0.33), (2, 0.47), (3, 0.13), (4, 0.05), (5, 0.02))
"""[P] Adults at one address (mean 1.96): 2.4 people a household [F, ONS] less about one in five children."""
MARRIED_PARTNER_SHARE = 0.6
"""[P] Couples sharing one surname (the woman's maiden name kept as her previous name)."""
CHILD_KEEPS_SURNAME = 0.9
"""[P] Adult children at home with the household's surname."""
TWIN_SHARE = 0.03
"""Share of people who are one of twins: about 1.5% of maternities are multiple (ONS Birth
characteristics; recalled, not re-read: verify before citing). A twin shares the birth surname and date,
and the address while under ``TWINS_LIVE_TOGETHER_UNDER``."""
TWINS_LIVE_TOGETHER_UNDER = 30
NAMESAKE_SON_SHARE = 0.005
"""[P] Men aged 36+ with an adult son of the same forename and surname at their address."""
PEOPLE_PER_POSTCODE = 40
"""About 1.5 million postcode units for 60 million people in England and Wales (approximate)."""
GENERAL_AGE_WEIGHT = np.where(AGES <= 65, 1.0, 1.0 - 0.8 * (AGES - 65) / 25)
"""[P] Adults of the general population by age: flat to 65, then thinning to a fifth at 90."""

_REFERENCE_ORDINAL = REFERENCE_DATE.toordinal()
_BRITISH = GROUPS.index("british")
_OTHER = GROUPS.index("other")


@dataclass
class World:
    """Everyone in the simulated areas as parallel arrays, one row per person."""

    area: npt.NDArray[np.int64]
    """Index of the force whose area the person lives in."""
    household: npt.NDArray[np.int64]
    unit: npt.NDArray[np.int64]
    """The household's postcode unit within its area."""
    group: npt.NDArray[np.int64]
    female: npt.NDArray[np.bool_]
    age: npt.NDArray[np.int64]
    dob: npt.NDArray[np.int64]
    """Proleptic Gregorian ordinal."""
    forename: npt.NDArray[np.int64]
    middle: npt.NDArray[np.int64]
    """Index into the name book's forenames, -1 for none."""
    surname: npt.NDArray[np.int64]
    surname2: npt.NDArray[np.int64]
    """Second half of a double-barrelled surname, -1 for none."""
    maiden: npt.NDArray[np.int64]
    twin: npt.NDArray[np.int64]
    """The person's twin, -1 for none."""
    namesake: npt.NDArray[np.int64]
    """Father or son of the same name at the address, -1 for none."""
    has: npt.NDArray[np.bool_]
    """(n, 4): identifiers the person has, IDENTIFIER_FIELDS order (a PNC ID only once held)."""
    bits: npt.NDArray[np.int64]
    units_per_area: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.area.size)


def _household_sizes(rng: np.random.Generator, people: int) -> npt.NDArray[np.int64]:
    sizes = np.array([k for k, _ in ADULTS_PER_HOUSEHOLD])
    p = np.array([w for _, w in ADULTS_PER_HOUSEHOLD])
    drawn = rng.choice(sizes, size=int(people / float(sizes @ p) * 1.2) + 5, p=p)
    cut = int(np.searchsorted(np.cumsum(drawn), people))
    out = drawn[: cut + 1].copy()
    out[-1] -= int(out.sum()) - people
    return out[out > 0]


def _draw_forenames(
    rng: np.random.Generator, book: NameBook, group: npt.NDArray[np.int64], female: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    n = group.size
    fgroup = group.copy()
    mix = rng.random(n) < _names.FORENAME_MIXING
    fgroup[mix & (group != _BRITISH)] = _BRITISH
    fgroup[mix & (group == _BRITISH) & (rng.random(n) < 0.25)] = _OTHER
    share = np.array([MIDDLE_NAME_SHARE.get(g, OTHER_MIDDLE_NAME_SHARE) for g in GROUPS])
    wants_middle = rng.random(n) < share[group]
    forename = np.empty(n, dtype=np.int64)
    middle = np.full(n, -1, dtype=np.int64)
    for g in range(len(GROUPS)):
        for is_female in (False, True):
            rows = np.flatnonzero((fgroup == g) & (female == is_female))
            if rows.size:
                pool = book.forename_pools[(g, is_female)]
                forename[rows] = pool.draw(rng, rows.size)
                mids = rows[wants_middle[rows]]
                middle[mids] = pool.draw(rng, mids.size)
    middle[middle == forename] = -1
    return forename, middle


def _surnames_in_group(
    rng: np.random.Generator, book: NameBook, group: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    out = np.empty(group.size, dtype=np.int64)
    for g in range(len(GROUPS)):
        rows = np.flatnonzero(group == g)
        out[rows] = book.surname_pools[g].draw(rng, rows.size)
    return out


def build_world(rng: np.random.Generator, book: NameBook, people_per_area: list[int]) -> World:
    """Households filling each area with ``people_per_area[f]`` adults, then twins and namesake sons."""
    sizes = [_household_sizes(rng, n) for n in people_per_area]
    hh_size = np.concatenate(sizes)
    hh_area = np.concatenate([np.full(s.size, f, dtype=np.int64) for f, s in enumerate(sizes)])
    units = np.maximum(1, np.array(people_per_area, dtype=np.int64) // PEOPLE_PER_POSTCODE)
    hh_unit = (rng.random(hh_size.size) * units[hh_area]).astype(np.int64)
    hh_surname = book.national_surnames().draw(rng, hh_size.size)
    hh_surname2 = np.full(hh_size.size, -1, dtype=np.int64)
    hh_group = book.surname_group[hh_surname]
    barrelled = np.flatnonzero((hh_group == _BRITISH) & (rng.random(hh_size.size) < DOUBLE_BARRELLED_SHARE))
    hh_surname2[barrelled] = book.surname_pools[_BRITISH].draw(rng, barrelled.size)
    hh_surname2[hh_surname2 == hh_surname] = -1
    head_age = rng.choice(AGES, size=hh_size.size, p=GENERAL_AGE_WEIGHT / GENERAL_AGE_WEIGHT.sum())
    head_female = rng.random(hh_size.size) < 0.5
    married = rng.random(hh_size.size) < MARRIED_PARTNER_SHARE

    household = np.repeat(np.arange(hh_size.size, dtype=np.int64), hh_size)
    starts = np.cumsum(hh_size) - hh_size
    role = np.arange(household.size, dtype=np.int64) - starts[household]
    n = household.size
    h_age = head_age[household]
    is_head, is_partner, is_other = role == 0, role == 1, role >= 2
    female = np.where(is_head, head_female[household], rng.random(n) < 0.5)
    female[is_partner] = ~head_female[household[is_partner]] ^ (rng.random(int(is_partner.sum())) < 0.05)
    age = h_age.copy()
    age[is_partner] += np.rint(rng.normal(0, 3, int(is_partner.sum()))).astype(np.int64)
    child_age = h_age - rng.integers(20, 41, size=n)
    sibling_age = h_age + np.rint(rng.normal(0, 5, n)).astype(np.int64)
    is_child = is_other & (child_age >= AGES[0])
    age[is_other] = np.where(is_child, child_age, sibling_age)[is_other]
    age = np.clip(age, AGES[0], AGES[-1])

    surname = hh_surname[household].copy()
    surname2 = hh_surname2[household].copy()
    own = (is_partner & ~married[household]) | (is_child & (rng.random(n) < 1 - CHILD_KEEPS_SURNAME))
    own |= is_other & ~is_child & (rng.random(n) < 0.5)
    own_rows = np.flatnonzero(own)
    surname[own_rows] = _surnames_in_group(rng, book, hh_group[household[own_rows]])
    surname2[own_rows] = -1
    group = book.surname_group[surname]
    maiden = np.full(n, -1, dtype=np.int64)
    wives = np.flatnonzero(female & ~own & (role <= 1) & married[household] & (hh_size[household] >= 2))
    single_wed = (age >= 25) & (rng.random(n) < 0.45) | (age >= 21) & (rng.random(n) < 0.2)
    wives = np.union1d(wives, np.flatnonzero(female & is_head & (hh_size[household] == 1) & single_wed))
    maiden[wives] = _surnames_in_group(rng, book, group[wives])
    maiden[maiden == surname] = -1

    area = hh_area[household]
    unit = hh_unit[household]
    world = World(
        area=area,
        household=household,
        unit=unit,
        group=group,
        female=female,
        age=age,
        dob=np.zeros(n, dtype=np.int64),
        forename=np.zeros(n, dtype=np.int64),
        middle=np.zeros(n, dtype=np.int64),
        surname=surname,
        surname2=surname2,
        maiden=maiden,
        twin=np.full(n, -1, dtype=np.int64),
        namesake=np.full(n, -1, dtype=np.int64),
        has=np.zeros((n, 4), dtype=np.bool_),
        bits=np.zeros(n, dtype=np.int64),
        units_per_area=units,
    )
    world.forename, world.middle = _draw_forenames(rng, book, group, female)
    world.dob = _REFERENCE_ORDINAL - ((age + rng.random(n)) * 365.2425).astype(np.int64) - 1
    world = _add_twins(rng, book, world)
    world = _add_namesake_sons(rng, book, world)
    m = len(world)
    rates = np.array([0.0, *(PERSON_HAS[f] for f in ("ni_number", "passport_number", "driving_licence"))])
    world.has = rng.random((m, 4)) < rates
    world.has[:, 3] &= world.age >= 17
    world.bits = rng.integers(0, 2**62, size=m, dtype=np.int64)
    return world


_PERSON_FIELDS = (
    "area", "household", "unit", "group", "female", "age", "dob", "forename", "middle", "surname", "surname2",
    "maiden", "twin", "namesake",
)  # fmt: skip


def _append(world: World, rows: npt.NDArray[np.int64], **changes: npt.NDArray[np.int64]) -> World:
    """Copies of ``rows`` with some fields replaced, appended to the world."""
    fields = {}
    for name in _PERSON_FIELDS:
        old = getattr(world, name)
        new = changes.get(name, old[rows])
        fields[name] = np.concatenate([old, new])
    return World(**fields, has=world.has, bits=world.bits, units_per_area=world.units_per_area)


def _add_twins(rng: np.random.Generator, book: NameBook, world: World) -> World:
    n = len(world)
    firsts = rng.choice(n, size=int(n * TWIN_SHARE / 2), replace=False).astype(np.int64)
    k = firsts.size
    birth_surname = np.where(world.maiden[firsts] >= 0, world.maiden[firsts], world.surname[firsts])
    female = np.where(rng.random(k) < 2 / 3, world.female[firsts], ~world.female[firsts])
    apart = world.age[firsts] >= TWINS_LIVE_TOGETHER_UNDER
    household = world.household[firsts].copy()
    household[apart] = world.household.max() + 1 + np.arange(int(apart.sum()))
    unit = world.unit[firsts].copy()
    unit[apart] = (rng.random(int(apart.sum())) * world.units_per_area[world.area[firsts[apart]]]).astype(
        np.int64
    )
    forename, middle = _draw_forenames(rng, book, world.group[firsts], female)
    clash = forename == world.forename[firsts]
    forename[clash], _ = _draw_forenames(rng, book, world.group[firsts[clash]], female[clash])
    ids = np.arange(n, n + k, dtype=np.int64)
    out = _append(
        world, firsts, household=household, unit=unit, female=female, forename=forename, middle=middle,
        surname=birth_surname, surname2=np.full(k, -1, dtype=np.int64), maiden=np.full(k, -1, dtype=np.int64),
        twin=firsts, namesake=np.full(k, -1, dtype=np.int64),
    )  # fmt: skip
    out.twin[firsts] = ids
    return out


def _add_namesake_sons(rng: np.random.Generator, book: NameBook, world: World) -> World:
    n = len(world)
    fathers = np.flatnonzero(~world.female & (world.age >= 36) & (rng.random(n) < NAMESAKE_SON_SHARE))
    k = fathers.size
    age = np.maximum(AGES[0], world.age[fathers] - rng.integers(18, 36, size=k))
    dob = _REFERENCE_ORDINAL - ((age + rng.random(k)) * 365.2425).astype(np.int64) - 1
    _, middle = _draw_forenames(rng, book, world.group[fathers], world.female[fathers])
    ids = np.arange(n, n + k, dtype=np.int64)
    out = _append(
        world, fathers, age=age, dob=dob, middle=middle, twin=np.full(k, -1, dtype=np.int64),
        namesake=fathers, maiden=np.full(k, -1, dtype=np.int64),
    )  # fmt: skip
    out.namesake[fathers] = ids
    return out
