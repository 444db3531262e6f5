"""``crossforce serve``: run the matcher until SIGINT or SIGTERM.

The CLI reaches the server only through its public face (``crossforce.server``), imported when the
command runs, so the other commands start without loading the matcher.
"""

from __future__ import annotations

from pathlib import Path

import click

from crossforce.cli.common import json_option, server_part
from crossforce.cli.db import database_errors
from crossforce.errors import ValidationError

LOG_FORMATS = ("json", "logfmt", "text")
"""The server's formats (``crossforce.server.observability.logs.LOG_FORMATS``; a test keeps them equal),
named here so ``crossforce --help`` does not load the server."""
LOG_LEVELS = ("debug", "info", "warning", "error")


DB_ENVVAR = "CROSSFORCE_DB"
"""Where ``--db`` is read from when not given: keeps a DSN's password out of the process list."""


@click.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the matcher's SQLite store and log signing key (with --db: the log signing key only).",
)
@click.option(
    "--db",
    envvar=DB_ENVVAR,
    metavar="DSN",
    help=(
        "PostgreSQL database to store everything in, shared by every matcher given it "
        f"(postgresql://USER@HOST/DB; default: env {DB_ENVVAR}, else SQLite in --data). "
        "Upgrade its schema first with `crossforce db upgrade`."
    ),
)
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=(
        "The matcher's PKI folder from `crossforce pki export-server` (never the CA folder; required "
        "unless --dev-plaintext)."
    ),
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=50051, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file of server settings (purposes, quotas, limits).",
)
@click.option("--dev-plaintext", is_flag=True, help="DEVELOPMENT ONLY: no TLS, identity from a header.")
@click.option("--reflection", is_flag=True, help="Serve gRPC reflection v1 and v1alpha (for grpcurl).")
@click.option(
    "--deny-list",
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "Fingerprint deny list (default: PKI/revoked.txt); must exist at start-up, re-read by content "
        "every second; if it cannot be read every call is refused UNAVAILABLE."
    ),
)
@click.option(
    "--no-deny-list",
    is_flag=True,
    help="DEVELOPMENT ONLY: run without a deny list (revoked certificates are accepted).",
)
@click.option("--workers", default=16, show_default=True, type=int, help="gRPC worker threads.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    help="Log line format on stderr [default: text on a terminal, else json].",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.option(
    "--metrics-port",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=65535),
    help="Serve OpenMetrics on this port (9464 is customary); 0: off.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics bind to.")
@click.option(
    "--health-port",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=65535),
    help="Serve grpc.health.v1 in plaintext (no client certificate) on this port; 0: off.",
)
@click.option("--health-host", default="127.0.0.1", show_default=True, help="Address health binds to.")
@json_option
def serve(
    *,
    data_dir: Path,
    db: str | None,
    pki_dir: Path | None,
    host: str,
    port: int,
    settings_file: Path | None,
    dev_plaintext: bool,
    reflection: bool,
    deny_list: Path | None,
    no_deny_list: bool,
    workers: int,
    log_format: str | None,
    log_level: str,
    metrics_port: int,
    metrics_host: str,
    health_port: int,
    health_host: str,
    as_json: bool,
) -> None:
    """Run the matcher until SIGINT or SIGTERM, then drain in-flight calls.

    Every caller must present a client certificate from the PKI's CA; the revoked-fingerprint list
    is re-read by content at least every second, without a restart; if it cannot be read every call is
    refused UNAVAILABLE. One log line per call on stderr (caller, method, status,
    duration; never request content). The metrics and health listeners need no certificate, so they
    bind to 127.0.0.1 unless told otherwise. See docs/operations.md. With --json the ready line on
    stdout is one JSON object ({"listening": {"port", "metrics_port", "health_port"}}) and the log
    format defaults to json.

    With --db several matchers share one PostgreSQL database: start each with the same --db and a
    --data folder holding a copy of the same log-signing-key (the first matcher on an empty database
    creates it). A matcher that loses the database answers UNAVAILABLE and reports NOT_SERVING until
    it is back, then serves again by itself.

    \b
    Example:
      crossforce serve --data /srv/crossforce --pki /etc/crossforce/pki --port 50051 \\
        --metrics-port 9464 --health-port 8081 --log-format json
      CROSSFORCE_DB=postgresql://crossforce@db.internal/crossforce \\
        crossforce serve --data /srv/crossforce --pki /etc/crossforce/pki --port 50051
    """
    server = server_part()
    if pki_dir is None and not dev_plaintext:
        raise ValidationError("--pki is required (or --dev-plaintext for local development)")
    settings = server.load_settings(settings_file) if settings_file else None
    # Storage this matcher cannot reach is its own database, not a matcher elsewhere: no address hint.
    with database_errors():
        server.serve(
            data_dir=data_dir,
            db=db or None,
            pki_dir=pki_dir,
            host=host,
            port=port,
            settings=settings,
            dev_plaintext=dev_plaintext,
            reflection=reflection,
            deny_list=deny_list,
            no_deny_list=no_deny_list,
            max_workers=workers,
            log_format=log_format or ("json" if as_json else None),
            log_level=log_level,
            json_ready=as_json,
            metrics_port=metrics_port or None,
            metrics_host=metrics_host,
            health_port=health_port or None,
            health_host=health_host,
        )
