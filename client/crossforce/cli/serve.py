"""``crossforce serve``: run the matcher until SIGINT or SIGTERM.

The CLI reaches the server only through its public face (``crossforce.server``), imported when the
command runs, so the other commands start without loading the matcher.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from crossforce.cli.common import server_part
from crossforce.errors import ValidationError


@click.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the matcher's SQLite store and log signing key.",
)
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="PKI folder from `crossforce pki init` (required unless --dev-plaintext).",
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
@click.option("--reflection", is_flag=True, help="Enable gRPC server reflection (for grpcurl).")
@click.option(
    "--deny-list",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fingerprint deny list to watch (default: PKI/revoked.txt).",
)
@click.option("--workers", default=16, show_default=True, type=int, help="gRPC worker threads.")
def serve(
    *,
    data_dir: Path,
    pki_dir: Path | None,
    host: str,
    port: int,
    settings_file: Path | None,
    dev_plaintext: bool,
    reflection: bool,
    deny_list: Path | None,
    workers: int,
) -> None:
    """Run the matcher until SIGINT or SIGTERM, then drain in-flight calls.

    Every caller must present a client certificate from the PKI's CA; the revoked-fingerprint list
    is re-read on change, without a restart.

    \b
    Example:
      crossforce serve --data /srv/crossforce --pki /etc/crossforce/pki --port 50051
    """
    server = server_part()
    if pki_dir is None and not dev_plaintext:
        raise ValidationError("--pki is required (or --dev-plaintext for local development)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = server.load_settings(settings_file) if settings_file else None
    server.serve(
        data_dir=data_dir,
        pki_dir=pki_dir,
        host=host,
        port=port,
        settings=settings,
        dev_plaintext=dev_plaintext,
        reflection=reflection,
        deny_list=deny_list,
        max_workers=workers,
    )
