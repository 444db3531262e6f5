"""The force simulator that tests, demo and benchmarks share instead of mocks.

It must be reproducible (a seed is a whole world), sized like the real forces, hold some people at
several forces, and every kind of error it can put into a sighting must really change the record and
still give a record the file format accepts.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.client.recordfile import load_records, write_records
from crossforce.encoding.recordrules import validate_record
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.forces import sizes_for_total
from crossforce.testkit.simulate import (
    CORRUPTIONS,
    ForceSimulator,
    Level,
    as_query,
    corrupt,
    corrupt_with_log,
    fold_accents,
)

SMALL = ["metropolitan", "kent", "dyfed-powys", "cumbria"]


@pytest.fixture(scope="module")
def sim() -> ForceSimulator:
    return ForceSimulator(42, 20_000, forces=SMALL, shared_fraction=0.05)


def test_same_seed_same_world_different_seed_different_world() -> None:
    a = ForceSimulator(5, 5000, forces=SMALL)
    b = ForceSimulator(5, 5000, forces=SMALL)
    c = ForceSimulator(6, 5000, forces=SMALL)
    for code in SMALL:
        assert a.records_for(code) == b.records_for(code)
    assert a.people() == b.people()
    assert a.records_for("kent") != c.records_for("kent")
    person = next(iter(a.people()))
    assert a.sighting(person, random.Random(9)) == b.sighting(person, random.Random(9))
    assert a.absent_person(random.Random(3)) == b.absent_person(random.Random(3))


def test_records_for_is_stable_across_calls_and_order_of_calls() -> None:
    a = ForceSimulator(5, 5000, forces=SMALL)
    first_kent = a.records_for("kent")
    b = ForceSimulator(5, 5000, forces=SMALL)
    b.records_for("cumbria")
    assert b.records_for("kent") == first_kent == a.records_for("kent")


def test_all_43_forces_sized_in_proportion_to_population() -> None:
    sim = ForceSimulator(1, 100_000)
    assert len(sim.forces) == 43
    expected = sizes_for_total(100_000)
    for code in ("metropolitan", "city-of-london", "dyfed-powys", "west-midlands"):
        assert len(sim.records_for(code)) == expected[code]
    assert len(sim.records_for("metropolitan")) > 10 * len(sim.records_for("cumbria"))


def test_shared_people_are_held_by_two_or_more_forces_under_different_ids(sim: ForceSimulator) -> None:
    shared = sim.shared_people()
    total = sum(len(sim.records_for(code)) for code in SMALL)
    assert len(shared) > 0.01 * total
    by_id = {(code, r.record_id): r for code in SMALL for r in sim.records_for(code)}
    differs = 0
    for person in shared:
        held = sim.people()[person]
        assert len({code for code, _ in held}) == len(held) >= 2
        assert len({rid for _, rid in held}) == len(held)
        records = [by_id[pair] for pair in held]
        shapes = {(r.given_names, r.surname, r.date_of_birth) for r in records}
        differs += len(shapes) > 1
    # Each force typed its record separately, so some of them disagree on name or date.
    assert differs > 0.2 * len(shared)


def test_ground_truth_covers_every_record_exactly_once(sim: ForceSimulator) -> None:
    pairs = sorted(pair for held in sim.people().values() for pair in held)
    records = sorted((code, r.record_id) for code in SMALL for r in sim.records_for(code))
    assert pairs == records


def test_every_record_is_loadable_and_looks_british(sim: ForceSimulator, tmp_path: Path) -> None:
    records = [r for code in SMALL for r in sim.records_for(code)]
    path = tmp_path / "all.csv"
    write_records(path, records)
    assert load_records(path).records == records
    surnames = {r.surname for r in records}
    assert {"Smith", "Jones", "Patel", "Khan"} <= surnames
    assert any(s.startswith("O'") for s in surnames)
    assert any(s.startswith(("Mc", "Mac")) for s in surnames)
    assert any("-" in s for s in surnames)
    assert any(s.endswith("ska") for s in surnames)  # Polish surnames agree with sex
    assert 0.75 < sum(bool(r.pnc_id) for r in records) / len(records) < 0.9
    assert sum(bool(r.passport_number) for r in records) / len(records) < 0.3
    assert any(r.previous_names for r in records)
    ages = [2025 - int(r.date_of_birth[:4]) for r in records if r.date_of_birth]
    # Ages 16-90, apart from the few records another force typed with a wrong year.
    assert sum(15 <= a <= 91 for a in ages) / len(ages) > 0.99


# A record on which every corruption can act: accents, hyphens, middle names, a married name...
SPECIMENS = [
    Record(record_id="S1", given_names="Zoë Margaret", surname="Smith-Thompson", date_of_birth="1985-03-07",
           sex="F", previous_names=("Zoë Margaret Clarke",), pnc_id="98/123456G", ni_number="AB614273C",
           passport_number="514276831", driving_licence="SMITH853075ZM9AB", postcode="SW1A 1AA"),
    Record(record_id="S2", given_names="Mohammed Yusuf", surname="Chowdhury", date_of_birth="1990-11-02",
           sex="M", ni_number="JK761532A"),
    Record(record_id="S3", given_names="William", surname="McDonald", date_of_birth="1970-01-01", sex="M"),
    Record(record_id="S4", given_names="Lukasz", surname="Wisniewski", date_of_birth="1992-02-29", sex="M",
           passport_number="761234598"),
    Record(record_id="S5", given_names="Aleksandr", surname="Ivanov", date_of_birth="1980-12-25", sex="M"),
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_corruption_changes_the_record_and_keeps_it_loadable(name: str, sim: ForceSimulator) -> None:
    corruption = CORRUPTIONS[name]
    pool = SPECIMENS + sim.records_for("dyfed-powys")[:300]
    applied = 0
    for i, record in enumerate(pool):
        for seed in range(3):
            changed = corruption.apply(record, random.Random(f"{name}:{i}:{seed}"))
            if changed is None:
                continue
            applied += 1
            assert changed != record
            assert validate_record(changed) == changed, (name, record, changed)
    assert applied >= 3, f"{name} applied to almost nothing"


@pytest.mark.parametrize(
    ("name", "record", "expected"),
    [
        ("nickname", SPECIMENS[2], {"Bill", "Billy", "Will", "Willie", "Liam"}),
        (
            "transliteration",
            Record(record_id="T", given_names="Aleksandr", surname="Smith"),
            {"Alexander", "Aleksander", "Oleksandr", "Alexandr"},
        ),
    ],
)
def test_name_variants_come_from_the_right_family(name: str, record: Record, expected: set[str]) -> None:
    seen = set()
    for seed in range(40):
        changed = CORRUPTIONS[name].apply(record, random.Random(seed))
        assert changed is not None
        seen.add(changed.given_names.split()[0])
    assert seen <= expected and len(seen) >= 2


def test_date_corruptions_do_what_they_say() -> None:
    rng = random.Random(1)
    record = SPECIMENS[0]
    assert CORRUPTIONS["day_month_swap"].apply(record, rng) == _dob(record, "1985-07-03")
    assert CORRUPTIONS["day_month_swap"].apply(SPECIMENS[4], rng) is None  # 25 cannot be a month
    off = {_apply("year_off", record, random.Random(s)).date_of_birth[:4] for s in range(30)}
    assert off <= {"1984", "1986", "1975", "1995"} and len(off) >= 2
    typo = CORRUPTIONS["dob_digit_typo"].apply(record, rng)
    assert typo is not None
    assert sum(a != b for a, b in zip(typo.date_of_birth, record.date_of_birth, strict=True)) == 1
    assert CORRUPTIONS["missing_dob"].apply(record, rng) == _dob(record, "")


def _dob(record: Record, value: str) -> Record:
    return replace(record, date_of_birth=value)


def _apply(name: str, record: Record, rng: random.Random) -> Record:
    changed = CORRUPTIONS[name].apply(record, rng)
    assert changed is not None, f"{name} did not apply"
    return changed


def test_accents_and_marriage_and_hyphen() -> None:
    rng = random.Random(2)
    assert fold_accents("Zoë Łukasz Wiśniewska") == "Zoe Lukasz Wisniewska"
    dropped = CORRUPTIONS["accents_changed"].apply(SPECIMENS[0], rng)
    assert dropped is not None and dropped.given_names == "Zoe Margaret"
    added = CORRUPTIONS["accents_changed"].apply(SPECIMENS[3], rng)
    assert added is not None and not (added.given_names + added.surname).isascii()
    married = CORRUPTIONS["surname_change_marriage"].apply(SPECIMENS[0], rng)
    assert married is not None and married.surname == "Clarke"
    halves = {_apply("hyphenated_half_dropped", SPECIMENS[0], random.Random(s)).surname for s in range(20)}
    assert halves == {"Smith", "Thompson"}
    assert CORRUPTIONS["surname_change_marriage"].apply(SPECIMENS[2], rng) is None  # a man, no previous name


@pytest.mark.parametrize(("level", "low", "high"), [("none", 0, 0), ("light", 0, 1), ("default", 1, 2),
                                                     ("heavy", 2, 4)])  # fmt: skip
def test_levels_put_the_stated_number_of_errors_in(level: Level, low: int, high: int) -> None:
    rng = random.Random(level)
    counts = {len(corrupt_with_log(SPECIMENS[0], rng, level)[1]) for _ in range(200)}
    assert min(counts) == low and max(counts) == high
    with pytest.raises(ValidationError):
        corrupt(SPECIMENS[0], rng, "extreme")  # type: ignore[arg-type]


@given(seed=st.integers(0, 2**32), index=st.integers(0, 4))
@settings(max_examples=200, deadline=None)
def test_any_sighting_at_any_level_is_loadable(seed: int, index: int) -> None:
    rng = random.Random(seed)
    levels: tuple[Level, ...] = ("light", "default", "heavy")
    for level in levels:
        sighting = as_query(SPECIMENS[index], rng, level)
        validate_record(sighting.record)
        assert set(sighting.corruptions) <= set(CORRUPTIONS)


def test_sightings_and_absent_people(sim: ForceSimulator) -> None:
    rng = random.Random(4)
    person = sim.shared_people()[0]
    full = sim.person_record(person)
    detail = sim.sighting_detail(person, rng, "none")
    assert (detail.record.surname, detail.record.date_of_birth) == (full.surname, full.date_of_birth)
    assert detail.record.record_id.startswith("Q-")
    absent = [sim.absent_person(rng) for _ in range(50)]
    for record in absent:
        validate_record(record)
        assert not record.pnc_id  # never arrested, so no PNC ID
    assert len({r.record_id for r in absent}) == 50


def test_plant_puts_a_known_person_in_the_chosen_forces() -> None:
    sim = ForceSimulator(8, 4000, forces=SMALL)
    before = sim.records_for("kent")
    person = Record(record_id="X", given_names="Ada", surname="Lovelace", date_of_birth="1985-12-10", sex="F")
    pid = sim.plant(person, ["kent", "cumbria"])
    assert sim.holders(pid) == ["cumbria", "kent"]
    kent = sim.records_for("kent")
    assert kent[: len(before)] == before
    assert kent[-1].surname == "Lovelace" and kent[-1].record_id != "X"
    assert (("kent", kent[-1].record_id)) in sim.people()[pid]
    assert sim.sighting(pid, random.Random(1), "none").surname == "Lovelace"
    with pytest.raises(ValidationError):
        sim.plant(person, ["atlantis"])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValidationError):
        ForceSimulator(1, 0)
    with pytest.raises(ValidationError):
        ForceSimulator(1, 100, forces=["kent", "kent"])
    with pytest.raises(ValidationError):
        ForceSimulator(1, 100, shared_fraction=0.9)
    with pytest.raises(ValidationError):
        ForceSimulator(1, 100).records_for("atlantis")


def test_generation_is_fast() -> None:
    started = time.perf_counter()
    sim = ForceSimulator(3, 100_000)
    count = sum(len(sim.records_for(code)) for code in sim.forces)
    elapsed = time.perf_counter() - started
    assert count > 99_000
    assert elapsed < 6.0, f"{count / elapsed:.0f} records/s"  # a million in well under a minute


@pytest.mark.slow
def test_a_million_records_in_well_under_a_minute() -> None:
    started = time.perf_counter()
    sim = ForceSimulator(3, 1_000_000)
    count = sum(1 for _ in sim.iter_records())
    assert count > 999_000
    assert time.perf_counter() - started < 30
