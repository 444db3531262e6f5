"""Issue 13 items 1 and 2 over real mTLS: a publish never desyncs the force's token store from the
matcher, and a republish never silently replaces an index; a true hit is never called a false positive.

Each test first reproduces the failure as the issue describes it (a publish with the matcher down, a
one-record file over an eight-record index, a lost acknowledgement, a generation no longer held) and
then checks what the desk says about a request for a record the matcher matched.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.client.recordfile import write_records
from crossforce.client.sdk import Client
from crossforce.client.tokenstore import GenerationGoneError, TokenStore
from crossforce.domain import RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import UnavailableError, ValidationError
from crossforce.testkit.localnet import LocalNet

from .conftest import WHY

HOLDER = "humberside"


def people(prefix: str, n: int) -> list[Record]:
    """``n`` distinct people, each with a name and date of birth no other helper call reuses."""
    syllables = ("ba", "de", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu")
    out = []
    for i in range(n):
        word = "".join(syllables[int(d)] for d in f"{i:03d}")
        out.append(
            Record(
                record_id=f"{prefix}-{i:03d}",
                given_names=f"{prefix.capitalize()}{word}",
                surname=f"Tel{word}{prefix}",
                date_of_birth=f"19{50 + i % 40:02d}-{1 + i % 12:02d}-{1 + i % 27:02d}",
            )
        )
    return out


def open_request(net: LocalNet, candidate: Record) -> str:
    """The vetting body checks ``candidate``; returns the id of the request opened at the holder."""
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        report = dbs.check(candidate, WHY, open_requests=True)
    ids = [h.request_id for h in report.hits if h.org == HOLDER]
    assert ids and ids[0], f"no hit at {HOLDER} for {candidate.record_id}"
    return ids[0]


def serving_version(net: LocalNet) -> int:
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        return next(s.version for s in dbs.status().indexes if s.org == HOLDER)


def run(args: Sequence[object]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_failed_publish_never_mislabels_a_true_hit(net: LocalNet, tmp_path: Path) -> None:
    old, new = people("old", 8), people("new", 8)
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        first = force.publish_records(old)
    request_id = open_request(net, old[0])

    # The matcher goes away; the force publishes a different file and the publish fails.
    net.stop_server()
    down = Client(net.profiles[HOLDER], role=Role.FORCE_SYSTEM, timeout=5.0)
    with down as force, pytest.raises(UnavailableError):
        force.publish_records(new)
    net.start_server()

    # The matcher still serves the first index, and the desk still holds what it was built from.
    assert serving_version(net) == first.version
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        resolution = desk.resolve(request_id)
    assert resolution.confirmed, "a true hit was called a false positive after a failed publish"
    assert [r.record_id for r in resolution.records] == [old[0].record_id]
    assert resolution.request.state == RequestState.CONFIRMED

    # The next publish works, and a request against it resolves against the new records.
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        second = force.publish_records([*old, *new])
    assert second.version > first.version
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        assert desk.resolve(open_request(net, new[3])).confirmed


def test_lost_acknowledgement_is_promoted_on_the_next_desk_action(net: LocalNet) -> None:
    old, new = people("old", 8), people("new", 8)
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        force.publish_records(old)

    class Interrupted(Exception):
        pass

    def lose_the_ack(step: str) -> None:
        if step == "send":
            raise Interrupted  # the matcher committed; the client never promoted

    losing = Client(net.profiles[HOLDER], role=Role.FORCE_SYSTEM, publish_checkpoint=lose_the_ack)
    with losing as force, pytest.raises(Interrupted):
        force.publish_records(new)
    request_id = open_request(net, new[2])
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        resolution = desk.resolve(request_id)
    assert resolution.confirmed
    assert [r.record_id for r in resolution.records] == [new[2].record_id]
    store = TokenStore(net.profiles[HOLDER].token_store_path)
    try:
        assert [g.version for g in store.staged()] == []
        assert [g.version for g in store.currents()] == [serving_version(net)]
    finally:
        store.close()


def test_shrinking_republish_is_refused_and_never_mislabels(net: LocalNet, tmp_path: Path) -> None:
    profile = net.profiles[HOLDER].path
    eight, one = tmp_path / "eight.csv", tmp_path / "one.csv"
    records = people("old", 8)
    write_records(eight, records)
    write_records(one, records[7:])
    assert run(["publish", "--profile", profile, "--records", eight]).exit_code == 0
    first = serving_version(net)
    request_id = open_request(net, records[0])

    # The small file is refused, nothing is sent, and the message says why and how to go on.
    refused = run(["publish", "--profile", profile, "--records", one])
    assert refused.exit_code == ExitStatus.BAD_INPUT, refused.output
    assert "7 of 8 records" in refused.stderr and "--allow-shrink" in refused.stderr
    assert [line for line in refused.output.splitlines() if line.strip()] == refused.stderr.splitlines()
    assert serving_version(net) == first

    # Asked for, the shrink happens; the open request still resolves against the index it matched.
    allowed = run(["publish", "--profile", profile, "--records", one, "--allow-shrink"])
    assert allowed.exit_code == 0, allowed.output
    assert serving_version(net) > first
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        resolution = desk.resolve(request_id)
    assert resolution.confirmed, "a request against a removed record was called a false positive"
    assert [r.record_id for r in resolution.records] == [records[0].record_id]


def test_request_whose_generation_is_gone_says_so_and_stays_open(net: LocalNet) -> None:
    old = people("old", 8)
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        first = force.publish_records(old)
    request_id = open_request(net, old[0])
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        force.publish_records(old[:7] + people("new", 1), max_shrink=None)
    # The generation the request matched is lost locally (a store restored from an older backup).
    store = TokenStore(net.profiles[HOLDER].token_store_path)
    try:
        store.drop(first.epoch, first.version)
    finally:
        store.close()

    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        with pytest.raises(GenerationGoneError) as gone:
            desk.resolve(request_id)
        assert f"matched index v{first.version}" in str(gone.value)
        assert "no longer held locally" in str(gone.value)
        assert desk.get_request(request_id).state == RequestState.OPEN

    profile = net.profiles[HOLDER].path
    for command in (["desk", "resolve", request_id], ["desk", "show", request_id]):
        result = run([*command, "--profile", profile])
        assert result.exit_code == ExitStatus.BAD_INPUT, result.output
        assert "no longer held locally" in result.output
        assert "false positive" not in result.output
    watched = run(["desk", "watch", "--profile", profile, "--resolve", "--timeout", "2"])
    assert watched.exit_code == ExitStatus.BAD_INPUT, watched.output
    said = " ".join(watched.output.split())
    assert f"left open: matched index v{first.version}, no longer held locally" in said
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        assert desk.get_request(request_id).state == RequestState.OPEN


def test_republish_keeps_generations_open_requests_use_and_prunes_the_rest(net: LocalNet) -> None:
    records = people("old", 8)
    versions = []
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        versions.append(force.publish_records(records).version)
    request_id = open_request(net, records[1])
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        versions.append(force.publish_records(records[:8]).version)
        versions.append(force.publish_records(records[:8]).version)
    store = TokenStore(net.profiles[HOLDER].token_store_path)
    try:
        held = sorted(g.version for g in store.generations())
    finally:
        store.close()
    # The first is kept for the open request, the second is neither current nor referred to.
    assert held == [versions[0], versions[2]]
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        assert desk.resolve(request_id).confirmed


@pytest.mark.backends("sqlite")  # decided in the client before anything is sent
def test_validate_and_dry_run_report_rows_skips_tokens_and_diff_without_sending(
    net: LocalNet, tmp_path: Path
) -> None:
    profile = net.profiles[HOLDER].path
    records = people("old", 8)
    published = tmp_path / "published.csv"
    write_records(published, records)
    assert run(["publish", "--profile", profile, "--records", published]).exit_code == 0
    first = serving_version(net)

    changed = Record(
        record_id=records[2].record_id,
        given_names=records[2].given_names,
        surname="Changedsurname",
        date_of_birth=records[2].date_of_birth,
    )
    next_file = tmp_path / "next.csv"
    write_records(next_file, [*records[:2], changed, *records[3:7], *people("new", 2)])
    with next_file.open("a", encoding="utf-8") as handle:
        handle.write("BAD-9,Secretname,,1970-01-01" + "," * 7 + "\n")
    bad_out = tmp_path / "bad.jsonl"

    for command in (
        ["validate", next_file, "--profile", profile, "--json", "--bad-rows-out", bad_out],
        ["publish", "--profile", profile, "--records", next_file, "--dry-run", "--json"],
    ):
        result = run(command)
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["rows"] == 10 and doc["records"] == 9 and doc["tokens"] > 9
        assert [(s["line"], s["record_id"]) for s in doc["skipped"]] == [(11, "BAD-9")]
        assert doc["diff"]["added"] == ["new-000", "new-001"]
        assert doc["diff"]["removed"] == [records[7].record_id]
        assert doc["diff"]["changed"] == [records[2].record_id]
        assert "Secretname" not in result.output
    assert serving_version(net) == first

    lines = [json.loads(line) for line in bad_out.read_text().splitlines()]
    assert [(row["line"], row["record_id"]) for row in lines] == [(11, "BAD-9")]
    assert "Secretname" not in bad_out.read_text()
    assert stat.S_IMODE(bad_out.stat().st_mode) == 0o600

    # Without a profile: rows, skips and tokens, no diff; the default --max-bad 0 is for publish.
    bare = run(["validate", next_file, "--json"])
    assert bare.exit_code == 0, bare.output
    assert json.loads(bare.stdout)["diff"] is None
    refused = run(["publish", "--profile", profile, "--records", next_file])
    assert refused.exit_code == ExitStatus.BAD_INPUT
    assert "next.csv:11" in refused.stderr and "--max-bad" in refused.stderr
    assert serving_version(net) == first
    shrunk = run(["publish", "--profile", profile, "--records", next_file, "--max-bad", "1"])
    assert shrunk.exit_code == ExitStatus.BAD_INPUT and "drop 1 of 8 records" in shrunk.stderr
    took = run(["publish", "--profile", profile, "--records", next_file, "--max-bad", "1", "--allow-shrink"])
    assert took.exit_code == 0, took.output
    assert serving_version(net) > first


@pytest.mark.backends("sqlite")  # decided in the client before anything is sent
def test_max_bad_share_bounds_skipped_rows(net: LocalNet, tmp_path: Path) -> None:
    profile = net.profiles[HOLDER].path
    path = tmp_path / "rows.csv"
    write_records(path, people("old", 9))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("BAD-1,Nobody,,1970-01-01" + "," * 7 + "\n")
    over = run(["publish", "--profile", profile, "--records", path, "--max-bad", "5%"])
    assert over.exit_code == ExitStatus.BAD_INPUT and "1 of 10 rows" in over.stderr
    assert run(["publish", "--profile", profile, "--records", path, "--max-bad", "10%"]).exit_code == 0


@pytest.mark.backends("sqlite")  # decided in the client before anything is sent
def test_sdk_shrink_guard_is_a_validation_error(net: LocalNet) -> None:
    records = people("old", 10)
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        force.publish_records(records)
        with pytest.raises(ValidationError, match="2 of 10 records"):
            force.publish_records(records[:8], max_shrink=0.1)
        assert force.publish_records(records[:9], max_shrink=0.1).record_count == 9
