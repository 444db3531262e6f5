"""Normalisation (docs/spec.md, "Normalisation"): each test is named after the real-world mess it covers."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.encoding.normalise import (
    fold_text,
    normalise_given_names,
    normalise_identifier,
    normalise_name,
    normalise_postcode,
    normalise_previous_name,
    normalise_surname,
    parse_date,
    parse_date_parts,
    postcode_district,
)
from crossforce.errors import ValidationError

TODAY = datetime.date(2025, 6, 1)


def _pnc(year: int, serial: int) -> str:
    check = "ZABCDEFGHJKLMNPQRTUVWXY"[int(f"{year % 100:02d}{serial:07d}") % 23]
    return f"{year}/{serial:07d}{check}"


# --- fold_text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("José", "jose"),
        ("ZOË", "zoe"),
        ("Straße", "strasse"),
        ("Ærø", "aero"),
        ("Øyvind", "oyvind"),
        ("Łukasz", "lukasz"),
        ("Đorđe", "dorde"),
        ("Þór", "thor"),
        ("Işık", "isik"),
        ("Œuvre", "oeuvre"),
        ("Smith-Jones", "smith jones"),
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("O´Brien", "obrien"),
        ("  lots   of\tspace ", "lots of space"),
        ("Smi\u00adth", "smith"),
        ("ＳＭＩＴＨ", "smith"),
        ("Nguyễn", "nguyen"),
    ],
)
def test_fold_text_accents_case_punctuation(raw: str, folded: str) -> None:
    assert fold_text(raw) == folded


def test_apostrophe_spellings_of_obrien_fold_alike() -> None:
    assert len({fold_text(s) for s in ("O'Brien", "O’Brien", "OBrien", "o`brien", "Oʼbrien")}) == 1


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fold_text_is_idempotent(s: str) -> None:
    once = fold_text(s)
    assert fold_text(once) == once
    assert once == once.strip() and "  " not in once


# --- names -----------------------------------------------------------------------------------------


def test_mac_and_mc_surnames_fold_alike() -> None:
    forms = {normalise_surname(s) for s in ("MacDonald", "McDonald", "Mac Donald", "mc donald", "MACDONALD")}
    assert len(forms) == 1


def test_particle_surname_gets_core_variant() -> None:
    sur = normalise_surname("van der Berg")
    assert sur is not None
    compact, _, variants = sur
    assert compact == "vanderberg" and "berg" in variants
    assert normalise_surname("Vanderberg") is not None


def test_dsouza_and_de_souza_share_core() -> None:
    a, b = normalise_surname("D'Souza"), normalise_surname("De Souza")
    assert a is not None and b is not None
    assert "souza" in a[2] and "souza" in b[2]


def test_obrien_keeps_its_o_prefix() -> None:
    sur = normalise_surname("O'Brien")
    assert sur == ("obrien", ("obrien",), ("obrien",))


def test_double_barrelled_surname_has_each_part() -> None:
    for raw in ("Smith-Jones", "Smith Jones", "SMITH–JONES"):
        sur = normalise_surname(raw)
        assert sur is not None
        assert sur[0] == "smithjones" and sur[1] == ("smith", "jones") and {"smith", "jones"} <= set(sur[2])


def test_spanish_conjunction_dropped_between_surnames() -> None:
    assert normalise_surname("García y López") == normalise_surname("Garcia Lopez")


def test_saint_abbreviation_agrees() -> None:
    assert normalise_surname("St. John") == normalise_surname("Saint John") == normalise_surname("St John")


def test_generational_suffix_dropped_from_surname() -> None:
    assert normalise_surname("Smith Jr") == normalise_surname("Smith")


def test_vietnamese_surname_le_alone_is_kept() -> None:
    assert normalise_surname("Le") == ("le", ("le",), ("le",))


@pytest.mark.parametrize("raw", ["", "   ", "UNKNOWN", "N/K", "not known", "J", "-"])
def test_placeholder_or_initial_surname_is_missing(raw: str) -> None:
    assert normalise_surname(raw) is None


def test_title_removed_from_forenames() -> None:
    assert normalise_given_names("Mr John Paul") == ("john", "paul")
    assert normalise_given_names("Dr") == ("dr",)  # a lone word is kept: it may be a name


def test_hyphenated_forename_gives_pieces_and_compound() -> None:
    assert normalise_given_names("Anne-Marie") == ("anne", "marie", "annemarie")


def test_dotted_initials_become_initials() -> None:
    assert normalise_given_names("J.P.") == ("j", "p")


def test_unknown_forename_is_empty() -> None:
    assert normalise_given_names("UNKNOWN") == ()


def test_name_first_forename_skips_leading_initial() -> None:
    name = normalise_name("J. Paul", "Smith")
    assert name is not None
    assert name.first_forename == "j" and name.full_forenames == ("paul",)


def test_previous_surname_only_borrows_current_forenames() -> None:
    name = normalise_previous_name("Evans", "Margaret")
    assert name is not None and name.given == ("margaret",) and name.surname == "evans"


def test_previous_full_name_keeps_its_own_forenames_and_particles() -> None:
    name = normalise_previous_name("Maria van der Berg", "Mary")
    assert name is not None and name.given == ("maria",) and name.surname == "vanderberg"


def test_previous_name_in_surname_comma_forename_order() -> None:
    name = normalise_previous_name("Smith-Jones, Anne", "Mary")
    assert name is not None and name.given == ("anne",) and name.surname == "smithjones"


# --- dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "1980-03-05",
        "05/03/1980",
        "5/3/1980",
        "05-03-1980",
        "05.03.1980",
        "19800305",
        "05031980",
        "5-Mar-1980",
        "05 MAR 1980",
        "5 March 1980",
        "March 5th, 1980",
        "1980/03/05",
        "1980-03-05T00:00:00",
        "1980-03-05 00:00",
    ],
)
def test_date_formats_seen_in_force_exports(raw: str) -> None:
    date = parse_date(raw, today=TODAY)
    assert date is not None and date.iso() == "1980-03-05"


@pytest.mark.parametrize(
    "raw", ["1980-02-30", "1981-02-29", "31/04/1980", "1899-12-31", "2030-01-01", "soon"]
)
def test_impossible_or_out_of_range_date_rejected(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_date(raw, today=TODAY)
    assert info.value.field == "date_of_birth"
    assert raw not in str(info.value)


def test_leap_day_accepted() -> None:
    date = parse_date("29/02/1980", today=TODAY)
    assert date is not None and (date.month, date.day) == (2, 29)


def test_empty_date_is_none() -> None:
    assert parse_date("", today=TODAY) is None
    assert parse_date_parts("  ", today=TODAY) is None


def test_date_with_one_bad_part_keeps_the_others() -> None:
    parts = parse_date_parts("1980-02-30", today=TODAY)
    assert parts is not None and not parts.valid
    assert (parts.year, parts.month, parts.day) == (1980, 2, 30)


def test_month_over_twelve_is_a_day_month_swap() -> None:
    parts = parse_date_parts("1980-13-05", today=TODAY)
    assert parts is not None and parts.month is None and parts.day_month_unordered == (5, 13)


@pytest.mark.parametrize("raw", ["03/1980", "1980-03", "1980-03-00", "00/03/1980"])
def test_day_unknown_keeps_year_and_month(raw: str) -> None:
    parts = parse_date_parts(raw, today=TODAY)
    assert parts is not None and not parts.valid
    assert (parts.year, parts.month, parts.day) == (1980, 3, None)


def test_year_typo_before_1900_drops_only_the_year() -> None:
    parts = parse_date_parts("1098-03-05", today=TODAY)
    assert parts is not None and parts.year is None and (parts.month, parts.day) == (3, 5)


# --- identifiers -----------------------------------------------------------------------------------


def test_pnc_long_and_short_forms_agree() -> None:
    long_form = _pnc(2001, 123456)
    short_form = long_form[2:5] + long_form[5:].lstrip("0")
    assert normalise_identifier("pnc_id", long_form) == normalise_identifier("pnc_id", short_form)
    assert normalise_identifier("pnc_id", long_form) == "01/123456" + long_form[-1]
    assert normalise_identifier("pnc_id", long_form.replace("/", "").lower()) == "01/123456" + long_form[-1]


def test_pnc_with_wrong_check_letter_rejected() -> None:
    good = _pnc(1999, 42)
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    with pytest.raises(ValidationError):
        normalise_identifier("pnc_id", bad)


def test_ni_number_spacing_and_missing_suffix_agree() -> None:
    forms = {
        normalise_identifier("ni_number", s)
        for s in ("JK 12 34 57 D", "jk123457d", "JK123457", "JK-12-34-57")
    }
    assert forms == {"JK123457"}


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("ni_number", "QQ123457C"),  # Q never issued first
        ("ni_number", "TN010180M"),  # temporary number
        ("ni_number", "AB000000A"),  # placeholder
        ("ni_number", "AB12345"),
        ("passport_number", "000000000"),
        ("passport_number", "123456789"),
        ("passport_number", "12"),
        ("driving_licence", "NOTALICENCE"),
        ("pnc_id", "2001/12345678A"),
        ("pnc_id", "2001/0000000Z"),
    ],
)
def test_malformed_or_placeholder_identifier_rejected_without_echoing_it(kind: str, raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_identifier(kind, raw)
    assert info.value.field == kind
    assert raw not in str(info.value) and raw.lower() not in str(info.value).lower()


@pytest.mark.parametrize("raw", ["", "  ", "N/K", "unknown", "NONE", "0"])
def test_not_known_identifier_is_none(raw: str) -> None:
    assert normalise_identifier("ni_number", raw) is None


def test_driving_licence_issue_number_dropped() -> None:
    assert normalise_identifier("driving_licence", "MORGA753116SM9IJ 35") == "MORGA753116SM9IJ"
    assert normalise_identifier("driving_licence", "morga 753116 sm9ij") == "MORGA753116SM9IJ"


def test_unknown_identifier_kind_rejected() -> None:
    with pytest.raises(ValidationError):
        normalise_identifier("shoe_size", "42")


def test_postcode_spacing_and_case_agree() -> None:
    assert normalise_postcode("ls1 4ab") == normalise_postcode("LS14AB") == "LS14AB"
    assert normalise_postcode("N/K") is None and normalise_postcode("XXX") is None


@pytest.mark.parametrize(
    ("raw", "district"),
    [
        ("LS1 4AB", "LS1"),
        ("sw1a 1aa", "SW1A"),
        ("B33 8TH", "B33"),
        ("M1 1AE", "M1"),
        ("EC1A1BB", "EC1A"),
        ("LS14", "LS14"),  # a bare outward code is its own district
        ("2615", "2615"),  # Australian
        ("27601", "27601"),  # US ZIP
    ],
)
def test_postcode_district_is_the_outward_code_of_a_uk_postcode_else_the_whole(
    raw: str, district: str
) -> None:
    postcode = normalise_postcode(raw)
    assert postcode is not None and postcode_district(postcode) == district
