"""Placeholder names (spec v2, "Placeholder names"): one rule, applied alike by the key derivation and by
the record rules at every door. Tests are named after the placeholder a clerk types, or the real name
that must not be mistaken for one."""

from __future__ import annotations

import pytest

from crossforce.encoding.matchkeys import key_bytes
from crossforce.encoding.normalise import normalise_given_names, normalise_name, normalise_previous_name
from crossforce.encoding.placeholders import (
    PLACEHOLDER_FORENAME_WORDS,
    PLACEHOLDER_NAMES,
    is_placeholder_forenames,
    is_placeholder_surname,
    placeholder_form,
)
from crossforce.encoding.recordrules import check_record, is_placeholder_name
from crossforce.encoding.records import Record

FORENAME_PLACEHOLDERS = [
    "Female Child", "Baby Boy", "Baby Girl", "Unnamed Male", "MALE", "Woman", "Infant Female", "Unk",
    "Unknown Person", "Child", "N/K", "n.k.", "NFA", "No Fixed Abode", "?", "XX",
]  # fmt: skip
FORENAME_NAMES = ["Baby Jane", "Boy George", "Unknown Smith", "Manuel", "Childs", "Ng", "A"]
SURNAME_PLACEHOLDERS = [
    "Q",
    "q.",
    "-",
    "Unk",
    "UNKNOWN",
    "Of The House",
    "Not Known",
    "NK",
    "N.K.",
    "Female Child",
]
SURNAME_NAMES = ["Xu", "Ng", "Of", "Houseman", "Doe", "Man", "Boy"]


def _record(given_names: str, surname: str) -> Record:
    return Record(record_id="R1", given_names=given_names, surname=surname, date_of_birth="1985-12-10")


@pytest.mark.parametrize("value", FORENAME_PLACEHOLDERS)
def test_forename_placeholder_keys_nothing_and_is_emptied_with_a_warning(value: str) -> None:
    assert normalise_given_names(value) == ()
    checked = check_record(_record(value, "Walsh"))
    assert checked.record.given_names == "" and [w.field for w in checked.warnings] == ["given_names"]
    assert key_bytes(_record(value, "Walsh")) == key_bytes(_record("", "Walsh"))


@pytest.mark.parametrize("value", FORENAME_NAMES)
def test_real_forename_with_a_placeholder_word_is_kept(value: str) -> None:
    assert normalise_given_names(value) != ()
    assert check_record(_record(value, "Walsh")).warnings == ()


@pytest.mark.parametrize("value", SURNAME_PLACEHOLDERS)
def test_surname_placeholder_keys_nothing_and_is_emptied_with_a_warning(value: str) -> None:
    assert normalise_name("Sean", value) is None
    checked = check_record(_record("Sean", value))
    assert checked.record.surname == "" and [w.field for w in checked.warnings] == ["surname"]


@pytest.mark.parametrize("value", SURNAME_NAMES)
def test_real_surname_like_a_placeholder_is_kept(value: str) -> None:
    assert normalise_name("Sean", value) is not None
    assert check_record(_record("Sean", value)).warnings == ()


@pytest.mark.parametrize(("given", "surname"), [("John", "Doe"), ("JANE", "doe"), ("Mr John Paul", "DOE")])
def test_john_or_jane_doe_surname_is_a_placeholder(given: str, surname: str) -> None:
    assert normalise_name(given, surname) is None
    checked = check_record(_record(given, surname))
    assert checked.record.surname == "" and checked.record.given_names == given
    assert normalise_previous_name(f"{given} {surname}", "Mary") is None


@pytest.mark.parametrize("given", ["Mary", "Jon", "Jack"])
def test_doe_beside_another_forename_is_a_surname(given: str) -> None:
    assert normalise_name(given, "Doe") is not None
    assert check_record(_record(given, "Doe")).warnings == ()


def test_placeholder_previous_name_is_dropped_and_a_placeholder_forename_borrows_the_current() -> None:
    assert normalise_previous_name("Female Child", "Ada") is None
    borrowed = normalise_previous_name("Female Child Brown", "Ada")
    assert borrowed is not None and borrowed.given == ("ada",) and borrowed.surname == "brown"
    checked = check_record(
        Record(record_id="R1", given_names="Ada", surname="Lovelace", previous_names=("Baby Boy",))
    )
    assert checked.record.previous_names == ()


def test_one_rule_the_record_rules_agree_with_the_key_derivation_on_every_listed_value() -> None:
    """Every door: what the record rules empty, the key derivation ignores, and the other way round."""
    for value in sorted(PLACEHOLDER_NAMES | PLACEHOLDER_FORENAME_WORDS):
        assert is_placeholder_name(value) == (normalise_given_names(value) == ()), value
        assert is_placeholder_name(value, surname=True) == (normalise_name("Ada", value) is None), value


@pytest.mark.parametrize("typed", ["N/K", "n/k", "N / K", "N.K.", "nk", "NK"])
def test_any_spelling_of_not_known_is_one_placeholder(typed: str) -> None:
    assert placeholder_form(typed) in {"n/k", "nk"}
    assert is_placeholder_surname(typed) and is_placeholder_forenames(typed)


@pytest.mark.parametrize("initials", ["N K", "N. A.", "N A", "N.A."])
def test_two_initials_are_not_n_a_or_n_k(initials: str) -> None:
    """Only the slash makes N/A "not applicable": "N A" is two initials (Nasreen Ayesha)."""
    assert normalise_given_names(initials) != ()
    assert check_record(_record(initials, "Islam")).warnings == ()
