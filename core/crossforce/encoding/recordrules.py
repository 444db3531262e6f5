"""The row rules of a force's record file, applied the same way to every record that enters the client.

A record reaches the encoder from a file (``crossforce.client.recordfile``), from the command line or from
a simulator; each passes through ``record_from_values`` or ``validate_record`` here, so one set of rules
decides what is a usable record (docs/records.md is the reference for people; this module is the truth):

- record_id and surname are required, plus given_names or at least one identifier.
- date_of_birth is a real date written YYYY-MM-DD, not before 1900 nor in the future; identifiers must
  pass the spec's own rules (``normalise.normalise_identifier``: shape, never-issued NI prefixes, the PNC
  check letter), so a value the index would silently drop is caught here.
- Placeholders (the spec's rules in ``crossforce.encoding.placeholders``, and ``PLACEHOLDER_DATES``:
  "Unk", "Female Child", "Baby Boy", a one-letter surname, John Doe, 1900-01-01) are values a clerk
  typed to fill a box. They are not matched: the field becomes empty and the row carries a warning, so
  "Unk Smith" keys only on what is real and two "Unknown" surnames never look like the same person.
  Every door (a file row, ``crossforce check`` options, a simulator's record) applies the same rules,
  and the key derivation ignores the same values.
- An error or warning names the source, line and field and never the value: these messages reach logs
  and terminals, and a record is personal data.

Pure: no file I/O (the architecture test holds ``crossforce.encoding`` to that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from crossforce.encoding import placeholders
from crossforce.encoding.normalise import (
    normalise_given_names,
    normalise_identifier,
    normalise_surname,
    parse_date,
)
from crossforce.encoding.records import FIELDS, IDENTIFIER_FIELDS, Record
from crossforce.errors import RecordError, ValidationError

MAX_FIELD_CHARS = 200
"""Longest value any field may hold; longer is a misaligned column, not a name."""
MAX_PREVIOUS_NAMES = 20
PREVIOUS_NAMES_SEPARATOR = ";"
REQUIRED_COLUMNS = ("record_id", "surname")
_SEX_VALUES = frozenset({"m", "f", "x", "u", "male", "female", "unknown"})

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_POSTCODE = re.compile(r"[A-Za-z0-9 ]{3,12}", re.ASCII)
"""Loose on purpose, like the spec's normalise_postcode: foreign and partial postcodes are kept."""

RowValues = dict[str, str | list[str]]
"""One row as read: every field a string, previous_names a list."""

PLACEHOLDER_NAMES: Final = placeholders.PLACEHOLDER_NAMES
"""Name values that stand for "not known", in the spec's ``placeholder_form`` (case, accents, dots and
punctuation other than "/" ignored: "N.K." is "nk", "N/K" is "n/k", "N K" two initials): the spec's
list (``crossforce.encoding.placeholders``), which the key derivation ignores too. Beside it the spec's
other rules: a forename field made only of words such as male, baby, child, unnamed ("Female Child",
"Baby Boy"), a surname of one letter or none, and "Doe" beside John or Jane. Each rule applies to a
whole field, never to a part of one: "Baby Jane" is a name.

Where they come from: the forms police nominal systems and vetting applications were seen to hold in
place of a name (issue 13: "Unk", "NFA", "Female Child" for an unnamed infant, "XX"/"ZZ" fillers,
"Of The House" for an occupier), and spec v1's missing values, which the key derivation ignored; reported
here, they are never dropped silently."""
PLACEHOLDER_DATES: Final = frozenset({"1900-01-01", "1901-01-01", "0001-01-01"})
"""Dates of birth that legacy systems write when the date is not known (the first day their date type
holds); matched, they would make every person "born" that day look alike."""
PLACEHOLDER_MESSAGE: Final = "is a placeholder for a value not known; treated as missing"


@dataclass(frozen=True)
class RecordWarning:
    """A field the rules emptied (a placeholder): names where and which field, never the value."""

    source: str
    line: int
    record_id: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}: " if self.source else ""
        who = f"{self.record_id}: " if self.record_id else ""
        return f"{where}{who}{self.field}: {self.message}"


@dataclass(frozen=True)
class CheckedRecord:
    """A record that passed the rules, and the warnings for the fields they emptied."""

    record: Record
    warnings: tuple[RecordWarning, ...] = ()


class _Problem(Exception):
    """A broken rule inside this module; turned into a RecordError or a ValidationError at the door."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def validate_record(record: Record, *, source: str = "<record>", line: int = 0) -> Record:
    """Apply the file format's rules to a record built in memory; returns it with outer spaces trimmed
    and placeholders emptied."""
    return check_record(record, source=source, line=line).record


def check_record(record: Record, *, source: str = "<record>", line: int = 0) -> CheckedRecord:
    """``validate_record`` with the warnings for the placeholders it emptied."""
    return read_row(_values_of(record), source, line)


def record_from_values(values: RowValues, source: str, line: int) -> Record:
    """Check one row's values and build its Record (values kept raw apart from outer whitespace)."""
    return read_row(values, source, line).record


def read_row(values: RowValues, source: str, line: int) -> CheckedRecord:
    """Check one row's values: the Record and its warnings, or a RecordError naming source:line:field."""
    try:
        return _checked(values, source, line, {})
    except _Problem as problem:
        raise RecordError(problem.message, source=source, line=line, field=problem.field) from None


def record_from_fields(values: RowValues, *, labels: Mapping[str, str]) -> CheckedRecord:
    """Check values typed as options (``crossforce check``): errors and warnings name the option.

    ``labels`` maps a field to what the person typed (``date_of_birth`` -> ``--dob``), so the message
    says which option to fix; a ValidationError is a bad-input exit at the CLI.
    """
    try:
        return _checked(values, "", 0, labels)
    except _Problem as problem:
        raise ValidationError(problem.message, field=labels.get(problem.field, problem.field)) from None


def _values_of(record: Record) -> RowValues:
    values: RowValues = {name: getattr(record, name) for name in FIELDS if name != "previous_names"}
    values["previous_names"] = list(record.previous_names)
    return values


def is_placeholder_name(value: str, *, surname: bool = False, given_names: str = "") -> bool:
    """True when a whole name field stands for "not known" by the spec's rules
    (``crossforce.encoding.placeholders``): a forename field or previous name by the forename rules, a
    surname by the surname rules, "Doe" included when ``given_names`` starts with John or Jane."""
    if not surname:
        return placeholders.is_placeholder_forenames(value)
    if placeholders.is_placeholder_surname(value):
        return True
    parsed, given = normalise_surname(value), normalise_given_names(given_names)
    return parsed is not None and placeholders.is_placeholder_doe(parsed[0], given[0] if given else None)


def _checked(values: RowValues, source: str, line: int, labels: Mapping[str, str]) -> CheckedRecord:
    text: dict[str, str] = {}
    for name in FIELDS:
        if name == "previous_names":
            continue
        raw = values.get(name, "")
        if not isinstance(raw, str):
            raise _Problem(name, "must be a string")
        value = raw.strip()
        if len(value) > MAX_FIELD_CHARS:
            raise _Problem(name, f"longer than {MAX_FIELD_CHARS} characters")
        if _CONTROL.search(value) or "\ufffd" in value:
            raise _Problem(name, "contains control or unreadable characters")
        text[name] = value

    previous_raw = values.get("previous_names", [])
    if not isinstance(previous_raw, list):
        raise _Problem("previous_names", "must be a list of names")
    previous = tuple(name.strip() for name in previous_raw if name.strip())
    if len(previous) > MAX_PREVIOUS_NAMES:
        raise _Problem("previous_names", f"more than {MAX_PREVIOUS_NAMES} previous names")
    for name in previous:
        if len(name) > MAX_FIELD_CHARS or _CONTROL.search(name) or "\ufffd" in name:
            raise _Problem("previous_names", "a previous name is too long or holds control characters")

    if not text["record_id"]:
        raise _Problem("record_id", "is required")
    if not text["surname"]:
        raise _Problem("surname", "is required")
    if not text["given_names"] and not any(text[name] for name in IDENTIFIER_FIELDS):
        raise _Problem("given_names", "is required when the record has no identifier")

    # Placeholders: after "is required" (a filled-in box was given), before the shape rules (a "?"
    # surname is "not known", not a surname without letters).
    emptied: list[str] = []
    if is_placeholder_name(text["surname"], surname=True, given_names=text["given_names"]):
        text["surname"] = ""
        emptied.append("surname")
    if text["given_names"] and is_placeholder_name(text["given_names"]):
        text["given_names"] = ""
        emptied.append("given_names")
    kept = tuple(name for name in previous if not is_placeholder_name(name))
    if len(kept) != len(previous):
        emptied.append("previous_names")
    previous = kept
    if text["date_of_birth"] in PLACEHOLDER_DATES:
        text["date_of_birth"] = ""
        emptied.append("date_of_birth")

    if text["surname"] and not _has_letter(text["surname"]):
        raise _Problem("surname", "has no letters")
    if text["given_names"] and not _has_letter(text["given_names"]):
        raise _Problem("given_names", "has no letters")
    if any(not _has_letter(name) for name in previous):
        raise _Problem("previous_names", "a previous name has no letters")
    if text["date_of_birth"] and not _valid_date(text["date_of_birth"]):
        raise _Problem("date_of_birth", "must be a real date of birth written YYYY-MM-DD, not in the future")
    if text["sex"] and text["sex"].lower() not in _SEX_VALUES:
        raise _Problem("sex", "must be M, F, X or U")
    for name in IDENTIFIER_FIELDS:
        if text[name]:
            try:
                normalise_identifier(name, text[name])
            except ValidationError as exc:
                # The spec's messages name the rule broken, never the value (crossforce.encoding.normalise).
                raise _Problem(name, str(exc).removeprefix(f"{name}: ")) from None
    if text["postcode"] and not _POSTCODE.fullmatch(text["postcode"]):
        raise _Problem("postcode", "must be letters, digits and spaces")

    record = Record(
        record_id=text["record_id"],
        surname=text["surname"],
        given_names=text["given_names"],
        date_of_birth=text["date_of_birth"],
        sex=text["sex"],
        previous_names=previous,
        pnc_id=text["pnc_id"],
        ni_number=text["ni_number"],
        passport_number=text["passport_number"],
        driving_licence=text["driving_licence"],
        postcode=text["postcode"],
    )
    warnings = tuple(
        RecordWarning(
            source=source,
            line=line,
            record_id=record.record_id,
            field=labels.get(name, name),
            message=PLACEHOLDER_MESSAGE,
        )
        for name in emptied
    )
    return CheckedRecord(record=record, warnings=warnings)


def _has_letter(value: str) -> bool:
    return any(ch.isalpha() for ch in value)


def _valid_date(value: str) -> bool:
    """YYYY-MM-DD only (the spec's parser is lenient; a file is not), then the spec's range rules."""
    if not _DATE_SHAPE.fullmatch(value):
        return False
    try:
        return parse_date(value) is not None
    except ValidationError:
        return False


# --- the cells a writer emits, so that what is written reads back unchanged ------------------


def check_writable(record: Record) -> None:
    for name in record.previous_names:
        if PREVIOUS_NAMES_SEPARATOR in name:
            raise ValidationError("a previous name contains ';'", field="previous_names")


def csv_cells(record: Record) -> list[str]:
    check_writable(record)
    return [
        PREVIOUS_NAMES_SEPARATOR.join(record.previous_names)
        if name == "previous_names"
        else getattr(record, name)
        for name in FIELDS
    ]


def json_object(record: Record) -> dict[str, str | list[str]]:
    check_writable(record)
    obj: dict[str, str | list[str]] = {}
    for name, value in zip(FIELDS, csv_cells(record), strict=True):
        if name == "previous_names":
            if record.previous_names:
                obj[name] = list(record.previous_names)
        elif value:
            obj[name] = value
    return obj
