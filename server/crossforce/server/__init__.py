"""The central matcher: gRPC servicers (thin), use cases, pure policy, audit log, storage.

This module is the server's public face: the CLI (and anything else outside the server) imports only
the names in ``__all__`` (tests/unit/test_architecture.py enforces it for the CLI). They are loaded on
first use (PEP 562), so importing a pure subpackage such as ``crossforce.server.policy`` does not start
gRPC or open storage.

- ``serve``: run the matcher until SIGINT/SIGTERM (``crossforce serve``).
- ``start`` / ``RunningServer``: a running matcher on a port, for tests, local deployments and benches.
- ``ServerSettings`` / ``load_settings``: every server setting and limit, and reading them from a TOML file.
- ``verify_data_dir``: verify a stored audit log offline, without starting the matcher.
- ``back_up_data_dir`` / ``restore_data_dir`` / ``read_manifest``: a consistent backup of a running
  matcher's folder, and its verified restore into a new one (``crossforce backup`` / ``restore``).
- ``upgrade_database`` / ``database_status`` / ``migrate_from_sqlite``: a PostgreSQL database's schema, what
  it holds, and moving a pilot's SQLite folder into it (``crossforce db``).
- ``calibrate_outcomes``: refit stated probabilities to resolved requests' outcomes (``crossforce calibrate``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crossforce.server.app import RunningServer, serve, start
    from crossforce.server.backup import back_up_data_dir, read_manifest, restore_data_dir
    from crossforce.server.dbmigrate import migrate_from_sqlite
    from crossforce.server.offline import verify_data_dir
    from crossforce.server.settings import ServerSettings, load_settings
    from crossforce.server.store.pgschema import database_status, upgrade_database
    from crossforce.server.usecases.calibration import calibrate_outcomes

__all__ = [
    "RunningServer",
    "ServerSettings",
    "back_up_data_dir",
    "calibrate_outcomes",
    "database_status",
    "load_settings",
    "migrate_from_sqlite",
    "read_manifest",
    "restore_data_dir",
    "serve",
    "start",
    "upgrade_database",
    "verify_data_dir",
]

_HOMES = {
    "RunningServer": "crossforce.server.app",
    "serve": "crossforce.server.app",
    "start": "crossforce.server.app",
    "ServerSettings": "crossforce.server.settings",
    "load_settings": "crossforce.server.settings",
    "verify_data_dir": "crossforce.server.offline",
    "back_up_data_dir": "crossforce.server.backup",
    "read_manifest": "crossforce.server.backup",
    "restore_data_dir": "crossforce.server.backup",
    "database_status": "crossforce.server.store.pgschema",
    "upgrade_database": "crossforce.server.store.pgschema",
    "migrate_from_sqlite": "crossforce.server.dbmigrate",
    "calibrate_outcomes": "crossforce.server.usecases.calibration",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'crossforce.server' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
