"""``crossforce backup`` and ``crossforce restore``: the matcher's data folder (and keys) while it runs.

Thin: the work and every check are the server's (``crossforce.server.back_up_data_dir`` and
``restore_data_dir``), reached through its public face when the command runs; this module parses the
options and prints what was saved or restored, so an operator can write down the log's size and root
and compare them after a restore (``crossforce audit verify --data``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from crossforce.cli.common import json_option, server_part
from crossforce.cli.logkeys import log_key_file_option, trusted_log_key
from crossforce.cli.render import emit_json, make_console, size


def _describe(manifest: Any, folder: Path) -> dict[str, object]:
    return {
        "folder": str(folder),
        "created_at": manifest.created_at,
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
        "schema_version": manifest.schema_version,
        "tree_size": manifest.tree_size,
        "root_hash": manifest.root.hex(),
        "log_key": manifest.log_key.hex(),
    }


def _print(verb: str, facts: dict[str, object], as_json: bool) -> None:
    if as_json:
        emit_json(facts)
        return
    console = make_console()
    console.print(
        f"[bold green]{verb}[/] {facts['files']} files ({size(int(str(facts['bytes'])))}) "
        f"in {facts['folder']}, snapshot of {facts['created_at']}"
    )
    console.print(f"  audit log: {facts['tree_size']} entries, root {facts['root_hash']}")
    console.print(f"  log key:   {facts['log_key']}")


@click.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The matcher's data folder (the one `crossforce serve --data` uses; it may be running).",
)
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(path_type=Path),
    help="A new (or empty) folder for the backup.",
)
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Also copy this PKI folder (it holds private keys: guard the backup like them).",
)
@json_option
def backup(*, data_dir: Path, dest: Path, pki_dir: Path | None, as_json: bool) -> None:
    """Back up a matcher's data folder while it runs: database, index files, log signing key.

    The database is copied at one instant with SQLite's online backup API, so the matcher keeps
    serving. The backup folder is 0700 with 0600 files and a MANIFEST.json holding the SHA-256 of
    every file and the audit log's size and root: write those down.

    \b
    Example:
      crossforce backup --data /srv/crossforce --to /backups/crossforce-$(date +%F)
    """
    manifest = server_part().back_up_data_dir(data_dir, dest, pki_dir=pki_dir)
    _print("BACKED UP", _describe(manifest, dest), as_json)


@click.command()
@click.option(
    "--from",
    "backup_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A folder written by `crossforce backup`.",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="A new (or empty) folder to restore the data folder into.",
)
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(path_type=Path),
    help="A new (or empty) folder to restore the backed-up PKI folder into.",
)
@log_key_file_option
@click.option(
    "--log-key",
    help="The matcher's published log public key (hex): the backup must hold its private half.",
)
@json_option
def restore(
    *,
    backup_dir: Path,
    data_dir: Path,
    pki_dir: Path | None,
    log_key_file: Path | None,
    log_key: str | None,
    as_json: bool,
) -> None:
    """Restore a backup into a new folder, after checking every file against its manifest.

    Refuses a non-empty target, a file that is missing, extra or altered, an index file the database
    needs but lacks, and an audit log that does not verify to the root the manifest records. Anything
    the matcher logged after the backup is not in it: clients that saw a later log head will report the
    restored log as rolled back, as they should.

    \b
    Example:
      crossforce restore --from /backups/crossforce-2026-11-30 --data /srv/crossforce-restored \\
          --log-key-file log-key.pub
      crossforce audit verify --data /srv/crossforce-restored --log-key-file log-key.pub
    """
    key = None
    if log_key or log_key_file is not None:
        key = trusted_log_key(log_key=log_key, log_key_file=log_key_file, profile_dir=None, what="restore")
    manifest = server_part().restore_data_dir(backup_dir, data_dir, pki_dir=pki_dir, log_key=key)
    facts = _describe(manifest, data_dir)
    facts["log_key_checked"] = key is not None
    _print("RESTORED", facts, as_json)
    if key is None and not as_json:
        make_console(stderr=True).print(
            "[yellow]warning:[/] the log key was not compared with the published one; pass --log-key-file"
        )
