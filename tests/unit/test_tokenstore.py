"""The local token store's generations, its migration from the single-table store, and the publish plan
(diff, shrink and bad-row bounds) that guards a republish."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossforce.client.publishplan import (
    BadRowBound,
    SkippedRow,
    check_bad_rows,
    check_shrink,
    diff_records,
    parse_share,
    plan,
)
from crossforce.client.tokenstore import (
    CURRENT,
    LEGACY_VERSION,
    PREVIOUS,
    SCHEMA_VERSION,
    STAGED,
    TokenStore,
    record_body,
)
from crossforce.domain import IndexRef
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, RecordError, ValidationError

JANE = Record(record_id="R1", given_names="Jane", surname="Okafor", date_of_birth="1984-03-02")
OMAR = Record(record_id="R2", given_names="Omar", surname="Haddad", date_of_birth="1990-11-30")
EPOCH = 1


def triples(*records: Record, tag: bytes = b"") -> list[tuple[str, int, bytes]]:
    return [(r.record_id, kt, f"{r.record_id}-{kt}".encode() + tag) for r in records for kt in (1, 2)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    s = TokenStore(tmp_path / "tokens.sqlite3")
    try:
        yield s
    finally:
        s.close()


def test_a_staged_generation_is_not_current_until_promoted(store: TokenStore) -> None:
    store.stage(EPOCH, 10, [JANE], triples(JANE), now_ms=1)
    store.promote(EPOCH, 10, now_ms=2)
    store.stage(EPOCH, 20, [OMAR], triples(OMAR), now_ms=3)
    current = store.current(EPOCH)
    assert current is not None and current.version == 10
    assert [(g.version, g.state) for g in store.generations()] == [(10, CURRENT), (20, STAGED)]
    assert store.count() == (1, 2)
    # The tokens of the current generation still resolve while the next one is only staged.
    assert store.resolve(current, [(1, b"R1-1")]) == {"R1": {1}}
    store.promote(EPOCH, 20, now_ms=4)
    assert [(g.version, g.state) for g in store.generations()] == [(10, PREVIOUS), (20, CURRENT)]


def test_resolving_uses_only_the_generation_asked_for(store: TokenStore) -> None:
    store.stage(EPOCH, 10, [JANE], triples(JANE), now_ms=1)
    store.promote(EPOCH, 10, now_ms=2)
    store.stage(EPOCH, 20, [OMAR], triples(OMAR), now_ms=3)
    store.promote(EPOCH, 20, now_ms=4)
    old = store.generation_for(IndexRef(epoch=EPOCH, version=10))
    new = store.generation_for(IndexRef(epoch=EPOCH, version=20))
    assert old is not None and new is not None
    assert store.resolve(old, [(1, b"R1-1")]) == {"R1": {1}}
    assert store.resolve(new, [(1, b"R1-1")]) == {}
    assert store.record(old, "R1") == JANE and store.record(new, "R1") is None
    assert store.generation_for(IndexRef(epoch=EPOCH, version=15)) is None
    assert store.generation_for(IndexRef(epoch=EPOCH + 1, version=10)) is None


def test_prune_keeps_current_staged_and_referenced_generations(store: TokenStore) -> None:
    for version in (10, 20, 30):
        store.stage(EPOCH, version, [JANE], triples(JANE), now_ms=version)
        store.promote(EPOCH, version, now_ms=version)
    store.stage(EPOCH, 40, [OMAR], triples(OMAR), now_ms=40)
    dropped = store.prune([IndexRef(epoch=EPOCH, version=10)])
    assert [g.version for g in dropped] == [20]
    assert [(g.version, g.state) for g in store.generations()] == [
        (10, PREVIOUS),
        (30, CURRENT),
        (40, STAGED),
    ]


def test_a_stage_that_fails_half_way_leaves_nothing(store: TokenStore) -> None:
    store.stage(EPOCH, 10, [JANE], triples(JANE), now_ms=1)
    store.promote(EPOCH, 10, now_ms=2)

    def broken() -> Iterator[tuple[str, int, bytes]]:
        yield ("R2", 1, b"R2-1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.stage(EPOCH, 20, [OMAR], broken(), now_ms=3)
    assert [(g.version, g.state) for g in store.generations()] == [(10, CURRENT)]
    assert store.count() == (1, 2)


def test_the_same_version_cannot_be_staged_twice(store: TokenStore) -> None:
    store.stage(EPOCH, 10, [JANE], triples(JANE), now_ms=1)
    with pytest.raises(PreconditionError):
        store.stage(EPOCH, 10, [OMAR], triples(OMAR), now_ms=2)
    with pytest.raises(PreconditionError):
        store.promote(EPOCH, 11, now_ms=2)


def make_v1_store(path: Path) -> None:
    """The store an older client wrote: one records table, one tokens table, no versions."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE records (record_id TEXT PRIMARY KEY, body TEXT NOT NULL);
        CREATE TABLE tokens (epoch INTEGER NOT NULL, token BLOB NOT NULL, key_type INTEGER NOT NULL,
                             record_id TEXT NOT NULL);
        CREATE INDEX tokens_by_value ON tokens (epoch, token);
        """
    )
    conn.executemany(
        "INSERT INTO records VALUES (?, ?)", [(r.record_id, record_body(r)) for r in (JANE, OMAR)]
    )
    conn.executemany(
        "INSERT INTO tokens VALUES (?, ?, ?, ?)",
        [(EPOCH, tok, kt, rid) for rid, kt, tok in triples(JANE, OMAR)],
    )
    conn.commit()
    conn.close()
    os.chmod(
        path, 0o600
    )  # as the refusal tells its owner (a 0644 one: tests/reliability/test_data_at_rest.py)


def test_a_single_table_store_migrates_to_one_current_generation_version_0(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    make_v1_store(path)
    store = TokenStore(path)
    try:
        [gen] = store.generations()
        assert (gen.epoch, gen.version, gen.state) == (EPOCH, LEGACY_VERSION, CURRENT)
        assert (gen.record_count, gen.token_count) == (2, 4)
        assert store.count() == (2, 4)
        assert store.resolve(gen, [(2, b"R2-2")]) == {"R2": {2}}
        assert store.record(gen, "R1") == JANE
        # Until this client stages a version, version 0 stands for whatever the matcher holds.
        assert store.generation_for(IndexRef(epoch=EPOCH, version=1_700_000_000_000)) == gen
        store.stage(EPOCH, 1_800_000_000_000, [OMAR], triples(OMAR, tag=b"new"), now_ms=1)
        store.promote(EPOCH, 1_800_000_000_000, now_ms=2)
        # From then on it stands only for the versions published before generations.
        assert store.generation_for(IndexRef(epoch=EPOCH, version=1_700_000_000_000)) is not None
        assert store.generation_for(IndexRef(epoch=EPOCH, version=1_900_000_000_000)) is None
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names == {"generations", "records", "tokens"}
    # Opening again is a no-op.
    again = TokenStore(path)
    try:
        assert len(again.generations()) == 2
    finally:
        again.close()


def test_a_store_from_a_newer_client_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    os.chmod(path, 0o600)
    with pytest.raises(PreconditionError, match="upgrade the client"):
        TokenStore(path)


def test_replace_epoch_keeps_one_unversioned_generation(store: TokenStore) -> None:
    store.stage(EPOCH, 10, [JANE], triples(JANE), now_ms=1)
    store.replace_epoch(EPOCH, [OMAR], triples(OMAR))
    [gen] = store.generations()
    assert (gen.version, gen.state) == (LEGACY_VERSION, CURRENT)
    assert store.generation_for(IndexRef(epoch=EPOCH, version=123)) == gen


# ------------------------------------------------------------------------------------------ the plan


@pytest.mark.parametrize(
    ("text", "count", "share"),
    [("0", 0, None), ("5", 5, None), ("2%", None, 0.02), ("0.5%", None, 0.005), (" 100% ", None, 1.0)],
)
def test_max_bad_forms(text: str, count: int | None, share: float | None) -> None:
    bound = BadRowBound.parse(text)
    assert (bound.count, bound.share) == (count, share)


@pytest.mark.parametrize("text", ["", "-1", "five", "2.5", "101%", "5 rows"])
def test_max_bad_nonsense_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="max-bad"):
        BadRowBound.parse(text)


def test_max_shrink_is_a_percentage() -> None:
    assert parse_share("10%", option="max-shrink") == pytest.approx(0.10)
    assert parse_share("25", option="max-shrink") == pytest.approx(0.25)
    with pytest.raises(ValidationError, match="max-shrink"):
        parse_share("a lot", option="max-shrink")


def skipped(n: int) -> list[SkippedRow]:
    return [
        SkippedRow.of(RecordError("is required", source="f.csv", line=2 + i, field="surname"), f"B{i}")
        for i in range(n)
    ]


def test_bad_rows_refused_beyond_the_bound_and_named_by_line_and_id() -> None:
    check_bad_rows([], rows=10, bound=BadRowBound())
    with pytest.raises(ValidationError) as first:
        check_bad_rows(skipped(2), rows=10, bound=BadRowBound())
    assert str(first.value).startswith("f.csv:2 (record B0): surname: is required (and 1 more bad rows)")
    check_bad_rows(skipped(2), rows=10, bound=BadRowBound.parse("20%"))
    with pytest.raises(ValidationError, match="3 of 10 rows"):
        check_bad_rows(skipped(3), rows=10, bound=BadRowBound.parse("20%"))
    check_bad_rows(skipped(3), rows=10, bound=BadRowBound.unlimited())


def test_diff_and_shrink_bound() -> None:
    changed = Record(record_id="R1", given_names="Jane", surname="Okafor-Smith", date_of_birth="1984-03-02")
    published = {r.record_id: record_body(r) for r in (JANE, OMAR)}
    diff = diff_records(
        published, [changed, Record(record_id="R3", surname="New", date_of_birth="2000-01-01")]
    )
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (("R3",), ("R2",), ("R1",), 0)
    assert diff.removed_share == pytest.approx(0.5)
    with pytest.raises(ValidationError, match="drop 1 of 2 records"):
        check_shrink(diff, max_share=0.1)
    check_shrink(diff, max_share=0.5)  # exactly the bound is allowed
    ten = {f"R{i}": "{}" for i in range(10)}
    check_shrink(diff_records(ten, [Record(record_id=f"R{i}", surname="x") for i in range(9)]), max_share=0.1)


def test_plan_counts_tokens_and_keyless_records_without_a_secret() -> None:
    keyless = Record(record_id="K", surname="")
    report = plan([JANE, OMAR, keyless], skipped(1), previous=None)
    assert (report.rows, report.records, report.keyless, report.diff) == (4, 3, ("K",), None)
    assert report.tokens > 2
