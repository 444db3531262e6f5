"""Retries that never apply twice: checks and disclosure decisions sent again under one idempotency key.

A client whose answer was lost (the matcher died after committing, a connection dropped) sends the very
same request again. Each test sends it twice on purpose, over real mTLS, on SQLite and on PostgreSQL, and
checks what the matcher did the second time: nothing charged, nothing logged, nothing opened, the first
answer back. On PostgreSQL the retry also lands on a second matcher sharing the database.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crossforce.client.sdk import Client
from crossforce.domain import Candidate, CheckQuery, Justification, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, QuotaExceededError, ValidationError
from crossforce.limits import Limits
from crossforce.server import RunningServer, ServerSettings, start
from crossforce.server.policy.settings import QuotaSettings
from crossforce.testkit.checkunits import units_of
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import disclosure as wire_disclosure
from crossforce.wire import matching as wire_matching
from tests.integration.conftest import WHY

HELD = Record(record_id="HUM-42", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
CANDIDATE = dataclasses.replace(HELD, record_id="cand")
OTHER = Record(record_id="cand-2", given_names="Ada", surname="Lovelace", date_of_birth="1975-12-10")
BURST = 3
"""The organisation's whole allowance in checks: a retry that was charged would leave one check fewer."""
UNIT = units_of(CANDIDATE)
"""Quota units of one check here (spec v2 charges per token); OTHER costs the same, so counts hold."""
assert units_of(OTHER) == UNIT, "the allowance counts checks of equal cost"
SETTINGS = ServerSettings(
    expected_forces=(),
    limits=Limits(max_batch_candidates=BURST),
    quotas=QuotaSettings(org_burst=BURST * UNIT, org_rate_per_s=0.001),
)
KEY = "0123456789abcdef0123456789abcdef"
OTHER_KEY = "fedcba9876543210fedcba9876543210"
FOLLOW_S = 10.0


@pytest.fixture
def tight(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    """A deployment whose vetting body may make ``BURST`` checks in all, with one force's record held."""
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server(settings=SETTINGS)
    net.add_org("humberside", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    try:
        yield net
    finally:
        net.stop_server()


def _check_request(
    client: Client, key: str, record: Record = CANDIDATE, *, why: Justification = WHY
) -> pb.CheckRequest:
    epochs = list(client.status().active_epochs)
    candidate = Candidate.of(client.candidate_tokens(record, epochs))
    query = CheckQuery(candidates=(candidate,), justification=why, open_requests=True, idempotency_key=key)
    return wire_matching.check_request_to_pb(query)


def _send_check(client: Client, request: pb.CheckRequest) -> pb.CheckResponse:
    conn = client.connection
    return conn.call(conn.matcher.Check, request)


def _log_size(client: Client) -> int:
    return client.tree_head().head.tree_size


def _requests_against(net: LocalNet, org: str) -> list[str]:
    with net.client(org, Role.FORCE_SYSTEM) as holder:
        return [r.request_id for r in holder.list_requests(as_holder=True)]


def test_replayed_check_is_not_charged_or_logged_twice(tight: LocalNet) -> None:
    """The attack (or the accident): the same check sent again and again. Only the first is charged,
    logged and opens a request; every repeat gets the first answer, under the current tree head."""
    with tight.client("dbs", Role.VETTING_OFFICER) as dbs:
        request = _check_request(dbs, KEY)
        before = _log_size(dbs)
        first = _send_check(dbs, request)
        after_first = _log_size(dbs)
        assert [h.org for h in first.result.hits] == ["humberside"]
        assert first.result.hits[0].request_id
        assert after_first - before == 2  # the CHECK event and the request it opened
        for _ in range(2 * BURST):  # more repeats than the whole allowance: none may be charged
            again = _send_check(dbs, request)
            assert again.result == first.result
            assert again.coverage == first.coverage
            assert again.tree_head.tree_size >= first.tree_head.tree_size
        assert _log_size(dbs) == after_first
        assert _requests_against(tight, "humberside") == [first.result.hits[0].request_id]
        # The allowance is untouched by the repeats: BURST - 1 new checks still fit, then it is spent.
        for _ in range(BURST - 1):
            dbs.check(OTHER, WHY, open_requests=False)
        with pytest.raises(QuotaExceededError):
            dbs.check(OTHER, WHY, open_requests=False)


def test_same_key_for_a_different_check_is_refused(tight: LocalNet) -> None:
    with tight.client("dbs", Role.VETTING_OFFICER) as dbs:
        first = _send_check(dbs, _check_request(dbs, KEY))
        size = _log_size(dbs)
        other_case = dataclasses.replace(WHY, case_reference="APP-2026-0002")
        for changed in (_check_request(dbs, KEY, OTHER), _check_request(dbs, KEY, why=other_case)):
            with pytest.raises(PreconditionError, match="idempotency key was used for a different request"):
                _send_check(dbs, changed)
        batch = wire_matching.check_batch_request_to_pb(
            wire_matching.check_query_from_pb(_check_request(dbs, KEY))
        )
        with pytest.raises(PreconditionError, match="different request"):  # a batch of one is another call
            dbs.connection.call(dbs.connection.matcher.CheckBatch, batch)
        assert _log_size(dbs) == size
        assert _send_check(dbs, _check_request(dbs, KEY)).result == first.result  # the key still answers


def test_keyed_batch_is_answered_once(tight: LocalNet) -> None:
    with tight.client("dbs", Role.VETTING_OFFICER) as dbs:
        epochs = list(dbs.status().active_epochs)
        query = CheckQuery(
            candidates=tuple(Candidate.of(dbs.candidate_tokens(r, epochs)) for r in (CANDIDATE, OTHER)),
            justification=WHY,
            open_requests=False,
            idempotency_key=KEY,
        )
        request = wire_matching.check_batch_request_to_pb(query)
        call = dbs.connection.matcher.CheckBatch
        first = dbs.connection.call(call, request)
        size = _log_size(dbs)
        again = dbs.connection.call(call, request)
        assert list(again.results) == list(first.results)
        assert [len(r.hits) for r in first.results] == [1, 0]
        assert _log_size(dbs) == size
        dbs.check(OTHER, WHY, open_requests=False)  # 2 charged by the batch, 1 here: the allowance is spent
        with pytest.raises(QuotaExceededError):
            dbs.check(OTHER, WHY, open_requests=False)


@pytest.mark.parametrize(
    "key", ["short", "x" * 65, "0123456789abcdef 0123456789abcdef", "0123456789abcdef/0123456789abcdef"]
)
def test_malformed_key_is_refused_naming_the_field(tight: LocalNet, key: str) -> None:
    request_id = _opened_request(tight)
    with tight.client("dbs", Role.VETTING_OFFICER) as dbs:
        size = _log_size(dbs)
        with pytest.raises(ValidationError, match="idempotency_key"):
            _send_check(dbs, _check_request(dbs, key))
    with tight.client("humberside", Role.FORCE_SYSTEM) as hum:
        with pytest.raises(ValidationError, match="idempotency_key"):
            hum.connection.call(
                hum.connection.disclosure.Resolve,
                wire_disclosure.resolve_request(request_id, confirmed=True, idempotency_key=key),
            )
        assert _log_size(hum) == size
        assert hum.get_request(request_id).state is RequestState.OPEN


def _opened_request(net: LocalNet) -> str:
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        report = dbs.check(CANDIDATE, WHY, open_requests=True)
    return report.hits[0].request_id


def test_retried_decisions_return_the_request_as_it_is_once(tight: LocalNet) -> None:
    """Resolve and approve each sent twice under their key: the second answer is the request as it now
    is, with no second event; without a key the same repeat is refused (it already applied)."""
    request_id = _opened_request(tight)
    with tight.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        conn = officer.connection
        size = _log_size(officer)
        resolve = wire_disclosure.resolve_request(request_id, confirmed=True, idempotency_key=KEY)
        first = conn.call(conn.disclosure.Resolve, resolve)
        assert first.state == pb.CONFIRMED
        again = conn.call(conn.disclosure.Resolve, resolve)
        assert (again.state, again.log_index, again.updated_at_ms) == (
            first.state,
            first.log_index,
            first.updated_at_ms,
        )
        approve = wire_disclosure.approve_request(
            request_id, sealed_payload=b"ciphertext", officer_id="HUM-DO-7", idempotency_key=OTHER_KEY
        )
        approved = conn.call(conn.disclosure.Approve, approve)
        assert approved.state == pb.APPROVED
        assert conn.call(conn.disclosure.Approve, approve).log_index == approved.log_index
        assert _log_size(officer) == size + 2  # one CONFIRMED, one APPROVED: no repeat logged
        with pytest.raises(PreconditionError, match="different request"):  # the key of another decision
            conn.call(
                conn.disclosure.Refuse,
                wire_disclosure.refuse_request(
                    request_id, reason=pb.NOT_RELEVANT, officer_id="HUM-DO-7", idempotency_key=OTHER_KEY
                ),
            )
        unkeyed = wire_disclosure.approve_request(
            request_id, sealed_payload=b"ciphertext", officer_id="HUM-DO-7"
        )
        with pytest.raises(PreconditionError, match="APPROVED"):
            conn.call(conn.disclosure.Approve, unkeyed)
        assert _log_size(officer) == size + 2


def test_sdk_decisions_and_checks_carry_a_fresh_key_each(tight: LocalNet) -> None:
    """The SDK keys every write itself: two checks of the same candidate are two checks (two keys), not
    one check answered twice."""
    with tight.client("dbs", Role.VETTING_OFFICER) as dbs:
        size = _log_size(dbs)
        one = dbs.check(CANDIDATE, WHY, open_requests=False)
        two = dbs.check(CANDIDATE, WHY, open_requests=False)
        assert one.check_id != two.check_id
        assert _log_size(dbs) == size + 2


# ------------------------------------------------------------------ a retry on another matcher
def _eventually(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + FOLLOW_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {FOLLOW_S} s")
        time.sleep(0.05)


def _second_matcher(net: LocalNet) -> RunningServer:
    """Another matcher on the same database, with a copy of the log signing key (as every replica has)."""
    folder = net.root / "matcher-b"
    folder.mkdir(mode=0o700)
    for name in ("log-signing-key", "log-key.pub"):
        shutil.copy2(net.data_dir / name, folder / name)
    return start(data_dir=folder, pki_dir=net.server_pki_dir, settings=SETTINGS, db=net.db)


def _on(net: LocalNet, server: RunningServer, org: str, role: str) -> Client:
    return Client(net.profiles[org].with_server(f"localhost:{server.port}"), role=role)


@pytest.mark.backends("postgresql")
def test_check_committed_on_one_matcher_is_not_applied_again_on_another(tight: LocalNet) -> None:
    """Replica A commits the check and its answer is lost; the client retries on replica B with the key:
    B answers with A's answer, logs and charges nothing, and a decision retried on B does not fail."""
    a = tight.running_server
    b = _second_matcher(tight)
    try:
        with (
            _on(tight, a, "dbs", Role.VETTING_OFFICER) as on_a,
            _on(tight, b, "dbs", Role.VETTING_OFFICER) as on_b,
        ):
            request = _check_request(on_a, KEY)
            first = _send_check(on_a, request)  # committed on A; pretend the answer never arrived
            size = _log_size(on_a)
            _eventually(lambda: _log_size(on_b) >= size)  # B has followed A's log (and charged the check)
            again = _send_check(on_b, request)
            assert again.result == first.result
            assert _log_size(on_b) == size
            for _ in range(BURST - 1):  # the allowance left is what A's one charge left
                on_b.check(OTHER, WHY, open_requests=False)
            with pytest.raises(QuotaExceededError):
                on_b.check(OTHER, WHY, open_requests=False)
        request_id = first.result.hits[0].request_id
        resolve = wire_disclosure.resolve_request(request_id, confirmed=True, idempotency_key=OTHER_KEY)
        with _on(tight, a, "humberside", Role.FORCE_SYSTEM) as hum_a:
            resolved = hum_a.connection.call(hum_a.connection.disclosure.Resolve, resolve)
            size = _log_size(hum_a)
        with _on(tight, b, "humberside", Role.FORCE_SYSTEM) as hum_b:
            again_resolved = hum_b.connection.call(hum_b.connection.disclosure.Resolve, resolve)
            assert (again_resolved.state, again_resolved.log_index) == (pb.CONFIRMED, resolved.log_index)
            assert _log_size(hum_b) == size
    finally:
        b.stop(1.0)
