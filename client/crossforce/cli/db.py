"""``crossforce db``: the PostgreSQL database several matchers share (issue 17).

``upgrade`` applies the schema migrations (an operator's step, never a matcher's: replicas must not
change the layout behind each other's backs), ``status`` shows the layout and the log a database holds,
and ``migrate-from-sqlite`` moves a stopped pilot's data folder into an empty database with the same
audit log root. Thin: the work is the server's (``upgrade_database``, ``database_status``,
``migrate_from_sqlite`` on its public face), loaded when a command runs, so a client-only install
still starts every other command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from crossforce.cli.common import F, json_option, report_failure, server_part
from crossforce.cli.render import emit_json, make_console, size
from crossforce.cli.status import ExitStatus
from crossforce.errors import UnavailableError

DB_ENVVAR = "CROSSFORCE_DB"


def db_option(f: F) -> F:
    return click.option(
        "--db",
        "dsn",
        required=True,
        envvar=DB_ENVVAR,
        metavar="DSN",
        help="PostgreSQL DSN, e.g. postgresql://crossforce@db.internal/crossforce (env CROSSFORCE_DB). "
        "Keep the password in ~/.pgpass or PGPASSWORD, not on the command line.",
    )(f)


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """An UnavailableError here is the database, not a matcher: report it as it is (the root group's hint
    would send the operator to check a matcher's address)."""
    try:
        yield
    except UnavailableError as exc:
        ctx = click.get_current_context()
        report_failure(ctx, ExitStatus.UNREACHABLE, str(exc))
        ctx.exit(int(ExitStatus.UNREACHABLE))


def _status_facts(status: Any) -> dict[str, object]:
    return {
        "database": status.where,
        "schema_version": status.schema_version,
        "required_version": status.required_version,
        "up_to_date": status.up_to_date,
        "log_size": status.log_size,
        "tree_size": status.tree_size,
        "root_hash": status.root.hex(),
    }


def _print_status(facts: dict[str, object]) -> None:
    console = make_console()
    console.print(f"  database:  {facts['database']}")
    console.print(
        f"  schema:    version {facts['schema_version']} (this matcher needs {facts['required_version']})"
    )
    console.print(
        f"  audit log: {facts['log_size']} entries; newest signed head {facts['tree_size']}, "
        f"root {facts['root_hash'] or '(none yet)'}"
    )


@click.group(name="db")
def db_group() -> None:
    """The PostgreSQL database several matchers share: upgrade it, inspect it, move a pilot into it.

    \b
    Example:
      export CROSSFORCE_DB=postgresql://crossforce@db.internal/crossforce
      crossforce db upgrade
      crossforce db status
    """


@db_group.command(name="upgrade")
@db_option
@json_option
def upgrade(*, dsn: str, as_json: bool) -> None:
    """Create or upgrade the matcher's tables (safe to repeat, and to run from two places at once).

    Run it with the database owner's credentials before the first matcher starts and after installing
    a matcher that needs a newer schema; matchers refuse a database that is not at their version.

    \b
    Example:
      crossforce db upgrade --db postgresql://crossforce@db.internal/crossforce
    """
    server = server_part()
    with database_errors():
        before, after = server.upgrade_database(dsn)
        facts = _status_facts(server.database_status(dsn))
    facts["from_version"], facts["changed"] = before, before != after
    if as_json:
        emit_json(facts)
        return
    verb = f"UPGRADED schema version {before} -> {after}" if before != after else "UP TO DATE"
    make_console().print(f"[bold green]{verb}[/]")
    _print_status(facts)


@db_group.command(name="status")
@db_option
@json_option
def status(*, dsn: str, as_json: bool) -> None:
    """Show the database's schema version and the audit log it holds (size and root), changing nothing.

    \b
    Example:
      crossforce db status --db postgresql://crossforce@db.internal/crossforce --json
    """
    with database_errors():
        facts = _status_facts(server_part().database_status(dsn))
    if as_json:
        emit_json(facts)
        return
    label = "[bold green]READY[/]" if facts["up_to_date"] else "[bold yellow]NEEDS `crossforce db upgrade`[/]"
    make_console().print(label)
    _print_status(facts)


@db_group.command(name="migrate-from-sqlite")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The pilot matcher's data folder (stop that matcher first).",
)
@db_option
@json_option
def migrate_from_sqlite(*, data_dir: Path, dsn: str, as_json: bool) -> None:
    """Move a pilot's SQLite data folder into an empty, upgraded PostgreSQL database.

    Everything is copied in one transaction (organisations, indexes and their bits, disclosure
    requests, the audit log and its signed heads, cosignatures, idempotency answers), and the copy's log
    must verify to exactly the folder's signed size and root before it commits. The log signing key is
    not copied: it stays a file, never in the database; put it in each matcher's --data folder.

    \b
    Example:
      crossforce db upgrade --db postgresql://crossforce@db.internal/crossforce
      crossforce db migrate-from-sqlite --data /srv/crossforce --db postgresql://crossforce@db.internal/crossforce
    """
    with database_errors():
        report = server_part().migrate_from_sqlite(data_dir, dsn)
    facts: dict[str, object] = {
        "source": str(report.source),
        "database": report.target,
        "tree_size": report.tree_size,
        "root_hash": report.root.hex(),
        "log_key": report.log_key.hex(),
        "log_key_file": str(report.log_key_file),
        "rows": report.rows,
        "index_bits": report.index_bits,
        "bits_bytes": report.bits_bytes,
        "seconds": round(report.seconds, 3),
    }
    if as_json:
        emit_json(facts)
        return
    console = make_console()
    rows = ", ".join(f"{n} {table}" for table, n in report.rows.items() if n)
    console.print(f"[bold green]MIGRATED[/] {report.source} into {report.target} in {report.seconds:.1f} s")
    console.print(f"  rows:      {rows or 'none'}")
    console.print(
        f"  bits:      {report.index_bits} index bit sets ({size(report.bits_bytes)}), each matching its hash"
    )
    console.print(
        f"  audit log: {report.tree_size} entries, root {facts['root_hash'] or '(none yet)'} (verified)"
    )
    console.print(
        f"  log key:   stays in {report.log_key_file} (never in the database): copy it, mode 0600, into "
        "every matcher's --data folder"
    )
