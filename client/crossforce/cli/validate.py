"""``crossforce validate FILE``: what a publish of a record file would do, without publishing it.

It reads the file with the same row rules a publish uses and reports rows read, rows skipped (file:line,
record id, reason; never a value), match tokens, and, given a force's ``--profile``, the diff against
that force's last published generation (records added, removed, changed). Nothing is sent, no network
is used, and the trust state is not touched. ``crossforce publish --dry-run`` prints the same report
(issue 13, item 2: a republish must never silently replace an index).

The reading, bad-row and rendering helpers here are shared with ``crossforce publish``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from crossforce.cli.common import json_option, load_profile, warn_skipped
from crossforce.cli.render import emit_json, make_console
from crossforce.cli.status import ExitStatus
from crossforce.client.publishplan import (
    DEFAULT_MAX_SHRINK,
    BadRowBound,
    PublishPlan,
    SkippedRow,
    check_bad_rows,
    check_shrink,
    parse_share,
    plan,
)
from crossforce.client.recordfile import read_rows
from crossforce.client.tokenstore import TokenStore
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.fsutil import atomic_write_private

F = TypeVar("F", bound=Callable[..., Any])

IDS_SHOWN = 10
"""Record ids listed per diff line before the rest are only counted."""


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    records: list[Record]
    skipped: list[SkippedRow]

    @property
    def rows(self) -> int:
        return len(self.records) + len(self.skipped)


def read_file(path: Path) -> LoadedFile:
    """Every good record and every bad row of ``path`` (whole-file errors raise ValidationError)."""
    records: list[Record] = []
    skipped: list[SkippedRow] = []
    for row in read_rows(path):
        if row.error is not None:
            skipped.append(SkippedRow.of(row.error, row.record_id))
        elif row.record is not None:
            records.append(row.record)
    return LoadedFile(path=path, records=records, skipped=skipped)


def write_bad_rows(path: Path, skipped: Sequence[SkippedRow]) -> None:
    """The skipped rows as JSON Lines (line, record id, reason; never a value), mode 0600, atomically."""
    text = "".join(json.dumps(s.as_json(), ensure_ascii=False) + "\n" for s in skipped)
    atomic_write_private(path, text.encode())


def published_bodies(profile_dir: Path, epoch: int | None) -> tuple[dict[str, str] | None, str]:
    """The records of the profile's current generation for ``epoch`` (else its newest), read from the
    local token store only; (None, "") when the force has published nothing from this profile."""
    profile = load_profile(profile_dir)
    if not profile.token_store_path.exists():
        return None, ""
    store = TokenStore(profile.token_store_path)
    try:
        epoch = epoch or profile.secret().current_epoch
        gen = store.current(epoch) or store.latest_current()
        if gen is None:
            return None, ""
        return store.bodies(gen), f"index {gen.label}, epoch {gen.epoch}"
    finally:
        store.close()


def publish_refusals(
    loaded: LoadedFile, report: PublishPlan, *, bad: BadRowBound, max_shrink: float | None
) -> list[str]:
    """Why a publish with these bounds would be refused (empty: it would go ahead)."""
    reasons = []
    try:
        check_bad_rows(loaded.skipped, rows=loaded.rows, bound=bad)
    except ValidationError as exc:
        reasons.append(str(exc))
    if not loaded.records:
        reasons.append(f"{loaded.path.name} holds no usable records")
    if report.diff is not None and max_shrink is not None:
        try:
            check_shrink(report.diff, max_share=max_shrink, against=report.against)
        except ValidationError as exc:
            reasons.append(str(exc))
    return reasons


def plan_json(loaded: LoadedFile, report: PublishPlan, refusals: Sequence[str]) -> dict[str, Any]:
    diff = report.diff
    return {
        "file": str(loaded.path),
        "rows": report.rows,
        "records": report.records,
        "skipped": [s.as_json() for s in report.skipped],
        "tokens": report.tokens,
        "keyless": list(report.keyless),
        "diff": None
        if diff is None
        else {
            "against": report.against,
            "previous_records": diff.previous_count,
            "added": list(diff.added),
            "removed": list(diff.removed),
            "changed": list(diff.changed),
            "unchanged": diff.unchanged,
            "removed_share": round(diff.removed_share, 4),
        },
        "publish_would_be_refused": list(refusals),
        "sent": False,
    }


def print_plan(console: Console, loaded: LoadedFile, report: PublishPlan, refusals: Sequence[str]) -> None:
    console.print(
        f"{loaded.path.name}: {report.rows:,} rows read, {report.records:,} records, "
        f"{len(report.skipped):,} skipped, {report.tokens:,} match tokens"
    )
    warn_skipped(console, report.skipped)
    if report.keyless:
        console.print(
            f"[yellow]{len(report.keyless)} record(s) yield no match key, "
            "so no check could ever find them:[/] " + _ids(report.keyless)
        )
    diff = report.diff
    if diff is None:
        console.print("no published index to compare with (give --profile of a force that has published)")
    else:
        console.print(
            f"against the last published {report.against} ({diff.previous_count:,} records): "
            f"{len(diff.added):,} added, {len(diff.removed):,} removed, {len(diff.changed):,} changed, "
            f"{diff.unchanged:,} unchanged"
        )
        for word, ids in (("added", diff.added), ("removed", diff.removed), ("changed", diff.changed)):
            if ids:
                console.print(f"  {word}: {_ids(ids)}")
    for reason in refusals:
        console.print(f"[bold red]a publish would be refused:[/] {reason}")
    console.print("nothing was sent.")


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:IDS_SHOWN])
    return shown + (f" ... and {len(ids) - IDS_SHOWN} more" if len(ids) > IDS_SHOWN else "")


def max_bad_option(default: str | None) -> Callable[[F], F]:
    return click.option(
        "--max-bad",
        default=default,
        metavar="N|P%",
        help="Skip at most N bad rows, or P% of the rows read (each reported by file:line and record id)"
        + (
            "; default 0: the first bad row refuses the whole file."
            if default == "0"
            else "; given, more bad rows than that exit with status 3."
        ),
    )


def bad_rows_out_option(f: F) -> F:
    return click.option(
        "--bad-rows-out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the skipped rows' file:line, record id and reason (never a value) as JSON Lines, "
        "mode 0600.",
    )(f)


@click.command()
@click.argument("records_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A force's profile: also diff against what it last published (read locally, nothing sent).",
)
@click.option("--epoch", type=int, default=None, help="Diff against this epoch's index (default: current).")
@max_bad_option(None)
@click.option(
    "--max-shrink",
    default=f"{DEFAULT_MAX_SHRINK:.0%}",
    show_default=True,
    metavar="P%",
    help="Say a publish would be refused if it drops more than this share of the published records.",
)
@bad_rows_out_option
@json_option
def validate(
    *,
    records_file: Path,
    profile_dir: Path | None,
    epoch: int | None,
    max_bad: str | None,
    max_shrink: str,
    bad_rows_out: Path | None,
    as_json: bool,
) -> None:
    """Check a record file and show what publishing it would change, without publishing anything.

    Reports rows read, skipped rows (file:line, record id, reason; never a value), match tokens and,
    with --profile, the records added, removed and changed since the force's last publish. No network
    is used. Exit status 0 when the file could be read (the report says whether a publish would be
    refused), 3 (bad input) for a file that cannot be read at all or, with --max-bad, too many bad rows.

    \b
    Examples:
      crossforce validate nominals.csv
      crossforce validate nominals.csv --profile ./humberside --bad-rows-out bad-rows.jsonl
      crossforce validate nominals.csv --profile ./humberside --json | jq .diff.removed
    """
    loaded = read_file(records_file)
    if bad_rows_out is not None:
        write_bad_rows(bad_rows_out, loaded.skipped)
    previous, against = published_bodies(profile_dir, epoch) if profile_dir is not None else (None, "")
    report = plan(loaded.records, loaded.skipped, previous=previous, against=against)
    bound = BadRowBound.parse(max_bad) if max_bad is not None else BadRowBound()
    refusals = publish_refusals(
        loaded, report, bad=bound, max_shrink=parse_share(max_shrink, option="max-shrink")
    )
    if as_json:
        emit_json(plan_json(loaded, report, refusals))
    else:
        print_plan(make_console(), loaded, report, refusals)
    if max_bad is not None and not bound.allows(len(loaded.skipped), loaded.rows):
        raise click.exceptions.Exit(int(ExitStatus.BAD_INPUT))
