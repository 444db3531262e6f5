"""The record file format: what a force's file may hold, and how bad rows are reported.

Every error must point at file, line and field and must never echo the value: record files are
personal data and error messages end up in logs and terminals.
"""

from __future__ import annotations

import dataclasses
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.client.recordfile import iter_records, load_records, read_rows, write_records
from crossforce.encoding.matchkeys import key_bytes
from crossforce.encoding.recordrules import (
    PLACEHOLDER_DATES,
    PLACEHOLDER_MESSAGE,
    check_record,
    is_placeholder_name,
    record_from_fields,
    validate_record,
)
from crossforce.encoding.records import FIELDS, Record
from crossforce.errors import RecordError, ValidationError
from crossforce.testkit.simulate import ForceSimulator

HEADER = ",".join(FIELDS)
GOOD = "R1,Ada Mary,Lovelace,1985-12-10,F,Ada Byron,,,,,W1 1AA"


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@dataclass(frozen=True)
class Bad:
    name: str
    suffix: str
    content: bytes
    line: int
    field: str | None
    secret: str | None
    """A raw value from the bad row that must not appear in the message."""
    says: str = ""


BAD_INPUTS = [
    Bad("missing_surname", ".csv", _csv(GOOD, "R2,Zebedee,,1990-01-01,M,,,,,,"), 3, "surname", "Zebedee"),
    Bad(
        "impossible_date_30_february",
        ".csv",
        _csv("R2,Zebedee,Quill,2001-02-30,M,,,,,,"),
        2,
        "date_of_birth",
        "2001-02-30",
    ),
    Bad(
        "uk_order_date", ".csv", _csv("R2,Zebedee,Quill,30/01/2001,M,,,,,,"), 2, "date_of_birth", "30/01/2001"
    ),
    Bad("future_date", ".csv", _csv("R2,Zebedee,Quill,2999-01-01,M,,,,,,"), 2, "date_of_birth", "2999-01-01"),
    Bad(
        "unknown_column",
        ".csv",
        (HEADER + ",nickname\n" + GOOD + ",x\n").encode(),
        1,
        "nickname",
        None,
        "nickname",
    ),
    Bad(
        "duplicate_column",
        ".csv",
        (HEADER + ",surname\n" + GOOD + ",x\n").encode(),
        1,
        "surname",
        None,
        "twice",
    ),
    Bad("missing_required_column", ".csv", b"record_id,given_names\nR1,Ada\n", 1, "surname", None),
    Bad("no_header_row", ".csv", (GOOD + "\n").encode(), 1, None, "Lovelace", "header"),
    Bad("duplicate_record_id", ".csv", _csv(GOOD, GOOD.replace("Ada Mary", "Zebedee")), 3, "record_id", "R1"),
    Bad(
        "bad_encoding",
        ".csv",
        _csv(GOOD) + "R2,Zo\xeb,Quill,,,,,,,,\n".encode("latin-1"),
        3,
        None,
        "Quill",
        "UTF-8",
    ),
    Bad("empty_file", ".csv", b"", 1, None, None, "empty"),
    Bad("header_only", ".csv", (HEADER + "\n").encode(), 1, None, None, "no records"),
    Bad("ragged_row", ".csv", _csv("R2,Zebedee,Quill,,,,,,,,,extra"), 2, None, "Zebedee", "cells"),
    Bad("unterminated_quote", ".csv", _csv('R2,"Zebedee,Quill,,,,,,,,'), 2, None, "Zebedee", "CSV"),
    Bad("no_forename_no_identifier", ".csv", _csv("R2,,Quill,1990-01-01,,,,,,,"), 2, "given_names", "Quill"),
    Bad("control_character", ".csv", _csv("R2,Zebedee,Qu\x07ill,,,,,,,,"), 2, "surname", "Zebedee"),
    Bad(
        "ni_never_issued_prefix",
        ".csv",
        _csv("R2,Zebedee,Quill,,,,,QQ123456C,,,"),
        2,
        "ni_number",
        "QQ123456C",
    ),
    Bad("pnc_wrong_check_letter", ".csv", _csv("R2,Zebedee,Quill,,,,98/123456A,,,,"), 2, "pnc_id", "123456"),
    Bad(
        "licence_wrong_shape",
        ".csv",
        _csv("R2,Zebedee,Quill,,,,,,,QUILL12,"),
        2,
        "driving_licence",
        "QUILL12",
    ),
    Bad("sex_not_a_code", ".csv", _csv("R2,Zebedee,Quill,,Quilted,,,,,,"), 2, "sex", "Quilted"),
    Bad(
        "jsonl_non_object_line",
        ".jsonl",
        b'{"record_id":"R1","surname":"Smith","given_names":"Al"}\n["Quill"]\n',
        2,
        None,
        "Quill",
        "object",
    ),
    Bad("jsonl_invalid_json", ".jsonl", b'{"record_id":"R1","surname":"Quill"\n', 1, None, "Quill", "JSON"),
    Bad(
        "jsonl_unknown_key",
        ".jsonl",
        b'{"record_id":"R1","surname":"Quill","alias":"Zeb"}\n',
        1,
        None,
        "Zeb",
        "alias",
    ),
    Bad(
        "jsonl_number_surname",
        ".jsonl",
        b'{"record_id":"R1","surname":12345,"given_names":"Zeb"}\n',
        1,
        "surname",
        "12345",
    ),
    Bad(
        "jsonl_duplicate_key",
        ".jsonl",
        b'{"record_id":"R1","surname":"Quill","surname":"Zeb"}\n',
        1,
        "surname",
        "Zeb",
    ),
    Bad(
        "jsonl_missing_record_id",
        ".jsonl",
        b'{"surname":"Quill","given_names":"Zeb"}\n',
        1,
        "record_id",
        "Quill",
    ),
    Bad("jsonl_empty_file", ".jsonl", b"\n\n", 2, None, None, "no records"),
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda b: b.name)
def test_bad_input_names_file_line_and_field_never_the_value(tmp_path: Path, bad: Bad) -> None:
    path = tmp_path / f"force{bad.suffix}"
    path.write_bytes(bad.content)
    with pytest.raises(RecordError) as caught:
        load_records(path)
    err = caught.value
    message = str(err)
    assert err.source == path.name
    assert err.line == bad.line, message
    assert err.field == bad.field, message
    assert message.startswith(f"{path.name}:{bad.line}"), message
    if bad.field:
        assert f": {bad.field}:" in message
    if bad.secret:
        assert bad.secret not in message
        assert all(bad.secret not in str(arg) for arg in err.args)
    assert bad.says in message


def test_skip_bad_keeps_good_rows_and_reports_every_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "force.csv"
    path.write_bytes(
        _csv(
            GOOD,
            "R2,Zebedee,,1990-01-01,M,,,,,,",
            "R3,Bob,Quill,1990-02-03,M,,,,,,",
            "R4,Zebedee,Quill,2001-02-30,M,,,,,,",
            GOOD,
        )
    )
    result = load_records(path, skip_bad=True)
    assert [r.record_id for r in result.records] == ["R1", "R3"]
    assert [(e.line, e.field) for e in result.errors] == [
        (3, "surname"),
        (5, "date_of_birth"),
        (6, "record_id"),
    ]
    with pytest.raises(RecordError):
        load_records(path)


def test_skip_bad_carries_on_after_a_badly_encoded_line(tmp_path: Path) -> None:
    path = tmp_path / "force.csv"
    path.write_bytes(_csv(GOOD) + "R2,Zo\xeb,Quill,,,,,,,,\n".encode("latin-1") + b"R3,Bob,Quill,,,,,,,,\n")
    result = load_records(path, skip_bad=True)
    assert [r.record_id for r in result.records] == ["R1", "R3"]
    assert [e.line for e in result.errors] == [3]


def test_bom_windows_newlines_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "force.csv"
    text = "\r\n".join(["", HEADER, "", GOOD, "   ", "R2,Bob,Quill,,,,,,,,", "", ""])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    records = load_records(path).records
    assert [r.record_id for r in records] == ["R1", "R2"]
    assert records[0].previous_names == ("Ada Byron",)
    assert records[0].postcode == "W1 1AA"


def test_header_may_be_any_subset_in_any_order_and_case(tmp_path: Path) -> None:
    path = tmp_path / "force.csv"
    path.write_text("Surname, Record ID ,ni-number\nQuill,R9,AB 61 42 73 C\n", encoding="utf-8")
    (record,) = load_records(path).records
    assert record == Record(record_id="R9", surname="Quill", ni_number="AB 61 42 73 C")


def test_quoted_fields_may_hold_commas_quotes_and_newlines(tmp_path: Path) -> None:
    path = tmp_path / "force.csv"
    path.write_text(
        HEADER + '\nR1,"Mary, Jane","O\'Brien ""Jr""",,,,,,,,\nR2,Bob,Quill,,,,,,,,\n', encoding="utf-8"
    )
    records = load_records(path).records
    assert records[0].given_names == "Mary, Jane"
    assert records[0].surname == 'O\'Brien "Jr"'
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + '\nR1,"Mary\nJane",Quill,,,,,,,,\nR2,,Quill,,,,,,,,\n', encoding="utf-8")
    errors = load_records(bad, skip_bad=True).errors
    # A newline inside a name is refused, and the rows after it keep their physical line numbers.
    assert [(e.line, e.field) for e in errors] == [(2, "given_names"), (4, "given_names")]


def test_jsonl_previous_names_as_list_or_string_and_nulls_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "force.jsonl"
    path.write_text(
        '{"record_id": "R1", "surname": "Quill", "given_names": "Zoë", "previous_names": ["Zoë Smith"]}\n'
        "\n"
        '{"record_id": 2, "surname": "Quill", "given_names": "Bob", "previous_names": "A;B", "sex": null}\n',
        encoding="utf-8",
    )
    first, second = load_records(path).records
    assert first.previous_names == ("Zoë Smith",) and first.given_names == "Zoë"
    assert second.record_id == "2" and second.previous_names == ("A", "B") and second.sex == ""


def test_format_is_sniffed_when_the_suffix_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "force.export"
    path.write_text('{"record_id": "R1", "surname": "Quill", "given_names": "Bob"}\n', encoding="utf-8")
    assert load_records(path).records[0].surname == "Quill"
    path.write_text("record_id,surname,given_names\nR1,Quill,Bob\n", encoding="utf-8")
    assert load_records(path).records[0].surname == "Quill"


def test_iter_records_streams_and_raises_at_the_first_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "force.csv"
    path.write_bytes(_csv(GOOD, "R2,Bob,Quill,,,,,,,,", "R3,,,,,,,,,,"))
    stream = iter_records(path)
    assert next(stream).record_id == "R1"
    assert next(stream).record_id == "R2"
    with pytest.raises(RecordError) as caught:
        next(stream)
    assert caught.value.line == 4


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_simulated_records_round_trip_and_file_is_private(tmp_path: Path, suffix: str) -> None:
    sim = ForceSimulator(11, 3000, forces=["kent", "essex"], shared_fraction=0.1)
    records = sim.records_for("kent") + sim.records_for("essex")
    path = tmp_path / f"force{suffix}"
    assert write_records(path, records) == len(records)
    assert load_records(path).records == records
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_refuses_unknown_suffix_and_previous_name_with_separator(tmp_path: Path) -> None:
    record = Record(record_id="R1", surname="Quill", given_names="Bob")
    with pytest.raises(ValidationError):
        write_records(tmp_path / "force.xlsx", [record])
    bad = Record(record_id="R1", surname="Quill", given_names="Bob", previous_names=("A;B",))
    with pytest.raises(ValidationError):
        write_records(tmp_path / "force.csv", [bad])
    assert not (tmp_path / "force.csv").exists()


def test_validate_record_applies_the_file_rules_in_memory() -> None:
    assert validate_record(Record(record_id=" R1 ", surname=" Quill ", given_names="Bob")).surname == "Quill"
    with pytest.raises(RecordError) as caught:
        validate_record(
            Record(record_id="R1", surname="Quill", given_names="Bob", date_of_birth="1990-13-01")
        )
    assert caught.value.field == "date_of_birth"
    assert "1990-13-01" not in str(caught.value)


_NAME_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"), blacklist_characters="\ufffd"),
    min_size=1,
    max_size=40,
).map(str.strip)


@given(
    given_names=_NAME_TEXT.filter(lambda s: not is_placeholder_name(s)),
    surname=_NAME_TEXT.filter(
        lambda s: any(ch.isalpha() for ch in s) and not is_placeholder_name(s, surname=True)
    ),
    previous=st.lists(
        _NAME_TEXT.filter(
            lambda s: ";" not in s and any(c.isalpha() for c in s) and not is_placeholder_name(s)
        ),
        max_size=3,
    ),
    suffix=st.sampled_from([".csv", ".jsonl"]),
)
@settings(max_examples=60, deadline=None)
def test_any_valid_names_round_trip(
    tmp_path_factory: pytest.TempPathFactory, given_names: str, surname: str, previous: list[str], suffix: str
) -> None:
    given_clean = given_names if any(ch.isalpha() for ch in given_names) else ""
    record = Record(
        record_id="R1",
        given_names=given_clean,
        surname=surname,
        previous_names=tuple(previous),
        ni_number="" if given_clean else "AB614273C",
    )
    path = tmp_path_factory.mktemp("rt") / f"force{suffix}"
    write_records(path, [record])
    assert load_records(path).records == [record]


@pytest.mark.parametrize(("fence", "suffix"), [("csv", ".csv"), ("json", ".jsonl")])
def test_examples_in_the_format_doc_load(tmp_path: Path, fence: str, suffix: str) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "records.md").read_text(encoding="utf-8")
    example = doc.split(f"```{fence}\n", 1)[1].split("```", 1)[0]
    path = tmp_path / f"example{suffix}"
    path.write_text(example, encoding="utf-8")
    records = load_records(path).records
    assert [r.record_id for r in records][:2] == ["KE-0000001", "KE-0000002"]
    assert records[0].previous_names == ("Sarah Jane Whitlock",)


# --- whole-file errors are fatal, even with skip_bad (issue 13 item 5) ---------------------------------

WHOLE_FILE_ERRORS = [
    pytest.param(".csv", b"", 1, "file is empty", id="empty-file"),
    pytest.param(".csv", (HEADER + "\n").encode(), 1, "holds no records", id="header-only"),
    pytest.param(
        ".csv", (HEADER.replace(",", ";") + "\nR1;Ada;Lovelace;;;;;;;;\n").encode(), 1, "';'", id="semicolons"
    ),
    pytest.param(
        ".csv", (HEADER.replace(",", "\t") + "\nR1\tAda\tLovelace\n").encode(), 1, "a tab", id="tabs"
    ),
    pytest.param(
        ".csv", b"record_id,given_names\nR1,Ada\n", 1, "required column", id="missing-surname-column"
    ),
    pytest.param(".csv", b"Ada,Lovelace,1985-12-10\n", 1, "not a header", id="no-header"),
    pytest.param(".jsonl", b"\n\n", 2, "no records", id="jsonl-nothing"),
]


@pytest.mark.parametrize(("suffix", "content", "line", "says"), WHOLE_FILE_ERRORS)
def test_whole_file_error_is_fatal_even_when_skipping_bad_rows(
    tmp_path: Path, suffix: str, content: bytes, line: int, says: str
) -> None:
    path = tmp_path / f"candidates{suffix}"
    path.write_bytes(content)
    with pytest.raises(RecordError) as caught:
        load_records(path, skip_bad=True)
    assert caught.value.line == line and says in str(caught.value)
    assert str(caught.value).startswith(f"{path.name}:{line}")
    assert "Lovelace" not in str(caught.value)


def test_read_rows_gives_every_row_with_its_line_record_id_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "candidates.csv"
    path.write_bytes(_csv(GOOD, "R2,Zebedee,,1990-01-01,M,,,,,,", "R3,Unk,Quill,1900-01-01,,,,,,,", GOOD))
    rows = list(read_rows(path))
    assert [(r.line, r.record_id, r.record is not None) for r in rows] == [
        (2, "R1", True),
        (3, "R2", False),
        (4, "R3", True),
        (5, "R1", False),
    ]
    assert (
        rows[1].error is not None and rows[1].error.field == "surname" and rows[1].where == "candidates.csv:3"
    )
    assert rows[3].error is not None and "duplicate" in str(rows[3].error)
    assert [(w.field, w.line) for w in rows[2].warnings] == [("given_names", 4), ("date_of_birth", 4)]
    assert all("Unk" not in str(w) and "1900" not in str(w) for w in rows[2].warnings)
    loaded = load_records(path, skip_bad=True)
    assert [w.record_id for w in loaded.warnings] == ["R3", "R3"]


# --- placeholders are missing values, at every door (issue 13 item 7) ----------------------------------

NAME_PLACEHOLDERS = [
    "Unknown", "UNK", "unk", "NK", "N/K", "NFA", "Not Known", "None", "Male", "Female", "Female Child",
    "Male Child", "Baby", "Child", "Infant", "Person", "XX", "ZZ", "Of The House", "N/A", "  unknown  ",
]  # fmt: skip


@pytest.mark.parametrize("value", NAME_PLACEHOLDERS)
@pytest.mark.parametrize("field", ["given_names", "surname"])
def test_placeholder_name_becomes_missing_with_a_warning(field: str, value: str) -> None:
    record = Record(record_id="R1", given_names="Ada", surname="Lovelace", date_of_birth="1985-12-10")
    checked = check_record(dataclasses.replace(record, **{field: value}), source="f.csv", line=7)
    assert getattr(checked.record, field) == ""
    (warning,) = checked.warnings
    assert (warning.field, warning.line, warning.record_id) == (field, 7, "R1")
    assert str(warning) == f"f.csv:7: R1: {field}: {PLACEHOLDER_MESSAGE}"
    assert value.strip() not in str(warning)


@pytest.mark.parametrize("value", ["Q", "q", "?", "-", "Q."])
def test_one_letter_or_no_letter_surname_is_a_placeholder_but_a_forename_initial_is_kept(value: str) -> None:
    checked = check_record(Record(record_id="R1", given_names="A", surname=value, date_of_birth="1985-12-10"))
    assert checked.record.surname == "" and checked.record.given_names == "A"
    assert [w.field for w in checked.warnings] == ["surname"]


@pytest.mark.parametrize("value", sorted(PLACEHOLDER_DATES))
def test_placeholder_date_of_birth_becomes_missing_with_a_warning(value: str) -> None:
    checked = check_record(Record(record_id="R1", given_names="Ada", surname="Lovelace", date_of_birth=value))
    assert checked.record.date_of_birth == ""
    assert [w.field for w in checked.warnings] == ["date_of_birth"]


def test_placeholder_previous_names_are_dropped_and_real_ones_kept() -> None:
    record = Record(
        record_id="R1", given_names="Ada", surname="Lovelace", previous_names=("Unknown", "Ada Byron")
    )
    checked = check_record(record)
    assert checked.record.previous_names == ("Ada Byron",)
    assert [w.field for w in checked.warnings] == ["previous_names"]


@pytest.mark.parametrize(
    "value", ["Baby Jane", "Childs", "Maleki", "Person-Smith", "Xu", "Of", "Unknown Smith", "Ng", "Li"]
)
def test_names_that_only_contain_a_placeholder_are_real_names(value: str) -> None:
    checked = check_record(
        Record(record_id="R1", given_names=value, surname=value, date_of_birth="1985-12-10")
    )
    assert (checked.record.given_names, checked.record.surname) == (value, value)
    assert checked.warnings == ()


def test_unk_smith_keys_only_on_what_is_real() -> None:
    placeholder = check_record(
        Record(record_id="R1", given_names="Unk", surname="Smith", date_of_birth="1985-12-10")
    )
    real = Record(record_id="R1", surname="Smith", date_of_birth="1985-12-10")
    assert key_bytes(placeholder.record) == key_bytes(real)
    both = check_record(Record(record_id="R2", given_names="Unk", surname="Unk", date_of_birth="1985-12-10"))
    assert key_bytes(both.record) == []  # no key: a vetting check refuses it as keyless


def test_options_door_names_the_option_for_errors_and_warnings() -> None:
    labels = {"date_of_birth": "--dob", "surname": "--surname", "sex": "--sex"}
    values: dict[str, str | list[str]] = {"record_id": "c", "given_names": "Ada", "surname": "Lovelace"}
    with pytest.raises(ValidationError) as caught:
        record_from_fields({**values, "date_of_birth": "2999-01-01"}, labels=labels)
    assert str(caught.value).startswith("--dob: ") and "2999" not in str(caught.value)
    with pytest.raises(ValidationError, match=r"^--sex: "):
        record_from_fields({**values, "sex": "banana"}, labels=labels)
    checked = record_from_fields({**values, "surname": "Unk", "date_of_birth": "1985-12-10"}, labels=labels)
    assert [w.field for w in checked.warnings] == ["--surname"] and checked.record.surname == ""
