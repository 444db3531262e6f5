"""``crossforce calibrate``: refit the stated probabilities to the outcomes of resolved requests (issue 14).

Thin: the reading and the fit are the server's (``crossforce.server.calibrate_outcomes``), reached
through its public face when the command runs; this module parses the options, prints the reliability
table before and after, and writes the new parameter file with the SHA-256 an operator puts beside the
``scoring_params`` setting. Changing probabilities is an operator's act and must be visible: the file
names what it was fitted from, and the matcher logs the SHA-256 of the file it loads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from crossforce.cli.common import json_option, server_part
from crossforce.cli.db import DB_ENVVAR
from crossforce.cli.render import emit_json, make_console
from crossforce.errors import ValidationError

DEFAULT_MIN_OUTCOMES = 200
"""Matches the server's ``MIN_OUTCOMES``: the fewest resolved requests worth a refit."""
GAP_FLAG = 0.05
GAP_MIN_N = 100


def _table(title: str, rows: Any) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("stated", "resolved", "mean stated", "confirmed", "gap"):
        table.add_column(col, justify="right")
    for row in rows:
        flag = " !" if row.n >= GAP_MIN_N and abs(row.gap) > GAP_FLAG else ""
        table.add_row(
            f"{row.low:.1f}-{row.high:.1f}",
            str(row.n),
            f"{row.mean_stated:.3f}",
            f"{row.observed_precision:.3f}",
            f"{100 * row.gap:+.1f} pt{flag}",
        )
    return table


def _rows(rows: Any) -> list[dict[str, float | int]]:
    return [
        {"low": r.low, "high": r.high, "n": r.n, "mean_stated": r.mean_stated,
         "observed_precision": r.observed_precision, "gap": r.gap}
        for r in rows
    ]  # fmt: skip


@click.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A matcher's data folder (it may be running) or a backup of it; read-only.",
)
@click.option(
    "--db",
    "dsn",
    envvar=DB_ENVVAR,
    metavar="DSN",
    help="The PostgreSQL database the matchers share (env CROSSFORCE_DB); read while they run.",
)
@click.option(
    "--params",
    "params_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The parameter file the matcher runs with (its scoring_params setting); default: the shipped one.",
)
@click.option(
    "--min-outcomes",
    type=click.IntRange(min=1),
    default=DEFAULT_MIN_OUTCOMES,
    show_default=True,
    help="Refuse to refit from fewer resolved requests than this.",
)
@click.option("--dry-run", is_flag=True, help="Fit and print the tables, write nothing.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new parameter file (required unless --dry-run; never overwritten).",
)
@json_option
def calibrate(
    *,
    data_dir: Path | None,
    dsn: str | None,
    params_path: Path | None,
    min_outcomes: int,
    dry_run: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """Refit the probabilities the matcher states to what holders found (confirmed or no match).

    Reads the probability each resolved disclosure request stated and its outcome, fits a correction
    curve on them, prints the reliability table (per decile of stated probability: how many were
    confirmed) before and after, and writes a new parameter file. The matcher uses it once its settings
    name it (scoring_params = "FILE") and it is restarted; it logs the file's SHA-256 at start.

    \b
    Example:
      crossforce calibrate --data deploy/matcher-backup --out deploy/scoring-2026-11.json
      crossforce calibrate --db postgresql://crossforce@db.internal/crossforce --dry-run
    """
    if (data_dir is None) == (dsn is None):
        raise ValidationError("give --data DIR or --db DSN (one of them)")
    if out is None and not dry_run:
        raise ValidationError("give --out FILE for the new parameters, or --dry-run to write nothing")
    if out is not None and out.exists():
        raise ValidationError(f"{out} exists; choose a new file (parameter files are never overwritten)")
    run = server_part().calibrate_outcomes(
        data_dir=data_dir, dsn=dsn, params_path=params_path, min_outcomes=min_outcomes
    )
    text = run.params_file_text()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    written = out is not None and not dry_run
    if written:
        assert out is not None
        out.write_text(text, encoding="utf-8")
    cal = run.calibration
    facts: dict[str, object] = {
        "outcomes": cal.outcomes,
        "confirmed": cal.confirmed,
        "source": run.source,
        "started_from_sha256": run.started_from,
        "version": cal.params.version,
        "outcome_calibration": list(cal.fitted),
        "before": _rows(cal.before),
        "after": _rows(cal.after),
        "written": str(out) if written else None,
        "sha256": digest,
    }
    if as_json:
        emit_json(facts)
        return
    console = make_console()
    console.print(
        f"{cal.outcomes} resolved requests ({cal.confirmed} confirmed) from {run.source}; "
        f"started from parameters with SHA-256 {run.started_from}"
    )
    console.print(_table("before: stated probability against outcomes", cal.before))
    console.print(_table("after (the same outcomes, in sample)", cal.after))
    slope, intercept = cal.fitted
    console.print(
        f"outcome_calibration: slope {slope:.4f}, intercept {intercept:.4f} (version {cal.params.version})"
    )
    if not written:
        console.print("[yellow]dry run: nothing written[/]")
        return
    console.print(f"[bold green]WROTE[/] {out} (SHA-256 {digest})")
    console.print(f'to use it, set scoring_params = "{out}" in the matcher\'s settings and restart it')
