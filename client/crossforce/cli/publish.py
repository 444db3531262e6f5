"""``crossforce publish``: encode a force's record file into tokens and publish its index.

Everything personal is turned into tokens in this process (the SDK); raw records never leave the
machine: only the Bloom-filter bits and a signed header do.

A publish is planned before anything is sent (``crossforce.client.publishplan``): bad rows are bounded
by ``--max-bad`` (none by default), and a publish that would drop more than ``--max-shrink`` of the
records last published is refused unless ``--allow-shrink`` (issue 13: a one-record test file once
replaced an eight-record index, exit 0). ``--dry-run`` prints the plan, as ``crossforce validate`` does,
and sends nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from crossforce.cli.common import (
    json_option,
    open_client,
    profile_option,
    role_option,
    warn_skipped,
)
from crossforce.cli.render import emit_json, make_console, progress_bar, size
from crossforce.cli.validate import (
    bad_rows_out_option,
    max_bad_option,
    plan_json,
    print_plan,
    publish_refusals,
    published_bodies,
    read_file,
    write_bad_rows,
)
from crossforce.client.publishplan import (
    DEFAULT_MAX_SHRINK,
    BadRowBound,
    check_bad_rows,
    check_shrink,
    diff_records,
    parse_share,
    plan,
)
from crossforce.client.sdk import DEFAULT_EXPIRY_DAYS
from crossforce.domain import Role
from crossforce.errors import ValidationError


@click.command()
@profile_option
@role_option(Role.FORCE_SYSTEM)
@click.option(
    "--records",
    "records_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The force's record file (CSV with a header row, or JSON Lines; docs/records.md).",
)
@max_bad_option("0")
@click.option("--skip-bad", is_flag=True, help="Skip every bad row (the same as --max-bad 100%).")
@bad_rows_out_option
@click.option(
    "--max-shrink",
    default=f"{DEFAULT_MAX_SHRINK:.0%}",
    show_default=True,
    metavar="P%",
    help="Refuse a publish that drops more than this share of the records published last.",
)
@click.option("--allow-shrink", is_flag=True, help="Publish even if it drops more than --max-shrink.")
@click.option("--dry-run", is_flag=True, help="Report rows, skips, tokens and the diff; send nothing.")
@click.option(
    "--expires-days",
    default=float(DEFAULT_EXPIRY_DAYS),
    show_default=True,
    type=float,
    help="Days until the published index expires and stops matching.",
)
@click.option("--epoch", type=int, default=None, help="Network secret epoch (default: the current one).")
@json_option
def publish(
    *,
    profile_dir: Path,
    role: str | None,
    records_file: Path,
    max_bad: str,
    skip_bad: bool,
    bad_rows_out: Path | None,
    max_shrink: str,
    allow_shrink: bool,
    dry_run: bool,
    expires_days: float,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Encode a record file into tokens, keep them in the local token store, publish the index.

    Raw records never leave this machine: only the Bloom-filter bits and a signed header do. The
    tokens become the force's current generation only once the matcher has acknowledged the index, so
    a failed or interrupted publish leaves the desk resolving against what the matcher still serves.

    The first bad row refuses the whole file unless --max-bad allows skipping it; a publish that would
    drop more than --max-shrink (10%) of the records published last is refused unless --allow-shrink.
    Run with --dry-run (or `crossforce validate`) first to see what would change.

    \b
    Examples:
      crossforce publish --profile ./humberside --records nominals.csv --dry-run
      crossforce publish --profile ./humberside --records nominals.csv
      crossforce publish --profile ./humberside --records nominals.csv --max-bad 0.5% \\
          --bad-rows-out bad-rows.jsonl --expires-days 7
      crossforce publish --profile ./humberside --records weeded.csv --allow-shrink
    """
    console = make_console(stderr=as_json)
    loaded = read_file(records_file)
    if bad_rows_out is not None:
        write_bad_rows(bad_rows_out, loaded.skipped)
    bound = BadRowBound.unlimited() if skip_bad else BadRowBound.parse(max_bad)
    shrink = None if allow_shrink else parse_share(max_shrink, option="max-shrink")
    if dry_run:
        previous, against = published_bodies(profile_dir, epoch)
        report = plan(loaded.records, loaded.skipped, previous=previous, against=against)
        refusals = publish_refusals(loaded, report, bad=bound, max_shrink=shrink)
        if as_json:
            emit_json(plan_json(loaded, report, refusals))
        else:
            print_plan(make_console(), loaded, report, refusals)
        return
    check_bad_rows(loaded.skipped, rows=loaded.rows, bound=bound)
    if not loaded.records:
        raise ValidationError(f"{records_file} holds no usable records")
    if shrink is not None:
        # Checked here against the local store to refuse before any progress is drawn; the SDK checks
        # again after settling any staged generation with the matcher.
        previous, against = published_bodies(profile_dir, epoch)
        if previous is not None:
            check_shrink(diff_records(previous, loaded.records), max_share=shrink, against=against)
    warn_skipped(console, loaded.skipped)
    with open_client(profile_dir, role, (Role.FORCE_SYSTEM,)) as client, progress_bar(console) as bar:
        encoding = bar.add_task("encoding records into tokens", total=len(loaded.records))
        state: dict[str, Any] = {}

        def progress(done: int, total: int) -> None:
            bar.update(encoding, completed=done, total=total)
            if done >= total and "upload" not in state:
                state["upload"] = bar.add_task("building index and publishing", total=None)

        result = client.publish_records(
            loaded.records, epoch=epoch, expires_in_days=expires_days, progress=progress, max_shrink=shrink
        )
        if "upload" in state:
            bar.update(state["upload"], total=1, completed=1)
    doc = {
        "org": result.org,
        "epoch": result.epoch,
        "version": result.version,
        "records": result.record_count,
        "tokens": result.token_count,
        "index_bytes": result.index_bytes,
        "log_index": result.log_index,
        "seconds": round(result.seconds, 3),
        "skipped_rows": len(loaded.skipped),
    }
    if as_json:
        emit_json(doc)
        return
    console.print(
        f"published [bold]{result.org}[/]: {result.record_count:,} records, {result.token_count:,} tokens, "
        f"index {size(result.index_bytes)} ({result.index_bytes:,} bytes), epoch {result.epoch}, "
        f"version {result.version}, audit entry {result.log_index}, {result.seconds:.1f} s"
        + (f"; {len(loaded.skipped)} bad rows skipped" if loaded.skipped else "")
    )
