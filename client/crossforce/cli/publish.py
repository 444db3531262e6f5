"""``crossforce publish``: encode a force's record file into tokens and publish its index.

Everything personal is turned into tokens in this process (the SDK); raw records never leave the
machine: only the Bloom-filter bits and a signed header do.
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
from crossforce.client.recordfile import load_records
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
@click.option("--skip-bad", is_flag=True, help="Skip bad rows (each reported by line) instead of stopping.")
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
    skip_bad: bool,
    expires_days: float,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Encode a record file into tokens, keep them in the local token store, publish the index.

    Raw records never leave this machine: only the Bloom-filter bits and a signed header do.

    \b
    Example:
      crossforce publish --profile ./humberside --records nominals.csv --skip-bad --expires-days 7
    """
    console = make_console(stderr=as_json)
    loaded = load_records(records_file, skip_bad=skip_bad)
    warn_skipped(console, loaded.errors)
    if not loaded.records:
        raise ValidationError(f"{records_file} holds no usable records")
    with open_client(profile_dir, role, (Role.FORCE_SYSTEM,)) as client, progress_bar(console) as bar:
        encoding = bar.add_task("encoding records into tokens", total=len(loaded.records))
        state: dict[str, Any] = {}

        def progress(done: int, total: int) -> None:
            bar.update(encoding, completed=done, total=total)
            if done >= total and "upload" not in state:
                state["upload"] = bar.add_task("building index and publishing", total=None)

        result = client.publish_records(
            loaded.records, epoch=epoch, expires_in_days=expires_days, progress=progress
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
        "skipped_rows": len(loaded.errors),
    }
    if as_json:
        emit_json(doc)
        return
    console.print(
        f"published [bold]{result.org}[/]: {result.record_count:,} records, {result.token_count:,} tokens, "
        f"index {size(result.index_bytes)} ({result.index_bytes:,} bytes), epoch {result.epoch}, "
        f"version {result.version}, audit entry {result.log_index}, {result.seconds:.1f} s"
        + (f"; {len(loaded.errors)} bad rows skipped" if loaded.errors else "")
    )


# --------------------------------------------------------------------------------------------- check
