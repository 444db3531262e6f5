"""The one-person rule of the desk (``crossforce.client.personpick``) and what the profile keeps of it
(``crossforce.client.resolutions``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from crossforce.client.personpick import (
    Outcome,
    Touched,
    identifying,
    pick_person,
    shown_probability,
)
from crossforce.client.resolutions import RESOLUTIONS_FILE, Kept, Resolutions
from crossforce.domain import IndexRef
from crossforce.encoding.keytypes import (
    FORENAME_DOB,
    INITIAL_DOB,
    NAME_DOB,
    NAME_NODATE,
    NAME_YEAR,
    PHONETIC_DOB,
    PNC_ID,
    SURNAME_DOB,
)
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError

REF = IndexRef(epoch=1, version=3)
STRONG = (NAME_DOB, PHONETIC_DOB, INITIAL_DOB, SURNAME_DOB, FORENAME_DOB, NAME_NODATE, NAME_YEAR)


def touched(record_id: str, types: Iterable[int], *, person: str | None = None) -> Touched:
    """A record the tokens touched; ``person`` names whose tokens they are (same person, same tokens)."""
    owner = (person or record_id).encode()
    record = Record(record_id=record_id, given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
    return Touched(record=record, ref=REF, tokens=frozenset((t, owner + bytes([t])) for t in types))


def pick(*records: Touched, sent: Iterable[int] = ()) -> tuple[Outcome, list[str], list[str]]:
    sent_types = set(sent) or {t for r in records for t, _ in r.tokens}
    got = pick_person(records, sent_types=sent_types, records_held=1000)
    return got.outcome, [s.record_id for s in got.person], [s.record_id for s in got.candidates]


def test_one_persons_strong_keys_beside_anothers_name_disclose_only_the_first() -> None:
    outcome, person, candidates = pick(touched("A", STRONG), touched("B", (NAME_NODATE,)))
    assert outcome is Outcome.PERSON and person == ["A"] and candidates == ["A", "B"]


def test_an_identifier_beside_anothers_name_and_date_is_still_one_person() -> None:
    outcome, person, _ = pick(touched("A", (NAME_DOB,)), touched("B", (PNC_ID,)))
    assert outcome is Outcome.PERSON and len(person) == 1


def test_a_name_shared_by_twenty_namesakes_is_ambiguous_and_the_officer_chooses_one() -> None:
    namesakes = [touched(f"Q{i:02d}", (NAME_NODATE,), person="same name") for i in range(20)]
    got = pick_person(namesakes, sent_types={NAME_NODATE}, records_held=1000)
    assert got.outcome is Outcome.AMBIGUOUS and got.person == () and len(got.candidates) == 20
    assert "20 records agree equally" in got.reason
    chosen = got.choose("Q07")
    assert chosen.outcome is Outcome.PERSON and [s.record_id for s in chosen.person] == ["Q07"]


def test_a_name_alone_is_ambiguous_even_when_one_record_has_it() -> None:
    outcome, person, candidates = pick(touched("Q1", (NAME_NODATE, NAME_YEAR)))
    assert outcome is Outcome.AMBIGUOUS and person == [] and candidates == ["Q1"]


def test_two_people_agreeing_equally_are_a_tie_never_a_guess() -> None:
    outcome, person, candidates = pick(touched("X", STRONG), touched("Y", STRONG))
    assert outcome is Outcome.AMBIGUOUS and person == [] and sorted(candidates) == ["X", "Y"]


def test_duplicates_of_one_nominal_are_one_person() -> None:
    outcome, person, _ = pick(touched("N1", STRONG, person="p"), touched("N2", STRONG, person="p"))
    assert outcome is Outcome.PERSON and sorted(person) == ["N1", "N2"]


def test_a_record_whose_date_differs_loses_to_one_whose_date_agrees() -> None:
    outcome, person, _ = pick(touched("A", (NAME_DOB, NAME_NODATE)), touched("B", (NAME_NODATE,), person="b"))
    assert outcome is Outcome.PERSON and person == ["A"]


def test_namesakes_split_the_score_and_duplicates_share_one_part() -> None:
    namesakes = [touched(f"Q{i}", (NAME_NODATE,), person="same name") for i in range(4)]
    got = pick_person(namesakes, sent_types={NAME_NODATE}, records_held=1000)
    assert [round(s.share, 9) for s in got.candidates] == [0.25] * 4
    assert all(s.score < s.probability for s in got.candidates)
    records = [
        touched("N1", STRONG, person="p"),
        touched("N2", STRONG, person="p"),
        touched("B", (NAME_NODATE,)),
    ]
    shares = {
        s.record_id: s.share
        for s in pick_person(records, sent_types=set(STRONG), records_held=1000).candidates
    }
    assert shares["N1"] == shares["N2"] > 0.99 and shares["B"] < 0.01


def test_nothing_touched_is_no_match() -> None:
    assert pick() == (Outcome.NO_MATCH, [], [])


def test_choosing_a_record_the_tokens_did_not_touch_is_refused() -> None:
    got = pick_person([touched("A", STRONG)], sent_types=set(STRONG), records_held=10)
    with pytest.raises(ValidationError, match="not among the records"):
        got.choose("Z")


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ({"id": "exact"}, True),
        ({"forename": "exact", "surname": "exact", "dob": "full"}, True),
        ({"surname": "phonetic", "dob": "unordered"}, True),
        ({"forename": "exact", "surname": "exact"}, False),
        ({"forename": "exact", "surname": "exact", "dob": "year"}, False),
        ({"forename": "none", "surname": "none", "dob": "full"}, False),
    ],
)
def test_what_identifies_a_person(levels: dict[str, str], expected: bool) -> None:
    assert identifying(levels) is expected


def test_a_probability_is_never_shown_as_certain() -> None:
    assert (shown_probability(1.0), shown_probability(0.0), shown_probability(0.5)) == (
        ">0.99",
        "<0.01",
        "0.50",
    )


def test_resolutions_keep_the_chosen_person_with_why(tmp_path: Path) -> None:
    with Resolutions(tmp_path) as kept:
        kept.keep("r1", [Kept(ref=REF, record_id="A", key_types=(16, 17), probability=0.9, weight=20.0)])
        kept.keep("r2", [Kept(ref=REF, record_id="Q1", key_types=(26,), chosen=False)])
        assert kept.get("r1") == (
            Kept(ref=REF, record_id="A", key_types=(16, 17), probability=0.9, weight=20.0),
        )
        [undecided] = kept.get("r2") or ()
        assert undecided.chosen is False
        assert kept.get("r3") is None


def test_resolutions_kept_by_an_earlier_version_read_as_undecided(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / RESOLUTIONS_FILE) as conn:
        conn.execute(
            "CREATE TABLE resolved (request_id TEXT NOT NULL, epoch INTEGER NOT NULL, version INTEGER NOT "
            "NULL, record_id TEXT NOT NULL, PRIMARY KEY (request_id, record_id))"
        )
        conn.executemany("INSERT INTO resolved VALUES ('old', 1, 3, ?)", [("A",), ("B",)])
    with Resolutions(tmp_path) as kept:
        rows = kept.get("old") or ()
    assert [(r.record_id, r.key_types, r.chosen) for r in rows] == [("A", None, False), ("B", None, False)]
