"""One storage contract, two backends: every assertion here runs against SQLiteStorage and PostgresStorage.

The matcher is written against ``store.protocols``; a backend that differs in any of these (a reader
seeing staged rows, a failed writer undoing another's work, a different order of requests, a log row
that can be rewritten) would make a matcher behave differently on PostgreSQL than in every test that
ran on SQLite. The PostgreSQL-only tests at the end cover what only a shared database has: several
matchers taking the log's sequence in turn, the NOTIFY hint, a lost connection, the schema gate, and a
DSN's password kept out of every message. The PostgreSQL server is real (the session's cluster,
tests/conftest.py); ``--backend`` chooses the backends as for every deployment test.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from crossforce.errors import AlreadyExistsError, PreconditionError, UnavailableError
from crossforce.server.store import (
    HeadRow,
    IdempotentRow,
    IndexRow,
    OrgRow,
    PostgresStorage,
    RequestRow,
    SQLiteStorage,
    Storage,
    pgschema,
)
from crossforce.server.store import postgres as pgstore
from crossforce.testkit import pgserver

POSTGRESQL_ONLY = pytest.mark.backends("postgresql")
"""What only a shared database has; these ask for ``matcher_backend`` so ``--backend`` applies to them."""


@pytest.fixture
def dsn(matcher_db: str | None) -> str:
    """A new, upgraded database for one PostgreSQL test (tests/conftest.py; dropped afterwards)."""
    assert matcher_db is not None, "mark the test POSTGRESQL_ONLY"
    return matcher_db


@pytest.fixture
def cluster(matcher_backend: str, pg_cluster: pgserver.PostgresServer) -> pgserver.PostgresServer:
    """The session's cluster, for a PostgreSQL-only test that makes databases of its own."""
    assert matcher_backend == "postgresql", "mark the test POSTGRESQL_ONLY"
    return pg_cluster


@dataclass
class Backend:
    """A storage under test and a raw connection to its database (to try what the protocol forbids)."""

    name: str
    storage: Storage
    raw: Callable[[str], object]


@pytest.fixture
def backend(matcher_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each backend the run chose (``--backend``, default both): the contract is the same on each."""
    if matcher_backend == "sqlite":
        sqlite_storage = SQLiteStorage(tmp_path)

        def raw_sqlite(sql: str) -> object:
            conn = sqlite3.connect(sqlite_storage.db_path, isolation_level=None)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()

        made = Backend("sqlite", sqlite_storage, raw_sqlite)
    else:
        url = request.getfixturevalue("dsn")

        def raw_pg(sql: str) -> object:
            with psycopg.connect(url, autocommit=True) as conn:
                cur = conn.execute(sql)
                return cur.fetchall() if cur.description else None

        made = Backend("postgresql", PostgresStorage.open(url), raw_pg)
    try:
        yield made
    finally:
        made.storage.close()


ORG = OrgRow(
    org="kent",
    display_name="Kent",
    signing_key=b"\x01" * 32,
    box_key=b"\x02" * 32,
    key_version=1,
    registered_at_ms=1,
    log_index=0,
)
INDEX = IndexRow(
    org="kent",
    epoch=3,
    version=2,
    header=b"h",
    signature=b"s" * 64,
    bits_sha256="ab" * 32,
    num_blocks=4,
    num_probes=5,
    token_count=6,
    record_count=7,
    published_at_ms=8,
    expires_at_ms=9,
    log_index=1,
)


def leaf(i: int) -> bytes:
    return bytes([i % 256]) * 32


def request_row(request_id: str, **changes: object) -> RequestRow:
    base = RequestRow(
        request_id=request_id,
        check_id="c",
        requester_org="dbs",
        holder_org="kent",
        purpose="p",
        legal_basis="l",
        case_reference="r",
        officer_id="o",
        key_types=(1, 2),
        strength=2,
        tokens=b"t",
        state=1,
        created_at_ms=0,
        deadline_ms=100,
        updated_at_ms=0,
        log_index=0,
        sealed=b"ciphertext",
        sealed_sha256=b"\x07" * 32,
        matched_indexes=((3, 2),),
        approval_log_index=4,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def commit(storage: Storage, write: Callable[..., None] = lambda tx: None, *, entries: int = 0) -> int:
    """One group commit of one writer; returns the log size it started from."""
    with storage.lock:
        size = storage.begin()
        tx = storage.staged(size)
        for i in range(entries):
            tx.append_log(b"entry-%d" % (size + i), leaf(size + i))
        write(tx)
        storage.keep_staged()
        storage.commit()
    return size


# ------------------------------------------------------------------------------------------ group commit


def test_backend_is_a_storage(backend: Backend) -> None:
    storage: Storage = backend.storage  # mypy checks the protocol; this checks it answers
    assert storage.orgs() == [] and storage.log_size() == 0 and storage.healthy()
    assert storage.shared is (backend.name == "postgresql")


def test_group_commit_keeps_each_writer_that_succeeded_and_undoes_the_one_that_failed(
    backend: Backend,
) -> None:
    storage = backend.storage
    with storage.lock:
        assert storage.begin() == 0
        first = storage.staged(0)
        first.append_log(b"first", leaf(0))
        first.put_org(ORG)
        storage.keep_staged()
        failed = storage.staged(1)
        failed.append_log(b"failed", leaf(1))
        failed.insert_request(request_row("r1"))
        with pytest.raises(AlreadyExistsError):
            failed.insert_request(request_row("r1"))
        assert storage.in_transaction()  # a failed statement inside a savepoint does not end the batch
        storage.drop_staged()
        assert storage.in_transaction()
        third = storage.staged(1)  # the failed writer's index is given again
        assert third.append_log(b"third", leaf(1)) == 1
        third.insert_request(request_row("r2"))
        storage.keep_staged()
        storage.commit()
    assert storage.log_entries(0, 10) == [(0, b"first", leaf(0)), (1, b"third", leaf(1))]
    assert storage.log_size() == 2 and storage.log_leaf_hashes() == [leaf(0), leaf(1)]
    assert storage.orgs() == [ORG]
    assert storage.request("r1") is None and storage.request("r2") == request_row("r2")


def test_entries_staged_together_are_the_rows_staged_one_by_one(backend: Backend) -> None:
    """A batch stages its no-hit events with one ``append_logs``: the same rows, indexes and leaves as one
    ``append_log`` each, in order with those staged singly around them, and undone with their writer."""
    storage = backend.storage
    with storage.lock:
        storage.begin()
        tx = storage.staged(0)
        assert tx.append_log(b"single-0", leaf(0)) == 0
        assert tx.append_logs([b"many-1", b"many-2", b"many-3"], [leaf(1), leaf(2), leaf(3)]) == range(1, 4)
        assert tx.append_logs([], []) == range(4, 4)
        assert tx.append_log(b"single-4", leaf(4)) == 4
        assert list(tx.appended_leaves) == [leaf(i) for i in range(5)]
        storage.keep_staged()
        undone = storage.staged(5)
        assert undone.append_logs([b"undone-5", b"undone-6"], [leaf(5), leaf(6)]) == range(5, 7)
        storage.drop_staged()
        storage.commit()
    entries = [b"single-0", b"many-1", b"many-2", b"many-3", b"single-4"]
    assert storage.log_entries(0, 10) == [(i, e, leaf(i)) for i, e in enumerate(entries)]
    assert storage.log_size() == 5


def test_rollback_leaves_nothing_behind(backend: Backend) -> None:
    storage = backend.storage
    with storage.lock:
        storage.begin()
        tx = storage.staged(0)
        tx.append_log(b"gone", leaf(0))
        tx.put_org(ORG)
        storage.keep_staged()
        storage.rollback()
    assert storage.log_size() == 0 and storage.orgs() == []
    assert commit(storage, entries=1) == 0  # the next batch starts where the committed log ends
    assert storage.log_entries(0, 5) == [(0, b"entry-0", leaf(0))]


def test_reads_see_committed_data_only_and_the_transaction_sees_its_own(backend: Backend) -> None:
    storage = backend.storage
    commit(storage, lambda tx: tx.put_org(ORG), entries=1)
    changed_org = dataclasses.replace(ORG, key_version=2)
    key_row = IdempotentRow(
        org="dbs", key="k1", request_sha256=b"\x01" * 32, response=b"answer", log_index=1, created_at_ms=5
    )
    with storage.lock:
        assert storage.begin() == 1
        tx = storage.staged(1)
        tx.append_log(b"staged", leaf(1))
        tx.put_org(changed_org)
        tx.put_index(INDEX)
        tx.insert_request(request_row("r1"))
        tx.put_idempotent(key_row)
        tx.set_meta("retired_through", "2")
        storage.keep_staged()
        # What the transaction decides on: committed rows plus its own staged ones.
        again = storage.staged(2)
        assert again.org("kent") == changed_org and again.index("kent", 3) == INDEX
        assert again.request("r1") == request_row("r1") and again.idempotent("dbs", "k1") == key_row
        assert again.org("nobody") is None and again.index("kent", 4) is None
        storage.keep_staged()
        # What everyone else reads: the committed state only.
        assert storage.orgs() == [ORG] and storage.indexes() == []
        assert storage.request("r1") is None and storage.idempotent("dbs", "k1") is None
        assert storage.log_size() == 1 and storage.log_entries(0, 5) == [(0, b"entry-0", leaf(0))]
        assert storage.meta("retired_through") is None
        storage.commit()
    assert storage.orgs() == [changed_org] and storage.indexes() == [INDEX]
    assert storage.idempotent("dbs", "k1") == key_row and storage.meta("retired_through") == "2"
    assert storage.log_size() == 2


def test_an_idempotency_key_is_taken_once(backend: Backend) -> None:
    storage = backend.storage
    row = IdempotentRow(
        org="dbs", key="k", request_sha256=b"\x01" * 32, response=b"r", log_index=0, created_at_ms=1
    )
    commit(storage, lambda tx: tx.put_idempotent(row), entries=1)
    with storage.lock:
        storage.begin()
        tx = storage.staged(1)
        with pytest.raises(AlreadyExistsError):
            tx.put_idempotent(dataclasses.replace(row, response=b"other"))
        storage.drop_staged()
        storage.commit()
    assert storage.idempotent("dbs", "k") == row
    assert storage.idempotent("kent", "k") is None  # keys are per organisation


def test_old_idempotency_answers_are_forgotten_a_batch_at_a_time(backend: Backend) -> None:
    storage = backend.storage
    rows = [
        IdempotentRow(
            org="dbs", key=f"k{i}", request_sha256=b"\x01" * 32, response=b"r", log_index=0, created_at_ms=i
        )
        for i in range(5)
    ]

    def keep(tx: object) -> None:
        for row in rows:
            tx.put_idempotent(row)  # type: ignore[attr-defined]

    commit(storage, keep, entries=1)
    forgotten: list[int] = []
    commit(storage, lambda tx: forgotten.append(tx.forget_idempotent(created_before_ms=3, limit=2)))
    commit(storage, lambda tx: forgotten.append(tx.forget_idempotent(created_before_ms=3, limit=2)))
    assert forgotten == [2, 1]
    assert [storage.idempotent("dbs", f"k{i}") for i in range(5)] == [None, None, None, rows[3], rows[4]]


def test_begin_says_how_long_the_committed_log_is(backend: Backend) -> None:
    storage = backend.storage
    assert commit(storage, entries=3) == 0
    assert commit(storage, entries=2) == 3
    assert storage.log_size() == 5
    with storage.lock:
        assert storage.begin() == 5
        storage.rollback()


def test_the_log_is_append_only(backend: Backend) -> None:
    commit(backend.storage, entries=2)
    for sql in ("UPDATE log SET entry = X'00' WHERE idx = 0", "DELETE FROM log WHERE idx = 1"):
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.IntegrityConstraintViolation)):
            backend.raw(sql.replace("X'00'", "'\\x00'::bytea") if backend.name == "postgresql" else sql)
    assert backend.storage.log_entries(0, 5) == [(0, b"entry-0", leaf(0)), (1, b"entry-1", leaf(1))]


# ------------------------------------------------------------------------------------------ heads, meta


def test_heads_in_size_order_and_by_size(backend: Backend) -> None:
    storage = backend.storage
    heads = [HeadRow(tree_size=n, timestamp_ms=10 * n, root=leaf(n), signature=b"s" * 64) for n in (1, 3)]
    commit(storage, lambda tx: tx.put_head(heads[0]), entries=1)
    commit(storage, lambda tx: tx.put_head(heads[1]), entries=2)
    assert storage.heads() == heads and storage.latest_head() == heads[1]
    assert storage.head_at(1) == heads[0] and storage.head_at(2) is None


def test_cosignatures_by_witness_and_the_best_cosigned_size(backend: Backend) -> None:
    storage = backend.storage

    def cosign(tx: object) -> None:
        for size, witness in (
            (4, "b-witness"),
            (4, "a-witness"),
            (6, "a-witness"),
            (6, "b-witness"),
            (7, "a"),
        ):
            tx.put_cosignature(size, witness, f"line {witness} {size}", 100)  # type: ignore[attr-defined]

    commit(storage, cosign)
    commit(storage, lambda tx: tx.put_cosignature(4, "a-witness", "replaced", 101))
    assert storage.cosignatures(4) == ["replaced", "line b-witness 4"]
    assert storage.cosignatures(5) == []
    assert storage.best_cosigned_size(0) == 4  # two each at 4 and 6: the smaller
    assert storage.best_cosigned_size(5) == 6 and storage.best_cosigned_size(7) == 7
    assert storage.best_cosigned_size(8) is None


# ------------------------------------------------------------------------------------------ requests


def requests_fixture(storage: Storage) -> None:
    rows = [
        request_row("aa01", deadline_ms=50, created_at_ms=2, updated_at_ms=10, state=1),
        request_row("aa02", deadline_ms=50, created_at_ms=1, updated_at_ms=10, state=2, holder_org="essex"),
        request_row("ab03", deadline_ms=20, created_at_ms=3, updated_at_ms=5, state=6, requester_org="fca"),
        request_row("b004", deadline_ms=90, created_at_ms=0, updated_at_ms=30, state=1, tokens=b""),
        request_row(
            "b005",
            deadline_ms=10,
            created_at_ms=4,
            updated_at_ms=1,
            state=6,
            tokens=b"",
            legal_basis="",
            case_reference="",
            officer_id="",
            sealed=None,
            matched_indexes=(),
        ),
    ]

    def insert(tx: object) -> None:
        for row in rows:
            tx.insert_request(row)  # type: ignore[attr-defined]

    commit(storage, insert, entries=1)


def ids(rows: list[RequestRow]) -> list[str]:
    return [r.request_id for r in rows]


def test_requests_in_the_order_a_disclosure_officer_works(backend: Backend) -> None:
    storage = backend.storage
    requests_fixture(storage)
    assert ids(storage.requests(limit=10)) == ["b005", "ab03", "aa02", "aa01", "b004"]
    assert ids(storage.requests(limit=2)) == ["b005", "ab03"]
    assert ids(storage.requests(holder="kent", limit=10)) == ["b005", "ab03", "aa01", "b004"]
    assert ids(storage.requests(requester="fca", limit=10)) == ["ab03"]
    assert ids(storage.requests(states=(1, 2), limit=10)) == ["aa02", "aa01", "b004"]
    assert ids(storage.requests(holder="kent", states=(1,), limit=10)) == ["aa01", "b004"]
    assert storage.request("aa01") == request_row(
        "aa01", deadline_ms=50, created_at_ms=2, updated_at_ms=10, state=1
    )


def test_requests_by_id_prefix_only_for_a_party(backend: Backend) -> None:
    storage = backend.storage
    requests_fixture(storage)
    assert ids(storage.requests_with_id_prefix("a", party_org=None, limit=10)) == ["aa01", "aa02", "ab03"]
    assert ids(storage.requests_with_id_prefix("aa", party_org=None, limit=1)) == ["aa01"]
    assert ids(storage.requests_with_id_prefix("a", party_org="essex", limit=10)) == ["aa02"]
    assert ids(storage.requests_with_id_prefix("a", party_org="fca", limit=10)) == ["ab03"]
    assert storage.requests_with_id_prefix("c", party_org=None, limit=10) == []


def test_changed_since_pages_through_every_change_once(backend: Backend) -> None:
    storage = backend.storage
    requests_fixture(storage)
    seen: list[str] = []
    after = (-1, "")
    for _page in range(10):
        page = storage.requests_changed_since(after=after, limit=2)
        if not page:
            break
        seen += ids(page)
        after = (page[-1].updated_at_ms, page[-1].request_id)
    assert seen == ["b005", "ab03", "aa01", "aa02", "b004"]
    assert ids(storage.requests_changed_since(after=(10, "aa01"), limit=10)) == ["aa02", "b004"]
    assert ids(storage.requests_changed_since(holder="kent", states=(1,), after=(0, ""), limit=10)) == [
        "aa01",
        "b004",
    ]


def test_due_before_and_to_forget(backend: Backend) -> None:
    storage = backend.storage
    requests_fixture(storage)
    assert ids(storage.requests_due_before(60, (1, 2, 6))) == ["b005", "ab03", "aa01", "aa02"]
    assert ids(storage.requests_due_before(60, (1,))) == ["aa01"]
    assert storage.requests_due_before(60, ()) == []
    # b005 holds nothing any more; b004 holds text but no tokens.
    assert ids(storage.requests_to_forget(states=(1, 2, 6), updated_before_ms=100, limit=10)) == [
        "ab03",
        "aa01",
        "aa02",
        "b004",
    ]
    assert ids(
        storage.requests_to_forget(states=(1, 6), updated_before_ms=100, limit=10, tokens_only=True)
    ) == [
        "ab03",
        "aa01",
    ]
    assert ids(storage.requests_to_forget(states=(1, 2, 6), updated_before_ms=10, limit=10)) == ["ab03"]
    assert storage.requests_to_forget(states=(), updated_before_ms=100, limit=10) == []


def test_update_request_changes_what_may_change(backend: Backend) -> None:
    storage = backend.storage
    requests_fixture(storage)
    forgotten = dataclasses.replace(
        request_row("aa01", deadline_ms=50, created_at_ms=2, updated_at_ms=10, state=1),
        state=6,
        updated_at_ms=99,
        refusal_reason=3,
        sealed=None,
        sealed_sha256=None,
        log_index=8,
        tokens=b"",
        legal_basis="",
        case_reference="",
        officer_id="",
        matched_indexes=(),
        approval_log_index=0,
    )
    commit(storage, lambda tx: tx.update_request(forgotten), entries=1)
    assert storage.request("aa01") == forgotten
    assert storage.reclaim_forgotten() in (True, False)  # best effort on both; never raises


# ------------------------------------------------------------------------------------------ index bits


def test_bits_round_trip_and_referenced_bits_survive_a_prune(backend: Backend) -> None:
    storage = backend.storage
    bits = bytes(range(256)) * 64
    storage.write_bits(INDEX.bits_sha256, bits)
    storage.write_bits(INDEX.bits_sha256, bits)  # a second write of the same bits is harmless
    commit(storage, lambda tx: tx.put_index(INDEX), entries=1)
    storage.prune_bits()
    assert storage.read_bits(INDEX.bits_sha256) == bits


# ------------------------------------------------------------------------------------------ PostgreSQL only


@pytest.fixture
def two(dsn: str) -> Iterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two matchers' storages on one database."""
    first, second = PostgresStorage.open(dsn), PostgresStorage.open(dsn)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


@POSTGRESQL_ONLY
def test_two_matchers_take_the_log_sequence_in_turn(two: tuple[PostgresStorage, PostgresStorage]) -> None:
    first, second = two
    began = threading.Event()
    second_began_at: list[int] = []

    def second_matcher() -> None:
        began.set()
        second_began_at.append(commit(second, entries=1))

    with first.lock:
        assert first.begin() == 0
        tx = first.staged(0)
        tx.append_log(b"entry-0", leaf(0))
        tx.append_log(b"entry-1", leaf(1))
        first.keep_staged()
        worker = threading.Thread(target=second_matcher)
        worker.start()
        began.wait(5)
        time.sleep(0.3)
        assert second_began_at == []  # it waits for the sequence
        first.commit()
    worker.join(10)
    assert second_began_at == [2]  # and learns what the first appended before adding its own
    assert first.log_entries(0, 10) == [(i, b"entry-%d" % i, leaf(i)) for i in range(3)]


@POSTGRESQL_ONLY
def test_a_writer_that_has_not_caught_up_cannot_stage(two: tuple[PostgresStorage, PostgresStorage]) -> None:
    first, second = two
    commit(first, entries=2)
    with second.lock:
        assert second.begin() == 2
        with pytest.raises(PreconditionError, match="not caught up"):
            second.staged(0)
        second.rollback()


@POSTGRESQL_ONLY
def test_the_committed_size_only_moves_over_contiguous_rows(dsn: str) -> None:
    storage = PostgresStorage.open(dsn)
    try:
        with storage.lock:
            storage.begin()
            tx = storage.staged(0)
            tx.append_log(b"entry-0", leaf(0))
            tx.next_log_index = 5  # a bug that would leave a gap
            tx.append_log(b"entry-5", leaf(5))
            storage.keep_staged()
            with pytest.raises(UnavailableError, match="not contiguous"):
                storage.commit()
        assert storage.log_size() == 0 and storage.log_entries(0, 10) == []
    finally:
        storage.close()


@POSTGRESQL_ONLY
def test_a_commit_wakes_the_other_matcher_not_itself(two: tuple[PostgresStorage, PostgresStorage]) -> None:
    first, second = two
    second.wait_for_log_change(0.1)  # the first call listens, and returns at once
    first.wait_for_log_change(0.1)
    started = time.monotonic()
    second.wait_for_log_change(0.3)  # nobody appended: it waits the time out
    assert time.monotonic() - started >= 0.25

    woken: list[float] = []

    def wait() -> None:
        began = time.monotonic()
        second.wait_for_log_change(10)
        woken.append(time.monotonic() - began)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    commit(first, entries=1)
    waiter.join(10)
    assert woken and woken[0] < 5
    started = time.monotonic()
    commit(second, entries=1)
    second.wait_for_log_change(0.5)  # its own commit is not news
    assert time.monotonic() - started >= 0.45


@POSTGRESQL_ONLY
def test_close_ends_a_wait(dsn: str) -> None:
    storage = PostgresStorage.open(dsn)
    storage.wait_for_log_change(0.1)
    started = time.monotonic()
    closer = threading.Timer(0.3, storage.close)
    closer.start()
    storage.wait_for_log_change(30)
    closer.join()
    assert time.monotonic() - started < 5


@POSTGRESQL_ONLY
def test_a_killed_writer_session_aborts_the_batch_and_the_next_begin_reconnects(dsn: str) -> None:
    storage = PostgresStorage.open(dsn)
    try:
        commit(storage, entries=1)
        with storage.lock:
            storage.begin()
            tx = storage.staged(1)
            tx.append_log(b"lost", leaf(1))
            storage.keep_staged()
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            with pytest.raises(UnavailableError):
                storage.staged(2).append_log(b"lost too", leaf(2))
            assert not storage.in_transaction()
            storage.rollback()
        assert commit(storage, entries=1) == 1  # a new writer connection, and nothing of the lost batch
        assert storage.log_entries(0, 5) == [(0, b"entry-0", leaf(0)), (1, b"entry-1", leaf(1))]
    finally:
        storage.close()


@POSTGRESQL_ONLY
def test_bits_another_replica_is_still_publishing_survive_a_prune(dsn: str) -> None:
    storage = PostgresStorage.open(dsn)
    try:
        storage.write_bits("cd" * 32, b"new bits, row not committed yet")
        storage.write_bits("ef" * 32, b"superseded long ago")
        # Backdate the second as if written and released by an earlier prune more than a grace ago.
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                "UPDATE index_bits SET created_at_ms = 0, released_at_ms = 1 WHERE sha256 = %s", ("ef" * 32,)
            )
        assert storage.prune_bits() == 1
        assert storage.read_bits("cd" * 32) == b"new bits, row not committed yet"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("UPDATE index_bits SET created_at_ms = 0")
        assert storage.prune_bits() == 0  # unreferenced now, but only marked: a reader may be loading it
        assert storage.read_bits("cd" * 32)
    finally:
        storage.close()


@POSTGRESQL_ONLY
def test_an_unreachable_database_is_unavailable_and_the_password_never_shows(
    matcher_backend: str, tmp_path: Path
) -> None:
    secret = "s3cret-Pa55word"
    url = f"postgresql://crossforce:{secret}@/nowhere?host={tmp_path}&port=1"
    with pytest.raises(UnavailableError) as caught:
        PostgresStorage.open(url)
    assert "cannot reach PostgreSQL" in str(caught.value) and secret not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    key_value = f"host={tmp_path} port=1 dbname=nowhere user=crossforce password={secret}"
    with pytest.raises(UnavailableError) as caught:
        PostgresStorage.open(key_value)
    assert secret not in str(caught.value)
    assert secret not in pgschema.safe_dsn(url) and secret not in pgschema.safe_dsn(
        url + f"&password={secret}"
    )


@POSTGRESQL_ONLY
def test_a_database_not_upgraded_or_from_a_newer_matcher_is_refused(cluster: pgserver.PostgresServer) -> None:
    bare = cluster.create_database()
    with pytest.raises(PreconditionError, match=r"schema version 0.*crossforce db upgrade --db"):
        PostgresStorage.open(bare)
    assert pgschema.upgrade(bare) == (0, pgschema.SCHEMA_VERSION)
    with psycopg.connect(bare, autocommit=True) as admin:
        admin.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(PreconditionError, match="schema version 99, written by a newer matcher"):
        PostgresStorage.open(bare)
    with pytest.raises(PreconditionError, match="newer matcher"):
        pgschema.upgrade(bare)


@POSTGRESQL_ONLY
def test_two_upgrades_at_once_take_turns(cluster: pgserver.PostgresServer) -> None:
    bare = cluster.create_database()
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(pgschema.upgrade(bare))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    latest = pgschema.SCHEMA_VERSION
    assert sorted(results) == [(0, latest), (latest, latest), (latest, latest)]


@POSTGRESQL_ONLY
def test_a_database_restart_turns_unhealthy_then_recovers_by_itself(matcher_backend: str) -> None:
    with pgserver.running() as server:  # its own cluster: the others' tests keep theirs
        url = server.create_database()
        pgschema.upgrade(url)
        storage = PostgresStorage.open(url)
        try:
            commit(storage, entries=1)
            server.stop("immediate")
            started = time.monotonic()
            assert not storage.healthy()
            assert time.monotonic() - started < pgstore.HEALTH_WAIT_S + 3  # never hangs the health loop
            with pytest.raises(UnavailableError), storage.lock:
                storage.begin()
            with pytest.raises(UnavailableError):
                storage.log_size()
            server.start()
            deadline = time.monotonic() + 30
            while not storage.healthy() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert storage.healthy()
            assert commit(storage, entries=1) == 1
            assert storage.log_size() == 2
        finally:
            storage.close()


@POSTGRESQL_ONLY
def test_a_version_1_database_upgrades_and_its_requests_state_no_probability(
    cluster: pgserver.PostgresServer,
) -> None:
    """Version 2 adds ``requests.probability_ppm``: a request stored before reads back with 0 (not stated),
    which the reliability report leaves out."""
    old = cluster.create_database()
    stored = request_row("before-v2")
    with psycopg.connect(old, autocommit=True) as admin:
        for statement in pgschema.MIGRATIONS[1]:
            admin.execute(statement)
        admin.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        columns = [c for c in pgschema.REQUESTS.columns if c != "probability_ppm"]
        values = {c: getattr(stored, c) for c in columns}
        values["key_types"] = ",".join(str(k) for k in stored.key_types)
        values["matched_indexes"] = "3:2"
        admin.execute(
            f"INSERT INTO requests ({', '.join(columns)}) VALUES ({', '.join(f'%({c})s' for c in columns)})",
            values,
        )
    assert pgschema.upgrade(old) == (1, pgschema.SCHEMA_VERSION)
    storage = PostgresStorage.open(old)
    try:
        assert storage.request(stored.request_id) == stored  # probability_ppm 0: not stated
        storage_rows = storage.request_outcomes()
        assert storage_rows == []
    finally:
        storage.close()
