"""The record file format a force hands to its client: CSV with a header row, or JSON Lines.

Columns are exactly the names in ``crossforce.encoding.records.FIELDS``; a header or key outside them is an
error naming the column, so a misspelt column can never silently drop data from the index. The file is
UTF-8 (a leading BOM is allowed); blank lines and Windows newlines are ignored; record_id is unique within
a file (the first row keeps it, later ones are errors). Each row then passes the one set of row rules in
``crossforce.encoding.recordrules``. An error names the file, line and field and never the value.

By default the first bad row raises (a force must not publish an index built from half a file);
``skip_bad`` collects every error and keeps the good rows for a force that wants to publish anyway.
A problem with the whole file (empty, no header row, a delimiter other than the comma, an unknown or
missing required column, no records at all) always raises, with or without ``skip_bad``: nothing in
such a file can be trusted, and "0 records checked, exit 0" must never be the answer to it.
``read_rows`` gives every row with its line, record or error, and warnings (placeholders emptied), for a
caller that reports each row (``crossforce check-batch`` writes one result line per row).

The module is over 400 lines because the CSV and JSON Lines readers share one line decoder, one set of
whole-file and row errors and one writer that must read back unchanged; split apart, the two formats'
rules could drift.
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

from crossforce.encoding.recordrules import (
    PREVIOUS_NAMES_SEPARATOR,
    REQUIRED_COLUMNS,
    RecordWarning,
    RowValues,
    csv_cells,
    json_object,
    read_row,
)
from crossforce.encoding.records import FIELDS, Record
from crossforce.errors import RecordError, ValidationError
from crossforce.fsutil import PRIVATE_FILE_MODE, fsync_dir

Format = Literal["csv", "jsonl"]

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_CSV_SUFFIXES = (".csv", ".txt")
_PRINTABLE_COLUMN = re.compile(r"[A-Za-z0-9_ -]{1,40}", re.ASCII)
_PRINTABLE_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


_DELIMITERS = (";", "\t", "|")
"""Separators people export by mistake (a spreadsheet's regional CSV, TSV): named in the error."""


@dataclass
class LoadResult:
    """Good records in file order, (only with ``skip_bad``) one error per bad row, and the warnings
    of the good rows (placeholders emptied)."""

    records: list[Record]
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """One row of a record file: where it is, and its record or the error that refused it."""

    source: str
    line: int
    record_id: str
    """The row's record_id when it could be read ("" when the row is too broken to say)."""
    record: Record | None
    error: RecordError | None
    warnings: tuple[RecordWarning, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def load_records(path: Path, *, skip_bad: bool = False, fmt: Format | None = None) -> LoadResult:
    """Read a whole record file; raise the first RecordError unless ``skip_bad`` (whole-file errors
    always raise)."""
    result = LoadResult(records=[])
    for row in read_rows(Path(path), fmt=fmt):
        if row.error is not None:
            if not skip_bad:
                raise row.error
            result.errors.append(row.error)
        elif row.record is not None:
            result.records.append(row.record)
            result.warnings.extend(row.warnings)
    return result


def read_rows(path: Path, *, fmt: Format | None = None) -> Iterator[Row]:
    """Every row in file order, good or bad; a whole-file error raises (before any row, or at the end
    for a file that held no record)."""
    yield from _iter_rows(Path(path), fmt)


def iter_records(path: Path, *, fmt: Format | None = None) -> Iterator[Record]:
    """Stream records from a file too big to hold twice; raises at the first bad row.

    Rows before the bad one have already been yielded, so a caller building an index must discard
    what it built when this raises.
    """
    for row in _iter_rows(Path(path), fmt):
        if row.error is not None:
            raise row.error
        if row.record is not None:
            yield row.record


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
                    writer.writerow(csv_cells(record))
                    count += 1
            else:
                for record in records:
                    handle.write(json.dumps(json_object(record), ensure_ascii=False) + "\n")
                    count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return count


# --- reading ----------------------------------------------------------------------------------


def _format_from_suffix(path: Path) -> Format | None:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    return None


def _iter_rows(path: Path, fmt: Format | None) -> Iterator[Row]:
    """Yield each row as a Row holding its Record or the RecordError that describes it; raise a
    RecordError for a problem with the whole file. The core of every reader."""
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
                yield Row(source=source, line=line, record_id=_id_of(None), record=None, error=item)
                continue
            record_id = _id_of(item)
            try:
                checked = read_row(item, source, line)
            except RecordError as exc:
                yield Row(source=source, line=line, record_id=record_id, record=None, error=exc)
                continue
            record = checked.record
            first = seen.setdefault(record.record_id, line)
            if first != line:
                duplicate = RecordError(
                    f"duplicate record_id (first used on line {first})",
                    source=source,
                    line=line,
                    field="record_id",
                )
                yield Row(source=source, line=line, record_id=record_id, record=None, error=duplicate)
                continue
            yield Row(
                source=source,
                line=line,
                record_id=record.record_id,
                record=record,
                error=None,
                warnings=checked.warnings,
            )
        if not any_row:
            raise RecordError("file holds no records", source=source, line=max(1, lines.count))
    finally:
        handle.close()


def _id_of(values: RowValues | None) -> str:
    """The record_id a row gives, trimmed, when it is a short printable string (else "")."""
    if values is None:
        return ""
    raw = values.get("record_id", "")
    value = raw.strip() if isinstance(raw, str) else ""
    return value if _PRINTABLE_ID.fullmatch(value) else ""


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
            error = RecordError(f"not valid CSV ({exc})", source=source, line=line)
            if header is None:
                raise error from None
            yield line, error
            continue
        first, last_line = last_line + 1, reader.line_num
        bad_encoding = lines.encoding_error(first, last_line)
        if bad_encoding is not None:
            if header is None:
                raise bad_encoding
            yield first, bad_encoding
            continue
        if _is_blank(cells):
            continue
        if header is None:
            header = _parse_header(cells, source, first)
            continue
        if len(cells) != len(header):
            message = f"row has {len(cells)} cells but the header has {len(header)}"
            yield first, RecordError(message, source=source, line=first)
            continue
        values: RowValues = dict(zip(header, cells, strict=True))
        values["previous_names"] = str(values.get("previous_names", "")).split(PREVIOUS_NAMES_SEPARATOR)
        yield first, values
    if header is None and lines.count == 0:
        raise RecordError("file is empty; a header row is required", source=source, line=1)


def _parse_header(cells: list[str], source: str, line: int) -> list[str]:
    columns = [_canonical_column(cell) for cell in cells]
    known = [c for c in columns if c in FIELDS]
    for delimiter in _DELIMITERS:
        split = [_canonical_column(c) for cell in cells for c in cell.split(delimiter)]
        if len(cells) <= 2 and sum(c in FIELDS for c in split) > max(1, len(known)):
            shown = "a tab" if delimiter == "\t" else repr(delimiter)
            raise RecordError(
                f"the columns are separated by {shown}; a record file separates them with commas "
                "(save it as CSV, comma-delimited)",
                source=source,
                line=line,
            )
    if not known:
        # Probably a data row: naming its cells would leak a person's details into the error.
        raise RecordError("first row is not a header (no known column names)", source=source, line=line)
    for position, (cell, column) in enumerate(zip(cells, columns, strict=True), start=1):
        if column not in FIELDS:
            label = _column_label(cell.strip(), position)
            raise RecordError(f"unknown column {label}", source=source, line=line, field=column or None)
        if columns.index(column) != position - 1:
            raise RecordError("column appears twice", source=source, line=line, field=column)
    for required in REQUIRED_COLUMNS:
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
    for required in REQUIRED_COLUMNS:
        if required not in values:
            raise RecordError("required key is missing", source=source, line=line, field=required)
    return values
