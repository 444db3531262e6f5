"""Rich output helpers for the ``crossforce`` CLI: consoles, names and styles, progress bars, step panels.

Kept apart from the commands so every command names the same things (forces, strengths, states, key
types, refusal reasons) the same way, and so the wording a test or a script greps for lives in one
place; the tables and JSON shapes built from these names are in ``crossforce.cli.tables``.
Nothing here prints a record's personal data unless the caller passes it in on purpose (the desk's
own records, an opened disclosure).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from crossforce.domain import (
    CheckReport,
    Coverage,
    DisclosureRequest,
    ForceHit,
    RefusalReason,
    RequestState,
    Strength,
    strength_label,
)
from crossforce.encoding.matchkeys import KEY_TYPES
from crossforce.forces import all_forces

PIPE_WIDTH = 160
"""Least width when output is not a terminal (tests, pipes): wide enough that ids and names are never
cut, whatever a parent process left in COLUMNS."""

STRENGTH_STYLES: Mapping[int, str] = {
    Strength.WEAK: "yellow",
    Strength.MEDIUM: "dark_orange",
    Strength.STRONG: "bold red",
}
REFUSAL_CODES: Mapping[str, RefusalReason] = {
    r.name.lower().replace("_", "-"): r for r in RefusalReason if r != RefusalReason.UNSPECIFIED
}
"""The ``--reason`` words a desk officer types (``not-relevant``, ...), in the domain's order."""
REFUSAL_NAMES: Mapping[int, str] = {v: k for k, v in REFUSAL_CODES.items()}


def make_console(*, stderr: bool = False) -> Console:
    """A console that never truncates ids when piped, and honours NO_COLOR."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return Console(stderr=stderr, highlight=False)
    try:
        asked = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        asked = 0
    return Console(stderr=stderr, highlight=False, width=max(asked, PIPE_WIDTH))


def fail_line(message: str) -> None:
    """The one clear red line every CrossforceError becomes (stderr)."""
    make_console(stderr=True).print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def warn_line(console: Console, message: str) -> None:
    console.print(Text(f"warning: {message}", style="yellow"))


def emit_json(value: Any) -> None:
    """Machine-readable output goes through click, unwrapped and uncoloured, so scripts can parse it."""
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def emit_json_error(status: enum.IntEnum, message: str) -> None:
    """A failure under ``--json``: ``{"error": {"code", "message", "exit_status"}}`` on stdout, where the
    command's output would have been (one document either way), never a red line a script must parse.
    ``code`` is the exit status's name (``BAD_INPUT``, ``UNREACHABLE``, ...), stable like the number."""
    emit_json({"error": {"code": status.name, "message": message, "exit_status": int(status)}})


# ----------------------------------------------------------------------------------------- names


def force_name(code: str) -> str:
    names = {f.code: f.name for f in all_forces()}
    return names.get(code, code)


def key_type_name(code: int) -> str:
    """The spec's name for a match key type (``matchkeys.KEY_TYPES``), or its number if unknown."""
    found = KEY_TYPES.get(code)
    return found.name if found is not None else str(code)


def key_type_names(codes: Iterable[int]) -> list[str]:
    return [key_type_name(c) for c in codes]


def strength_name(strength: int) -> str:
    return strength_label(strength)


def strength_text(strength: int) -> Text:
    return Text(strength_name(strength), style=STRENGTH_STYLES.get(strength, ""))


HIT_ONLY_TEXT = "may hold (hit only)"
"""A hit under a hit-only purpose: the matcher says only that a force may hold the person, not how
likely it is nor which keys agreed (the purpose's settings decide, docs/matching.md)."""
PROBABILITY_MEANING = (
    "probability: how likely it is that the force holds the person checked, from which match keys "
    "agreed, how common the names are and how many records the force holds; strong >= 0.95, "
    "medium >= 0.70 by default (each purpose may set its own); a lower probability is more often a "
    "namesake. The holding force's desk confirms or rules out every hit."
)
"""What a hit's probability means, printed under every table of scored hits."""


def is_hit_only(hit: ForceHit) -> bool:
    """A hit that carries no evidence (a hit-only purpose): no key types and no probability."""
    return not hit.key_types and hit.probability == 0.0


def probability_figure(probability: float) -> str:
    """Two decimals, but never "1.00" or "0.00": a score is evidence, not certainty, and a desk officer
    reading "1.00" would skip the confirmation the hit still needs."""
    if probability >= 0.995:
        return ">0.99"
    if probability < 0.005:
        return "<0.01"
    return f"{probability:.2f}"


def probability_text(hit: ForceHit) -> Text:
    """``0.93 strong`` in the label's style, or that the force may hold the person for a hit-only hit."""
    if is_hit_only(hit):
        return Text(HIT_ONLY_TEXT)
    label = f"{probability_figure(hit.probability)} {strength_name(hit.strength)}"
    return Text(label, style=STRENGTH_STYLES.get(hit.strength, ""))


def state_label(state: int) -> str:
    """The domain's label of a request state (``open``, ``no_match``, ...); an unknown number as itself."""
    try:
        return RequestState(state).label
    except ValueError:
        return str(state)


def state_name(state: int) -> str:
    return state_label(state).replace("_", " ")


def outcome_name(req: DisclosureRequest) -> str:
    """What a requester cares about: no trace, pending, approved, refused."""
    if req.state in (RequestState.OPEN, RequestState.CONFIRMED):
        return "pending"
    if req.state == RequestState.NO_MATCH:
        return "no trace"
    if req.state == RequestState.APPROVED:
        return "approved"
    if req.state == RequestState.DELIVERED:
        return "approved (opened)"
    if req.state == RequestState.REFUSED:
        return f"refused: {REFUSAL_NAMES.get(req.refusal_reason, 'other')}"
    return state_name(req.state)


def when(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# ----------------------------------------------------------------------------------------- answers


def not_searched_text(coverage: Coverage) -> str:
    """``org (reason), ...`` for the expected forces a check did not search."""
    if not coverage.expected:
        return "the matcher named no force it expected (an empty or older matcher)"
    return ", ".join(f"{f.org} ({f.reason.label})" for f in coverage.not_searched)


def check_answer(report: CheckReport) -> list[str]:
    """What one check answered, as rich markup lines: the one place the words for "nothing known" live.

    The headline of "nothing known" is printed only when ``report.complete`` (every expected force was
    searched); otherwise the answer says INCOMPLETE, how many forces were searched of how many were
    expected, and which were not and why. A hit is shown with the same list, since a force not
    searched may hold more. tests/unit/test_no_trace_guard.py holds every other module to never
    spelling that headline itself.
    """
    coverage = report.coverage
    searched, expected = len(coverage.searched), coverage.expected
    ref = f" (check {report.check_id})" if report.check_id else ""
    if report.error is not None:
        return [f"[bold red]NOT CHECKED[/]: {escape(report.error.message)}"]
    if report.hits:
        of = f"{expected} forces" if report.complete else f"{searched} forces searched"
        lines = [f"[bold red]POSSIBLE TRACE at {len(report.hits)} of {of}[/]{ref}"]
        if not report.complete:
            lines.append(
                f"[bold yellow]INCOMPLETE:[/] {len(coverage.not_searched)} of {expected} expected forces "
                f"not searched: {not_searched_text(coverage)}"
            )
        return lines
    if report.complete:
        return [f"[bold green]NO TRACE at all {expected} expected forces[/]{ref}"]
    return [
        f"[bold yellow]INCOMPLETE: no trace at {searched} of {expected} forces[/]; "
        f"not searched: {not_searched_text(coverage)}{ref}"
    ]


# ----------------------------------------------------------------------------------------- progress


def progress_bar(console: Console, *, transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


@contextmanager
def tracked(console: Console, description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A one-task progress bar; yields a ``(done, total)`` callback as the SDK's ``progress`` wants."""
    with progress_bar(console) as bar:
        task: TaskID = bar.add_task(description, total=total)

        def update(done: int, of: int) -> None:
            bar.update(task, completed=done, total=of)

        yield update


# ----------------------------------------------------------------------------------------- demo steps


def step_panel(number: int, title: str, proved: Sequence[str], *, seconds: float | None = None) -> Panel:
    """A numbered step of the demo and what it proved."""
    body = "\n".join(f"[green]✔[/] {line}" for line in proved)
    subtitle = f"{seconds:.1f} s" if seconds is not None else None
    return Panel(
        body,
        title=f"[bold]{number}. {title}[/]",
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style="cyan",
    )
