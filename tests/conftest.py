"""Shared test options and the storage backends every deployment-level test runs on.

``--slow``: long soak, fuzz and crash versions run only when asked.

``--backend {sqlite,postgresql,both}`` (default both): a test that asks for ``matcher_backend`` (directly,
or through a fixture such as ``matcher_db`` or the suites' ``net``) runs once per chosen backend, its id
ending in ``[sqlite]`` or ``[postgresql]``. ``@pytest.mark.backends("sqlite")`` keeps a test on the
backends it names (a test that reads or breaks SQLite's own files, or a PostgreSQL-only failover test).
On PostgreSQL each pytest process (each xdist worker) starts one real cluster
(``crossforce.testkit.pgserver``) the first time a test needs it and removes it at the end of the
session; each test gets a database of its own, already upgraded (``crossforce.testkit.pgdatabases``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crossforce.testkit import pgserver
from crossforce.testkit.pgdatabases import TestDatabases

BACKENDS = ("sqlite", "postgresql")
BACKEND_CHOICES = (*BACKENDS, "both")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="run the long versions too")
    parser.addoption(
        "--backend",
        choices=BACKEND_CHOICES,
        default="both",
        help="storage the matcher runs on in deployment tests (default: both, each test once per backend)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long soak, fuzz and crash versions (run with --slow)")
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on these storage backends (sqlite, postgresql)"
    )


def chosen_backends(config: pytest.Config) -> tuple[str, ...]:
    choice = str(config.getoption("--backend"))
    return BACKENDS if choice == "both" else (choice,)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that depends on ``matcher_backend`` once per chosen backend it allows.

    Module scope: a module-scoped deployment (built once for many tests) is built once per backend."""
    if "matcher_backend" not in metafunc.fixturenames:
        return
    allowed = BACKENDS
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None:
        unknown = set(marker.args) - set(BACKENDS)
        if unknown:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown backends {sorted(unknown)}")
        allowed = tuple(marker.args)
    names = [b for b in chosen_backends(metafunc.config) if b in allowed]
    # An empty list makes pytest report the test as skipped ("got empty parameter set"), which is right:
    # the backends it needs were not chosen.
    metafunc.parametrize("matcher_backend", names, scope="module")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long version: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgserver.PostgresServer]:
    """This process's PostgreSQL cluster, started on first use, removed at the end of the session.

    A machine without the server binaries fails the PostgreSQL tests with how to install them (never a
    silent skip: a suite that says "passed" must have run on both backends); ``--backend sqlite`` avoids it.
    """
    try:
        server = pgserver.create()
    except pgserver.PostgresMissingError as exc:
        pytest.fail(f"{exc} (or run with --backend sqlite)")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def pg_databases(pg_cluster: pgserver.PostgresServer) -> Iterator[TestDatabases]:
    databases = TestDatabases(pg_cluster)
    try:
        yield databases
    finally:
        databases.close(timeout_s=0)  # the cluster and every database in it are removed next


@pytest.fixture
def matcher_db(matcher_backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None on SQLite; on PostgreSQL the DSN of a fresh upgraded database, dropped after the test (in the
    background: the next test need not wait for it)."""
    if matcher_backend != "postgresql":
        yield None
        return
    databases: TestDatabases = request.getfixturevalue("pg_databases")
    dsn = databases.fresh()
    try:
        yield dsn
    finally:
        databases.drop_later(dsn)


@pytest.fixture(scope="module")
def module_matcher_db(matcher_backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``matcher_db`` for a deployment a whole module shares."""
    if matcher_backend != "postgresql":
        yield None
        return
    databases: TestDatabases = request.getfixturevalue("pg_databases")
    dsn = databases.fresh()
    try:
        yield dsn
    finally:
        databases.drop_later(dsn)
