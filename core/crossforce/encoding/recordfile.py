"""The record file format a force hands to its client: CSV with a header row, or JSON Lines.

Rules (docs/records.md is the reference for people; this module is the truth):

- Columns are exactly the names in ``crossforce.encoding.records.FIELDS``; a header or key outside them is an
  error naming the column, so a misspelt column can never silently drop data from the index.
- record_id and surname are required, plus given_names or at least one identifier; record_id is
  unique within a file (the first row keeps it, later ones are errors).
- date_of_birth is a real date written YYYY-MM-DD, not before 1900 nor in the future; identifiers
  must pass the spec's own rules (``crossforce.encoding.normalise.normalise_identifier``: shape, never-issued
  NI prefixes, the PNC check letter), so a value the index would silently drop is caught here.
- The file is UTF-8 (a leading BOM is allowed); blank lines and Windows newlines are ignored.
- An error names the file, line and field and never the value: these messages reach logs and
  terminals, and a record file is personal data.

By default the first bad row raises (a force must not publish an index built from half a file);
``skip_bad`` collects every error and keeps the good rows for a force that wants to publish anyway.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from crossforce.encoding.normalise import normalise_identifier, parse_date
from crossforce.encoding.records import FIELDS, IDENTIFIER_FIELDS, Record
from crossforce.errors import RecordError, ValidationError
from crossforce.fsutil import PRIVATE_FILE_MODE, fsync_dir

Format = Literal["csv", "jsonl"]

MAX_FIELD_CHARS = 200
"""Longest value any field may hold; longer is a misaligned column, not a name."""
MAX_PREVIOUS_NAMES = 20
PREVIOUS_NAMES_SEPARATOR = ";"
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_CSV_SUFFIXES = (".csv", ".txt")
_REQUIRED_COLUMNS = ("record_id", "surname")
_SEX_VALUES = frozenset({"m", "f", "x", "u", "male", "female", "unknown"})

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PRINTABLE_COLUMN = re.compile(r"[A-Za-z0-9_ -]{1,40}", re.ASCII)
_POSTCODE = re.compile(r"[A-Za-z0-9 ]{3,12}", re.ASCII)
"""Loose on purpose, like the spec's normalise_postcode: foreign and partial postcodes are kept."""


@dataclass
class LoadResult:
    """Good records in file order, and (only with ``skip_bad``) one error per bad row."""

    records: list[Record]
    errors: list[RecordError] = field(default_factory=list)


def load_records(path: Path, *, skip_bad: bool = False, fmt: Format | None = None) -> LoadResult:
    """Read a whole record file; raise the first RecordError unless ``skip_bad``."""
    result = LoadResult(records=[])
    for item in _iter_rows(Path(path), fmt):
        if isinstance(item, RecordError):
            if not skip_bad:
                raise item
            result.errors.append(item)
        else:
            result.records.append(item)
    return result


def iter_records(path: Path, *, fmt: Format | None = None) -> Iterator[Record]:
    """Stream records from a file too big to hold twice; raises at the first bad row.

    Rows before the bad one have already been yielded, so a caller building an index must discard
    what it built when this raises.
    """
    for item in _iter_rows(Path(path), fmt):
        if isinstance(item, RecordError):
            raise item
        yield item


def write_records(path: Path, records: Iterable[Record], *, fmt: Format | None = None) -> int:
    """Write records atomically (temp file then rename), mode 0600; return how many were written.

    The format follows the suffix (.jsonl/.ndjson or .csv). What this writes, ``load_records``
    reads back unchanged.
    """
    path = Path(path)
    fmt = fmt or _format_from_suffix(path)
    if fmt is None:
        raise ValidationError(f"cannot tell the format of {path.name}: use a .csv or .jsonl suffix")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(FIELDS)
                for record in records:
                    writer.writerow(_csv_cells(record))
                    count += 1
            else:
                for record in records:
                    handle.write(json.dumps(_json_object(record), ensure_ascii=False) + "\n")
                    count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return count


def validate_record(record: Record, *, source: str = "<record>", line: int = 0) -> Record:
    """Apply the file format's rules to a record built in memory; returns it with outer spaces trimmed."""
    values: RowValues = {name: getattr(record, name) for name in FIELDS if name != "previous_names"}
    values["previous_names"] = list(record.previous_names)
    return _record_from_values(values, source, line)


# --- reading ----------------------------------------------------------------------------------


def _format_from_suffix(path: Path) -> Format | None:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    return None


def _iter_rows(path: Path, fmt: Format | None) -> Iterator[Record | RecordError]:
    """Yield each row as a Record or the RecordError that describes it; the core of both readers."""
    source = path.name
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally; a generator cannot use `with` here
    except OSError as exc:
        raise RecordError(f"cannot open file ({exc.strerror})", source=source, line=0) from None
    try:
        lines = _DecodedLines(handle, source)
        fmt = fmt or _format_from_suffix(path) or lines.sniff()
        rows = _csv_rows(lines, source) if fmt == "csv" else _jsonl_rows(lines, source)
        seen: dict[str, int] = {}
        any_row = False
        for line, item in rows:
            any_row = True
            if isinstance(item, RecordError):
                yield item
                continue
            try:
                record = _record_from_values(item, source, line)
            except RecordError as exc:
                yield exc
                continue
            first = seen.setdefault(record.record_id, line)
            if first != line:
                yield RecordError(
                    f"duplicate record_id (first used on line {first})",
                    source=source,
                    line=line,
                    field="record_id",
                )
                continue
            yield record
        if not any_row:
            yield RecordError("file holds no records", source=source, line=max(1, lines.count))
    finally:
        handle.close()


class _DecodedLines:
    """Lines of a binary file decoded as UTF-8, remembering which physical lines would not decode.

    A bad line is passed on with replacement characters so the CSV reader keeps its place, and the
    row that spans it is reported as an encoding error instead of being parsed.
    """

    def __init__(self, handle: io.BufferedReader, source: str) -> None:
        self._handle = handle
        self._source = source
        self._pending: list[bytes] = []
        self.count = 0
        self.bad: set[int] = set()

    def sniff(self) -> Format:
        """Guess the format from the first non-blank byte: ``{`` means JSON Lines."""
        while True:
            raw = self._handle.readline()
            if not raw:
                return "csv"
            self._pending.append(raw)
            stripped = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
            if stripped:
                return "jsonl" if stripped.startswith(b"{") else "csv"

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._pending.pop(0) if self._pending else self._handle.readline()
        if not raw:
            raise StopIteration
        self.count += 1
        if self.count == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad.add(self.count)
            return raw.decode("utf-8", errors="replace")

    def encoding_error(self, first: int, last: int) -> RecordError | None:
        for line in range(first, last + 1):
            if line in self.bad:
                return RecordError("not valid UTF-8; save the file as UTF-8", source=self._source, line=line)
        return None


RowValues = dict[str, str | list[str]]


def _is_blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def _column_label(name: str, position: int) -> str:
    """Name a header cell in an error only if it looks like a column name, never like data."""
    return repr(name) if _PRINTABLE_COLUMN.fullmatch(name) else f"number {position}"


def _canonical_column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _csv_rows(lines: _DecodedLines, source: str) -> Iterator[tuple[int, RowValues | RecordError]]:
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    last_line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = reader.line_num
            last_line = line
            # csv messages describe the syntax ("unexpected end of data"), not the cell contents.
            yield line, RecordError(f"not valid CSV ({exc})", source=source, line=line)
            if header is None:
                return
            continue
        first, last_line = last_line + 1, reader.line_num
        bad_encoding = lines.encoding_error(first, last_line)
        if bad_encoding is not None:
            yield first, bad_encoding
            if header is None:
                return
            continue
        if _is_blank(cells):
            continue
        if header is None:
            try:
                header = _parse_header(cells, source, first)
            except RecordError as exc:
                yield first, exc
                return
            continue
        if len(cells) != len(header):
            message = f"row has {len(cells)} cells but the header has {len(header)}"
            yield first, RecordError(message, source=source, line=first)
            continue
        values: RowValues = dict(zip(header, cells, strict=True))
        previous = values.get("previous_names", "")
        assert isinstance(previous, str)
        values["previous_names"] = previous.split(PREVIOUS_NAMES_SEPARATOR)
        yield first, values
    if header is None and lines.count == 0:
        yield 1, RecordError("file is empty; a header row is required", source=source, line=1)


def _parse_header(cells: list[str], source: str, line: int) -> list[str]:
    columns = [_canonical_column(cell) for cell in cells]
    known = [c for c in columns if c in FIELDS]
    if not known:
        # Probably a data row: naming its cells would leak a person's details into the error.
        raise RecordError("first row is not a header (no known column names)", source=source, line=line)
    for position, (cell, column) in enumerate(zip(cells, columns, strict=True), start=1):
        if column not in FIELDS:
            label = _column_label(cell.strip(), position)
            raise RecordError(f"unknown column {label}", source=source, line=line, field=column or None)
        if columns.index(column) != position - 1:
            raise RecordError("column appears twice", source=source, line=line, field=column)
    for required in _REQUIRED_COLUMNS:
        if required not in columns:
            raise RecordError("required column is missing", source=source, line=line, field=required)
    return columns


def _jsonl_rows(lines: _DecodedLines, source: str) -> Iterator[tuple[int, RowValues | RecordError]]:
    for text in lines:
        line = lines.count
        if line in lines.bad:
            yield line, RecordError("not valid UTF-8; save the file as UTF-8", source=source, line=line)
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKeyError as exc:
            yield line, RecordError("key appears twice", source=source, line=line, field=exc.key)
            continue
        except json.JSONDecodeError as exc:
            # exc.msg describes the syntax only; exc.doc (the line itself) is never shown.
            message = f"not valid JSON ({exc.msg} at column {exc.colno})"
            yield line, RecordError(message, source=source, line=line)
            continue
        if not isinstance(obj, dict):
            yield line, RecordError("each line must be a JSON object", source=source, line=line)
            continue
        try:
            yield line, _json_values(obj, source, line)
        except RecordError as exc:
            yield line, exc


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__("duplicate key")
        self.key = key if key in FIELDS else "(unknown)"


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _json_values(obj: dict[str, object], source: str, line: int) -> RowValues:
    values: RowValues = {}
    for position, (key, value) in enumerate(obj.items(), start=1):
        if key not in FIELDS:
            raise RecordError(f"unknown key {_column_label(key, position)}", source=source, line=line)
        if value is None:
            values[key] = ""
        elif key == "previous_names" and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise RecordError("must be a list of strings", source=source, line=line, field=key)
            values[key] = [str(item) for item in value]
        elif key == "previous_names" and isinstance(value, str):
            values[key] = value.split(PREVIOUS_NAMES_SEPARATOR)
        elif isinstance(value, str):
            values[key] = value
        elif key == "record_id" and isinstance(value, int) and not isinstance(value, bool):
            values[key] = str(value)
        else:
            raise RecordError("must be a string", source=source, line=line, field=key)
    for required in _REQUIRED_COLUMNS:
        if required not in values:
            raise RecordError("required key is missing", source=source, line=line, field=required)
    return values


# --- validating -------------------------------------------------------------------------------


def _record_from_values(values: RowValues, source: str, line: int) -> Record:
    """Check one row's values and build its Record (values kept raw apart from outer whitespace)."""

    def fail(message: str, name: str) -> RecordError:
        return RecordError(message, source=source, line=line, field=name)

    text: dict[str, str] = {}
    for name in FIELDS:
        if name == "previous_names":
            continue
        raw = values.get(name, "")
        assert isinstance(raw, str)
        value = raw.strip()
        if len(value) > MAX_FIELD_CHARS:
            raise fail(f"longer than {MAX_FIELD_CHARS} characters", name)
        if _CONTROL.search(value) or "\ufffd" in value:
            raise fail("contains control or unreadable characters", name)
        text[name] = value

    previous_raw = values.get("previous_names", [])
    assert isinstance(previous_raw, list)
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


# --- writing ----------------------------------------------------------------------------------


def _check_writable(record: Record) -> None:
    for name in record.previous_names:
        if PREVIOUS_NAMES_SEPARATOR in name:
            raise ValidationError("a previous name contains ';'", field="previous_names")


def _csv_cells(record: Record) -> list[str]:
    _check_writable(record)
    return [
        PREVIOUS_NAMES_SEPARATOR.join(record.previous_names)
        if name == "previous_names"
        else getattr(record, name)
        for name in FIELDS
    ]


def _json_object(record: Record) -> dict[str, str | list[str]]:
    _check_writable(record)
    obj: dict[str, str | list[str]] = {}
    for name, value in zip(FIELDS, _csv_cells(record), strict=True):
        if name == "previous_names":
            if record.previous_names:
                obj[name] = list(record.previous_names)
        elif value:
            obj[name] = value
    return obj
