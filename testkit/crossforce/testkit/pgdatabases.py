"""Fresh, upgraded matcher databases in one test PostgreSQL cluster, one per test, cheaply.

Why: every test that runs on PostgreSQL needs a database of its own (nothing one test writes may leak
into another's log), already at the matcher's schema (``crossforce db upgrade`` is the operator's step,
not the matcher's). ``createdb`` then ``pgschema.upgrade`` costs about twice as much as copying a
database that was upgraded once, so the first ``fresh()`` upgrades a template and every later one is
``CREATE DATABASE ... TEMPLATE`` of it: the same layout, made by the same upgrade.

``drop`` removes a test's database (``WITH (FORCE)``: a matcher a failed test left running does not keep
it alive). ``drop_later`` does it on a background thread: a drop takes about a second of the server's
time (it writes the catalog change and removes the files), which the next test need not wait for.
``close`` stops that thread; the whole cluster goes when its owner calls ``PostgresServer.cleanup``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg

from crossforce.server.store import pgschema
from crossforce.testkit.pgserver import PostgresServer

TEMPLATE = "crossforce_template"
"""The upgraded database every test database is copied from (never used by a matcher itself)."""


@dataclass
class TestDatabases:
    """Hands out upgraded databases in ``cluster``; thread-safe (a benchmark may ask from threads)."""

    __test__ = False  # not a pytest test class, whatever its name

    cluster: PostgresServer
    _template_ready: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _to_drop: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _dropper: threading.Thread | None = None

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.cluster.dsn(), autocommit=True)

    def fresh(self) -> str:
        """A new database at the matcher's current schema; returns its DSN."""
        with self._lock:
            if not self._template_ready:
                pgschema.upgrade(self.cluster.create_database(TEMPLATE))
                self._template_ready = True
            name = f"t_{uuid.uuid4().hex[:12]}"
            with self._admin() as conn:
                # A template may have no other session while it is copied; only this lock's holder copies.
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        self.cluster.databases.append(name)
        return self.cluster.dsn(name)

    def drop(self, dsn: str) -> None:
        """Remove the database ``dsn`` names, closing any session still on it."""
        name = urlsplit(dsn).path.lstrip("/")
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.cluster.databases:
            self.cluster.databases.remove(name)

    def drop_later(self, dsn: str) -> None:
        """``drop``, on the background thread (started on first use); errors there are ignored: a
        database left behind goes with the cluster."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_queued, name="pg-drop", daemon=True)
            self._dropper.start()
        self._to_drop.put(dsn)

    def _drop_queued(self) -> None:
        while (dsn := self._to_drop.get()) is not None:
            with contextlib.suppress(psycopg.Error):
                self.drop(dsn)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish the queued drops (bounded by ``timeout_s``) and stop the background thread."""
        if self._dropper is not None:
            self._to_drop.put(None)
            self._dropper.join(timeout_s)
            self._dropper = None
