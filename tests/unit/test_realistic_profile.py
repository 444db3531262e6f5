"""The realistic simulator profile: errors at their stated rates, real name frequencies, same seed same world.

The quality benchmark's figures are only as honest as this profile: each error kind must happen at the
rate docs/records.md states for it (checked against a binomial tolerance over many pairs), Smith must
be as common as in the published table, the committed tables must be the ones the code pins, and the
classic profile every other test relies on must not move at all.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter

import pytest

from crossforce.encoding.recordrules import validate_record
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.testkit import _names
from crossforce.testkit.realistic import (
    ERROR_KINDS,
    Context,
    RealisticSimulator,
    Tally,
    apply_errors,
    name_book,
)
from crossforce.testkit.realistic.errors import KINDS_BY_NAME
from crossforce.testkit.realistic.names import DATA_SHA256, GROUPS, data_sha256
from crossforce.testkit.realistic.world import RECORD_CLASSES
from crossforce.testkit.simulate import LEVELS, ForceSimulator, make_simulator

SIGMAS = 4.0
"""Binomial tolerance: the draws are seeded, so this never flickers; at DRAWS a rate half or double the
stated one falls outside it for every kind."""

# Two people on whom every kind of error can act: a middle name, a nickname, an accent, a compound
# surname, a name from another script, a day of 12 or less, an identifier, a postcode.
SPECIMENS = (
    (
        Record(record_id="F", given_names="Margaret Aisha Zoë", surname="O'Brien-Patel", sex="F",
               date_of_birth="1984-03-07", ni_number="AB614273C", postcode="LS1 4AB"),
        Context(group="south_asian", female=True, record_class="intelligence",
                household_dobs=lambda: ("1950-02-03", "1984-03-07")),
    ),
    (
        Record(record_id="M", given_names="William Mohammed", surname="Wiśniewski-Khan", sex="M",
               date_of_birth="1979-11-05", passport_number="514276831", postcode="B12 9QQ"),
        Context(group="other", female=False, record_class="custody",
                household_dobs=lambda: ("2001-06-30",)),
    ),
)  # fmt: skip
DRAWS = 16_000


def _within(applied: int, eligible: int, rate: float) -> bool:
    return abs(applied - rate * eligible) <= SIGMAS * math.sqrt(eligible * rate * (1 - rate)) + 2


@pytest.fixture(scope="module")
def tally() -> Tally:
    tally = Tally()
    rng = random.Random(2026)
    for record, context in SPECIMENS:
        for _ in range(DRAWS):
            for side in ("held", "query"):
                apply_errors(record, context, rng, side, tally)
    return tally


@pytest.mark.parametrize("name", sorted(KINDS_BY_NAME))
def test_each_error_kind_happens_at_its_stated_rate(name: str, tally: Tally) -> None:
    kind = KINDS_BY_NAME[name]
    eligible, applied = tally.eligible[name], tally.applied[name]
    assert eligible >= DRAWS, f"{name} applied to only {eligible} of the specimen pairs"
    if kind.rate_female is None:
        assert _within(applied, eligible, kind.rate), (name, applied, eligible, kind.rate)
        return
    women, women_applied = tally.female_eligible[name], tally.female_applied[name]
    assert _within(women_applied, women, kind.rate_female), (name, women_applied, women)
    assert _within(applied - women_applied, eligible - women, kind.rate), (name, applied, eligible)


def test_every_kind_has_a_source_and_a_side() -> None:
    for kind in ERROR_KINDS:
        assert kind.source.startswith(("[F]", "[P]")), kind.name
        assert kind.side in ("held", "query")
        assert 0 < kind.rate < 1


@pytest.mark.parametrize("name", sorted(KINDS_BY_NAME))
def test_each_kind_changes_the_record_and_the_record_rules_accept_it(name: str) -> None:
    kind = KINDS_BY_NAME[name]
    for record, context in SPECIMENS:
        for seed in range(25):
            if not kind.applies(record, context):
                continue
            changed = kind.apply(record, context, random.Random(seed))
            assert changed != record, name
            validate_record(changed)


@pytest.fixture(scope="module")
def sim() -> RealisticSimulator:
    return RealisticSimulator(17, 20_000, shared_fraction=0.05)


def test_same_seed_same_world_and_errors_different_seed_different(sim: RealisticSimulator) -> None:
    again = RealisticSimulator(17, 20_000, shared_fraction=0.05)
    other = RealisticSimulator(18, 20_000, shared_fraction=0.05)
    assert again.records_for("kent") == sim.records_for("kent")
    assert [again.held_errors("kent", r.record_id) for r in again.records_for("kent")] == [
        sim.held_errors("kent", r.record_id) for r in sim.records_for("kent")
    ]
    assert other.records_for("kent") != sim.records_for("kent")
    person = sorted(sim.people())[5]
    assert again.sighting_detail(person, random.Random(4)) == sim.sighting_detail(person, random.Random(4))
    assert again.absent_id(random.Random(9)) == sim.absent_id(random.Random(9))


def test_held_records_are_valid_and_in_their_classes(sim: RealisticSimulator) -> None:
    classes: Counter[str] = Counter()
    no_dob = total = 0
    for code in sim.forces:
        for record in sim.records_for(code):
            validate_record(record)
            classes[sim.record_class(code, record.record_id)] += 1
            no_dob += "held_no_dob" in sim.held_errors(code, record.record_id)
            total += 1
    assert sum(len(v) for v in sim.people().values()) == total
    for name, share in RECORD_CLASSES:
        assert _within(classes[name], total, share), (name, classes[name], total)
    # 25% of intelligence records, 30% of all: about 7.5% of held records have no date of birth.
    assert _within(no_dob, total, 0.3 * 0.25)


def test_smith_is_as_common_as_the_table_says(sim: RealisticSimulator) -> None:
    book = name_book()
    smith = book.surnames.index("Smith")
    assert book.surname_share[smith] == pytest.approx(0.0115, rel=1e-3)
    assert book.surname_share.sum() == pytest.approx(1.0)
    assert book.listed_surnames == 500 and len(book.surnames) > 20_000  # a long tail of rare names
    for g, group in enumerate(GROUPS):
        share = float(book.surname_share[book.surname_group == g].sum())
        assert share == pytest.approx(_names.GROUP_SHARES[group], abs=1e-3)
    world = sim.world
    seen = int((world.surname == smith).sum())
    # Households share surnames, so the count varies more than a binomial: allow twice the spread.
    assert abs(seen - 0.0115 * len(world)) <= 2 * SIGMAS * math.sqrt(0.0115 * len(world)), (seen, len(world))


def test_common_forenames_lead_and_the_tail_is_rare() -> None:
    book = name_book()
    men = book.forename_pools[(GROUPS.index("british"), False)]
    names = [book.forenames[i] for i in men.indices[:3].tolist()]
    assert names == ["David", "Paul", "Christopher"]
    assert men.probs[0] == pytest.approx(0.025, rel=0.02)
    assert men.probs[:182].sum() == pytest.approx(0.75, rel=0.02)
    assert men.probs[-1] < 1e-3


def test_twins_and_namesake_sons_live_where_the_model_says(sim: RealisticSimulator) -> None:
    w = sim.world
    twins = [p for p in range(len(w)) if w.twin[p] >= 0]
    assert 0.028 < len(twins) / len(w) < 0.031  # 3% of the people first drawn, a pair each
    for p in twins[:200]:
        t = int(w.twin[p])
        assert w.dob[p] == w.dob[t] and int(w.twin[t]) == p
    sons = [p for p in range(len(w)) if w.namesake[p] >= 0]
    assert sons
    for p in sons[:100]:
        q = int(w.namesake[p])
        assert (w.forename[p], w.surname[p], w.household[p]) == (w.forename[q], w.surname[q], w.household[q])
        assert w.dob[p] != w.dob[q]
    relations = Counter(sim.relation(sim.absent_id(random.Random(i))) for i in range(400))
    assert relations["unrelated"] > 200 and relations["lives with a held person"] > 20


def test_data_files_are_the_pinned_ones_with_provenance_headers() -> None:
    from importlib import resources

    data = resources.files("crossforce.testkit").joinpath("data")
    for name, digest in DATA_SHA256.items():
        assert data_sha256(name) == digest, f"{name} changed: rerun scripts/make_name_classes.py and pin it"
        raw = data.joinpath(name).read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        text = raw.decode("utf-8")
        header = [line for line in text.splitlines() if line.startswith("#")]
        rows = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
        assert any(re.search(r"from faker \d+\.\d+\.\d+", line) for line in header)
        assert any("licence: MIT" in line for line in header)
        assert all(re.search(r"sha256=[0-9a-f]{64}$", line) for line in header if "source:" in line)
        assert len({len(row) for row in rows}) == 1 and len(rows) > 100
        key = [tuple(int(c) if c.isdigit() else c for c in row) for row in rows]
        assert key == sorted(key), f"{name} is not sorted"
    assert data.joinpath("SOURCES.md").is_file()


def test_classic_profile_unchanged() -> None:
    """A fingerprint of the classic simulator's records and sightings, taken before this profile existed."""
    fields = ("record_id", "given_names", "surname", "date_of_birth", "sex", "previous_names", "pnc_id",
              "ni_number", "passport_number", "driving_licence", "postcode")  # fmt: skip

    def line(record: Record) -> bytes:
        return "|".join(str(getattr(record, f)) for f in fields).encode()

    sim = ForceSimulator(11, 6000, forces=["kent", "cumbria", "metropolitan"], shared_fraction=0.05)
    digest = hashlib.sha256()
    for code in sim.forces:
        for record in sim.records_for(code):
            digest.update(line(record))
    rng = random.Random(3)
    people = sorted(sim.people())
    for level in LEVELS:
        for _ in range(200):
            s = sim.sighting_detail(rng.choice(people), rng, level)
            digest.update(line(s.record) + "|".join(s.corruptions).encode())
        digest.update(line(sim.absent_person(rng)))
    assert digest.hexdigest() == "6d52e0d3ea6b9f8c668954924211ac1207c71d558172afcff7246a5f655e8dbf"


def test_make_simulator_selects_the_profile() -> None:
    assert isinstance(make_simulator(1, 2000, forces=["kent"]), ForceSimulator)
    realistic = make_simulator(1, 2000, profile="realistic", forces=["kent", "cumbria"])
    assert isinstance(realistic, RealisticSimulator) and realistic.forces == ("kent", "cumbria")
    with pytest.raises(ValidationError):
        make_simulator(1, 2000, profile="fantasy")  # type: ignore[arg-type]
