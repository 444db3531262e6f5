"""Crash durability: SIGKILL the matcher (a child process) at random moments and mid-publish-stream.

After every restart, everything the matcher acknowledged is there, the log is a superset of every head a
client was shown, the database passes ``PRAGMA integrity_check``, and a half-received index never serves
(docs/threat-model.md: "crash mid-publish or mid-decision"). Set CROSSFORCE_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from crossforce.client.sdk import CHUNK_BYTES
from crossforce.domain import Role
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES
from crossforce.v2 import crossforce_pb2 as pb
from tests.reliability.crash_harness import (
    EPOCH,
    Deployment,
    base_records,
    build_index,
    index_of,
    kill_at_random,
    marker_record,
    strong_hits,
)

SEED = int(os.environ.get("CROSSFORCE_CRASH_SEED", str(int(time.time()))))
DEFAULT_KILLS = 50
SLOW_KILLS = 500
LARGE_INDEX_TOKENS = 2_000_000
"""Declared capacity of the large index: about 7 MiB of bits, so the stream is several 1 MiB chunks."""


def test_acknowledged_writes_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    report = kill_at_random(tmp_path, kills=DEFAULT_KILLS, seed=SEED)
    print(report.line())
    assert report.kills == DEFAULT_KILLS
    assert report.ops["publish"] and report.ops["resolve"] and report.ops["approve"] and report.ops["fetch"]


@pytest.mark.slow
def test_acknowledged_writes_survive_500_sigkills(tmp_path: Path) -> None:
    report = kill_at_random(tmp_path, kills=SLOW_KILLS, seed=SEED)
    print(report.line())
    assert report.kills == SLOW_KILLS


@pytest.mark.parametrize("chunks_before_kill", [0, 1, 3, 5, "all"])
def test_half_received_index_never_serves_after_sigkill_mid_stream(
    tmp_path: Path, chunks_before_kill: int | str
) -> None:
    d = Deployment.create(tmp_path, [("kent", FORCE_ROLES), ("dbs", VETTING_ROLES)])
    try:
        with d.client("kent", Role.FORCE_SYSTEM) as kent:
            bloom, n = build_index(kent, [*base_records("kent"), marker_record("kent", 1)])
            kent.publish_index(bloom, epoch=EPOCH, token_count=n, record_count=n, version=1)
            records = [*base_records("kent"), marker_record("kent", 2)]
            triples = kent.encode_records(records, epoch=EPOCH)
            big = index_of(triples, first_sized_for=LARGE_INDEX_TOKENS)
            bits = big.to_bytes()
            assert len(bits) > 5 * CHUNK_BYTES
            signed = kent.signed_header(
                big,
                epoch=EPOCH,
                token_count=big.token_count,
                # Sized for many chunks, so declared as that many records: the matcher refuses an index
                # holding more than max_index_bits_per_record bits per declared record.
                record_count=LARGE_INDEX_TOKENS,
                expires_in_days=1,
                version=2,
            )
            held, release = threading.Event(), threading.Event()
            hold_at = (
                len(range(0, len(bits), CHUNK_BYTES)) if chunks_before_kill == "all" else chunks_before_kill
            )

            def chunks() -> Iterator[pb.PublishChunk]:
                yield pb.PublishChunk(
                    header=pb.SignedIndexHeader(header=signed.header, signature=signed.signature)
                )
                for i, start in enumerate(range(0, len(bits), CHUNK_BYTES)):
                    if i == hold_at:
                        held.set()
                        release.wait(30)
                        return
                    yield pb.PublishChunk(bits=bits[start : start + CHUNK_BYTES])
                held.set()

            outcome: list[object] = []

            def send() -> None:
                try:
                    outcome.append(
                        kent.connection.index.Publish(chunks(), timeout=60, metadata=kent.connection.metadata)
                    )
                except grpc.RpcError as exc:
                    outcome.append(exc.code())

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            assert held.wait(30)
            d.server.kill()
            release.set()
            sender.join(30)
        assert outcome and outcome[0] == grpc.StatusCode.UNAVAILABLE, outcome
        d.start()
        assert d.integrity_check() == "ok"
        serving = {str(o): int(str(v)) for o, v in d.sql("SELECT org, version FROM indexes")}
        if chunks_before_kill != "all":
            assert serving["kent"] == 1, "a half-received index is serving"
        # Killed after the last chunk, the publish may have committed; then it must be whole.
        assert serving["kent"] in (1, 2)
        with d.client("dbs", Role.VETTING_OFFICER) as dbs:
            assert "kent" in strong_hits(dbs, marker_record("kent", serving["kent"]))
            assert "kent" not in strong_hits(dbs, marker_record("kent", 3 - serving["kent"]))
            assert {s.org: s.version for s in dbs.status().indexes} == {"kent": serving["kent"]}
        stored = {p.stem for p in (d.server.data_dir / "indexes").glob("*.bin")}
        if serving["kent"] == 1:
            assert big.sha256().hex() not in stored, "bits of a refused or torn publish were kept as an index"
    finally:
        d.close()
