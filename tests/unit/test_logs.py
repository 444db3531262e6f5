"""The one log format: JSON lines and logfmt parse back to the same fields, one line per record, and an
exception's text (which could quote request content) never reaches the log."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest

from crossforce.cli.serve import LOG_FORMATS as CLI_FORMATS
from crossforce.cli.serve import LOG_LEVELS as CLI_LEVELS
from crossforce.server.observability import logs
from crossforce.server.observability.calls import refusal_reason

TRICKY = 'a "quoted" value = with spaces\nand a second line \\ backslash'


def _logfmt(line: str) -> dict[str, Any]:
    """A logfmt reader: key=bare or key="escaped \\" value"."""
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)
    assert " ".join(f"{k}={v}" for k, v in pairs) == line, "every byte of the line is a key=value pair"
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}


def _emit(log_format: str, **kw: Any) -> str:
    """One INFO record with ``kw`` as its fields, through the formatter for ``log_format``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.FORMATTERS[logs.LogFormat(log_format)]())
    logger = logging.getLogger("crossforce.test-logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.info("rpc", extra=logs.fields(**kw))
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_parse_with_the_fixed_fields_first_and_the_call_fields() -> None:
    out = _emit("json", org="dbs", role="vetting-officer", status="OK", duration_ms=1.25, odd=TRICKY)
    assert out.endswith("\n") and out.count("\n") == 1, "one record, one line"
    line = json.loads(out)
    assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    assert line["level"] == "info" and line["msg"] == "rpc" and line["logger"] == "crossforce.test-logs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert line["org"] == "dbs" and line["duration_ms"] == 1.25 and line["odd"] == TRICKY


def test_logfmt_parses_back_including_quotes_spaces_and_newlines() -> None:
    out = _emit("logfmt", org="dbs", method="/crossforce.v2.Matcher/Check", ok=True, odd=TRICKY)
    assert out.count("\n") == 1
    line = _logfmt(out.rstrip("\n"))
    assert line["org"] == "dbs" and line["method"] == "/crossforce.v2.Matcher/Check"
    assert line["ok"] == "true" and line["odd"] == TRICKY and line["msg"] == "rpc"


def test_text_is_one_line_for_a_person() -> None:
    out = _emit("text", org="dbs", status="OK")
    assert out.count("\n") == 1 and " INFO " in out and out.rstrip().endswith("rpc org=dbs status=OK")


@pytest.mark.parametrize("log_format", logs.LOG_FORMATS)
def test_an_exception_is_logged_by_class_and_stack_never_by_its_text(log_format: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.FORMATTERS[logs.LogFormat(log_format)]())
    logger = logging.getLogger("crossforce.test-logs-exc")
    logger.propagate = False
    logger.addHandler(handler)
    sent = " ".join(("Jane", "Thornbury", "1984-03-17"))
    try:
        try:
            raise KeyError(sent)  # as if a parser quoted what a caller sent
        except KeyError as exc:
            logger.error("internal error", exc_info=exc, extra=logs.fields(ref="abc123"))
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "KeyError" in out and "abc123" in out and "test_logs.py" in out
    assert "Thornbury" not in out and "1984-03-17" not in out


def test_configure_installs_one_handler_on_the_root_and_picks_json_off_a_terminal() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        root.addHandler(logging.StreamHandler(io.StringIO()))
        stream = io.StringIO()
        handler = logs.configure(level="warning", stream=stream)
        assert root.handlers == [handler] and root.level == logging.WARNING
        assert isinstance(handler.formatter, logs.JsonFormatter)  # a StringIO is not a terminal
        logging.getLogger("crossforce.server").info("not at this level")
        logging.getLogger("grpc._server").warning("from a library")
        lines = [json.loads(x) for x in stream.getvalue().splitlines()]
        assert [x["msg"] for x in lines] == ["from a library"]
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved:
            root.addHandler(h)
        root.setLevel(level)
        logging.captureWarnings(False)


def test_a_terminal_gets_text() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.LogFormat.for_stream(Tty()) is logs.LogFormat.TEXT
    assert logs.LogFormat.for_stream(io.StringIO()) is logs.LogFormat.JSON


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        logs.parse_level("verbose")
    assert logs.parse_level("DEBUG") == logging.DEBUG


def test_the_cli_offers_exactly_the_servers_formats_and_levels() -> None:
    assert tuple(CLI_FORMATS) == logs.LOG_FORMATS
    assert tuple(CLI_LEVELS) == logs.LOG_LEVELS


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        ("RESOURCE_EXHAUSTED", "QuotaExceededError", "quota"),
        ("RESOURCE_EXHAUSTED", "TooLargeError", "too_large"),
        ("RESOURCE_EXHAUSTED", None, "resource_exhausted"),
        ("PERMISSION_DENIED", "PermissionDeniedError", "permission"),
        ("UNAUTHENTICATED", "AuthenticationError", "authentication"),
        ("INVALID_ARGUMENT", None, "validation"),  # an undecodable request carries no trailer
        ("INVALID_ARGUMENT", "VerificationError", "verification"),
        ("OK", None, None),
        ("INTERNAL", None, None),
        ("UNAVAILABLE", "UnavailableError", None),
        ("CANCELLED", None, None),
    ],
)
def test_refusal_reasons_come_from_a_fixed_table(code: str, error: str | None, reason: str | None) -> None:
    assert refusal_reason(code, error) == reason
