"""The row rules of a force's record file, applied the same way to every record that enters the client.

A record reaches the encoder from a file (``crossforce.client.recordfile``), from the command line or from
a simulator; each passes through ``record_from_values`` or ``validate_record`` here, so one set of rules
decides what is a usable record (docs/records.md is the reference for people; this module is the truth):

- record_id and surname are required, plus given_names or at least one identifier.
- date_of_birth is a real date written YYYY-MM-DD, not before 1900 nor in the future; identifiers must
  pass the spec's own rules (``normalise.normalise_identifier``: shape, never-issued NI prefixes, the PNC
  check letter), so a value the index would silently drop is caught here.
- An error names the source, line and field and never the value: these messages reach logs and
  terminals, and a record is personal data.

Pure: no file I/O (the architecture test holds ``crossforce.encoding`` to that).
"""

from __future__ import annotations

import re

from crossforce.encoding.normalise import normalise_identifier, parse_date
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


def validate_record(record: Record, *, source: str = "<record>", line: int = 0) -> Record:
    """Apply the file format's rules to a record built in memory; returns it with outer spaces trimmed."""
    values: RowValues = {name: getattr(record, name) for name in FIELDS if name != "previous_names"}
    values["previous_names"] = list(record.previous_names)
    return record_from_values(values, source, line)


def record_from_values(values: RowValues, source: str, line: int) -> Record:
    """Check one row's values and build its Record (values kept raw apart from outer whitespace)."""

    def fail(message: str, name: str) -> RecordError:
        return RecordError(message, source=source, line=line, field=name)

    text: dict[str, str] = {}
    for name in FIELDS:
        if name == "previous_names":
            continue
        raw = values.get(name, "")
        if not isinstance(raw, str):
            raise fail("must be a string", name)
        value = raw.strip()
        if len(value) > MAX_FIELD_CHARS:
            raise fail(f"longer than {MAX_FIELD_CHARS} characters", name)
        if _CONTROL.search(value) or "\ufffd" in value:
            raise fail("contains control or unreadable characters", name)
        text[name] = value

    previous_raw = values.get("previous_names", [])
    if not isinstance(previous_raw, list):
        raise fail("must be a list of names", "previous_names")
    previous = tuple(name.strip() for name in previous_raw if name.strip())
    if len(previous) > MAX_PREVIOUS_NAMES:
        raise fail(f"more than {MAX_PREVIOUS_NAMES} previous names", "previous_names")
    for name in previous:
        if len(name) > MAX_FIELD_CHARS or _CONTROL.search(name) or "\ufffd" in name:
            raise fail("a previous name is too long or holds control characters", "previous_names")
        if not _has_letter(name):
            raise fail("a previous name has no letters", "previous_names")

    if not text["record_id"]:
        raise fail("is required", "record_id")
    if not text["surname"]:
        raise fail("is required", "surname")
    if not _has_letter(text["surname"]):
        raise fail("has no letters", "surname")
    if text["given_names"] and not _has_letter(text["given_names"]):
        raise fail("has no letters", "given_names")
    if not text["given_names"] and not any(text[name] for name in IDENTIFIER_FIELDS):
        raise fail("is required when the record has no identifier", "given_names")
    if text["date_of_birth"] and not _valid_date(text["date_of_birth"]):
        raise fail("must be a real date of birth written YYYY-MM-DD", "date_of_birth")
    if text["sex"] and text["sex"].lower() not in _SEX_VALUES:
        raise fail("must be M, F, X or U", "sex")
    for name in IDENTIFIER_FIELDS:
        if text[name]:
            try:
                normalise_identifier(name, text[name])
            except ValidationError as exc:
                # The spec's messages name the rule broken, never the value (crossforce.encoding.normalise).
                raise fail(str(exc).removeprefix(f"{name}: "), name) from None
    if text["postcode"] and not _POSTCODE.fullmatch(text["postcode"]):
        raise fail("must be letters, digits and spaces", "postcode")

    return Record(
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
