"""One log format for every line the matcher writes: JSON lines, logfmt, or text for a person.

Why one formatter: operators feed the log to a collector (Loki, Elasticsearch, journald) that parses one
shape; three shapes (as before) meant three parsers and lines that matched none. ``configure`` installs a
single handler on the root logger, so the matcher's own lines, gRPC's Python lines and any library's
lines all come out the same way.

Every line has ``ts`` (UTC, RFC 3339, milliseconds), ``level``, ``logger`` and ``msg``; a line logged
with ``extra={"fields": {...}}`` adds those fields (the per-call line of
``crossforce.server.observability.calls`` is one). An exception is rendered as its class and its stack
only, never its message: an exception's text could quote what a caller sent.

Invariants: one line per record (a newline inside a value is escaped in every format); field values are
plain scalars; ``msg`` stays the first free-text field so ``grep`` finds what a person reads.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

FieldValue = str | int | float | bool | None
"""What a structured field may hold: scalars only, so every format can render it on one line."""
_SCALARS = (str, int, float, bool, type(None))
"""``FieldValue`` as a tuple for ``isinstance``: built once, not a union built per field of every line
(the per-call line is written for every RPC, so its cost is on every call's path)."""


class LogFormat(enum.StrEnum):
    JSON = "json"
    LOGFMT = "logfmt"
    TEXT = "text"

    @classmethod
    def for_stream(cls, stream: IO[str]) -> LogFormat:
        """Text for a person at a terminal, JSON lines for anything that collects the log."""
        isatty = getattr(stream, "isatty", None)
        return cls.TEXT if callable(isatty) and isatty() else cls.JSON


LOG_FORMATS: tuple[str, ...] = tuple(f.value for f in LogFormat)
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _exception(record: logging.LogRecord) -> str | None:
    """The exception's class and stack, never its message (which could quote request content)."""
    if not record.exc_info or record.exc_info[0] is None:
        return None
    kind, _value, tb = record.exc_info
    stack = "".join(traceback.format_tb(tb)).rstrip()
    return f"{kind.__name__}\n{stack}" if stack else kind.__name__


def record_fields(record: logging.LogRecord) -> dict[str, FieldValue]:
    """Every field of a line, in output order: the fixed ones, then the record's ``fields``."""
    out: dict[str, FieldValue] = {
        "ts": _timestamp(record.created),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    extra = getattr(record, "fields", None)
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            if key not in out:
                out[str(key)] = value if isinstance(value, _SCALARS) else str(value)
    exc = _exception(record)
    if exc is not None:
        out["exc"] = exc
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line (JSON Lines); keys in a fixed order."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), ensure_ascii=False, separators=(",", ":"))


def _logfmt_value(value: FieldValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and all(c > " " and c not in '"=\\' for c in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """``key=value`` pairs, values quoted when they hold a space, quote, equals sign or newline."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in record_fields(record).items())


class TextFormatter(logging.Formatter):
    """For a person at a terminal: time, level and message, then the fields as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        head = f"{fields.pop('ts')} {str(fields.pop('level')).upper():<7} {fields.pop('msg')}"
        fields.pop("logger")
        exc = fields.pop("exc", None)
        rest = " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())
        line = f"{head} {rest}" if rest else head
        return f"{line}\n{exc}" if exc else line


FORMATTERS: Mapping[LogFormat, type[logging.Formatter]] = {
    LogFormat.JSON: JsonFormatter,
    LogFormat.LOGFMT: LogfmtFormatter,
    LogFormat.TEXT: TextFormatter,
}


def parse_level(level: str) -> int:
    """``debug``/``info``/``warning``/``error`` as a ``logging`` level; ValueError for anything else."""
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return int(logging.getLevelNamesMapping()[level.upper()])


def configure(
    *, log_format: str | None = None, level: str = "info", stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) in one format.

    ``log_format`` None picks text on a terminal, JSON otherwise. Replaces the root logger's handlers
    (so nothing else prints a second shape) and returns the one installed.
    """
    out = stream if stream is not None else sys.stderr
    chosen = LogFormat.for_stream(out) if log_format is None else LogFormat(log_format)
    handler = logging.StreamHandler(out)
    handler.setFormatter(FORMATTERS[chosen]())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(parse_level(level))
    logging.captureWarnings(True)
    return handler


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a structured line: ``log.info("...", extra=fields(org=..., port=...))``."""
    return {"fields": values}
