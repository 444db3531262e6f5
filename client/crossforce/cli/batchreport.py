"""What a ``check-batch`` run writes and says: result lines in file order, the tally, warnings, the summary.

Kept apart from the command so the words and the exit-status rule live in one place: the summary counts
every row as exactly one of "with a possible trace", "no trace" (every expected force searched),
"incomplete" (no hit, but a force was not searched) or "error" (not checked), and the exit status is
decided from the tally alone (``Tally.exit_status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from crossforce.cli.common import MAX_ERRORS_SHOWN
from crossforce.cli.interrupts import INTERRUPTED_EXIT
from crossforce.cli.render import not_searched_text, warn_line
from crossforce.cli.resultsfile import write_lines
from crossforce.cli.status import ExitStatus
from crossforce.cli.tables import error_line, result_line
from crossforce.client.recordfile import Row
from crossforce.domain import CheckReport, Coverage


@dataclass
class Tally:
    """What a batch run did, for the summary and the exit status."""

    checked: int = 0
    traces: int = 0
    no_trace: int = 0
    incomplete: int = 0
    """Checked without a hit, but not every expected force was searched."""
    incomplete_answers: int = 0
    """Every answer (hits too) whose search missed an expected force: this decides the exit status."""
    errors: int = 0
    requests: int = 0
    already_done: int = 0
    warned: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, report: CheckReport) -> None:
        if report.error is not None:
            self.errors += 1
            return
        self.checked += 1
        self.requests += sum(1 for h in report.hits if h.request_id)
        if not report.complete:
            self.incomplete_answers += 1
        if report.hits:
            self.traces += 1
        elif report.complete:
            self.no_trace += 1
        else:
            self.incomplete += 1

    def exit_status(self) -> ExitStatus:
        """INCOMPLETE_SEARCH wins over BAD_INPUT: an answer that may hide a record matters more than a
        row that was not checked (that row has its own error line)."""
        if self.incomplete_answers:
            return ExitStatus.INCOMPLETE_SEARCH
        if self.errors:
            return ExitStatus.BAD_INPUT
        return ExitStatus.SUCCESS

    def json(self, out_file: Path, seconds: float, *, interrupted: bool) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "possible_trace": self.traces,
            "no_trace": self.no_trace,
            "incomplete": self.incomplete,
            "incomplete_answers": self.incomplete_answers,
            "errors": self.errors,
            "requests_opened": self.requests,
            "already_in_results": self.already_done,
            "interrupted": interrupted,
            "seconds": round(seconds, 3),
            "results": str(out_file),
            "exit_status": INTERRUPTED_EXIT if interrupted else int(self.exit_status()),
        }


def row_error(row: Row) -> dict[str, Any]:
    message = str(row.error).removeprefix(f"{row.where}: ") if row.error is not None else "not readable"
    return error_line(row.record_id, row.where, "INVALID_ARGUMENT", message)


def warn_coverage(console: Console, tally: Tally, coverage: Coverage) -> None:
    """Once per distinct set of forces not searched (normally once, at the top of the run)."""
    missing = tuple(f.org for f in coverage.not_searched) or ("-",)
    if missing in tally.warned:
        return
    tally.warned.add(missing)
    warn_line(
        console,
        f"incomplete search: {len(coverage.not_searched)} of {coverage.expected} expected forces not "
        f"searched: {not_searched_text(coverage)}; answers without a hit are INCOMPLETE, not 'no trace'",
    )


def warn_rows(console: Console, rows: Sequence[Row]) -> None:
    """Rows the record rules refused or changed: named by file:line, never by value (also in --out)."""
    notes = [f"not checked: {row.error}" for row in rows if row.error is not None]
    notes += [f"{warning}" for row in rows for warning in row.warnings]
    for note in notes[:MAX_ERRORS_SHOWN]:
        warn_line(console, note)
    if len(notes) > MAX_ERRORS_SHOWN:
        warn_line(console, f"... and {len(notes) - MAX_ERRORS_SHOWN} more rows refused or changed")


def summary(console: Console, tally: Tally, out_file: Path, seconds: float, *, stopped: bool) -> None:
    rate = tally.checked / seconds if seconds > 0 else 0.0
    console.print(
        f"checked {tally.checked:,} candidates in {seconds:.1f} s ({rate:,.0f} candidates/s): "
        f"{tally.traces:,} with a possible trace, {tally.no_trace:,} no trace, "
        f"{tally.incomplete:,} incomplete, {tally.errors:,} errors; "
        f"{tally.requests:,} disclosure requests opened"
        + (f"; {tally.already_done:,} already in {out_file.name} (--resume)" if tally.already_done else "")
        + f"; results in {out_file}",
        soft_wrap=True,
    )
    if tally.incomplete_answers:
        warn_line(console, f"{tally.incomplete_answers:,} answers did not search every expected force")
    if stopped:
        warn_line(console, "stopped before the end: run the same command with --resume to check the rest")


class ResultWriter:
    """Writes one line per row in file order as the sub-batches of its good rows are answered.

    ``answered(reports)`` takes the reports of the next sub-batch (one per good row, in order) and writes
    every row up to the last of them, the refused rows between included, in one write; ``finish`` writes
    the refused rows after the last good one. Every line written is tallied.
    """

    def __init__(self, *, out: TextIO, rows: Sequence[Row], tally: Tally, console: Console) -> None:
        self._out = out
        self._rows = rows
        self._tally = tally
        self._console = console
        self._good = [i for i, row in enumerate(rows) if row.record is not None]
        self._answered = 0
        self._written = 0

    def answered(self, reports: Sequence[CheckReport]) -> None:
        self._answered += len(reports)
        self._write_through(self._good[self._answered - 1] if self._answered else -1, reports)

    def finish(self) -> None:
        self._write_through(len(self._rows) - 1, ())

    def _write_through(self, last: int, reports: Sequence[CheckReport]) -> None:
        answers = iter(reports)
        lines = []
        for row in self._rows[self._written : last + 1]:
            if row.record is None:
                self._tally.errors += 1
                lines.append(row_error(row))
                continue
            report = next(answers)
            self._tally.add(report)
            if report.error is None and not report.complete:
                warn_coverage(self._console, self._tally, report.coverage)
            lines.append(result_line(row.record_id, row.where, report))
        write_lines(self._out, lines)
        self._written = max(self._written, last + 1)
