"""Issue 15, items 7, 8 and 11, each reproduced as the attack and shown refused over real mTLS.

- Free-text justification fields carried names, dates and NI numbers into the matcher's database and its
  append-only log: now each field has a form (``policy.justification``) and personal data is refused
  with INVALID_ARGUMENT, naming the field and never quoting the value.
- A batch of a thousand requests hid a new urgent safeguarding request from the desk: lists are now
  paged with a cursor, urgent purposes first.
- A 1 GiB all-zero index was accepted and held in memory; a flood of refused checks wrote one durable
  event each. Now the declared size is capped per record before any bit is read, and refusals are
  logged once per organisation, reason and minute with a count.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest

from crossforce.auditlog.events import PublishRefused, QuotaDenied, parse_event
from crossforce.clock import DAY_MS
from crossforce.crypto import envelope
from crossforce.domain import Justification, RefusalReason, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import ResourceExhaustedError, ValidationError
from crossforce.index import bloom as index
from crossforce.limits import Limits
from crossforce.server.policy.justification import personal_data_kind
from crossforce.server.settings import QuotaSettings, ServerSettings
from crossforce.server.usecases import requestpages
from crossforce.server.usecases.refusals import MINUTE_MS, RefusalGate
from crossforce.testkit.checkunits import units_of
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
URGENT_WHY = Justification(
    purpose="safeguarding-referral",
    legal_basis="Children Act 2004 s11",
    case_reference="SG-2026-0042",
    officer_id="DBS-4411",
)
PERSON = Record(record_id="HUM-1", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
CHILD_RISK = Record(record_id="HUM-77", given_names="Dorian", surname="Fenwick", date_of_birth="1966-02-11")
BATCH_SIZE = 1000
GIB = 1024 * 1024 * 1024


def _refused_without_echo(net: LocalNet, why: Justification, field: str, secrets: tuple[str, ...]) -> None:
    """A check with ``why`` is refused with INVALID_ARGUMENT naming ``field``, quoting none of
    ``secrets``, and none of them reaches the matcher's storage."""
    with net.client("humberside", Role.FORCE_SYSTEM) as c:
        c.publish_records([PERSON])
    with net.client("dbs", Role.VETTING_OFFICER) as c, pytest.raises(ValidationError) as refused:
        c.check(PERSON, why, open_requests=True)
    message = str(refused.value)
    assert field in message and "expected" in message
    for secret in secrets:
        assert secret.lower() not in message.lower()
        assert secret.encode() not in MatcherDb.of(net).every_stored_value()


def test_case_reference_carrying_a_name_and_date_is_refused(net: LocalNet) -> None:
    why = dataclasses.replace(WHY, case_reference="APP John Smith 12/03/1980")
    _refused_without_echo(net, why, "case_reference", ("John Smith", "12/03/1980"))


def test_case_reference_carrying_a_date_alone_is_refused(net: LocalNet) -> None:
    for reference in ("APP-1980-03-12", "APP-12MAR1980", "APP-19800312"):
        _refused_without_echo(net, dataclasses.replace(WHY, case_reference=reference), "case_reference", ())


def test_officer_id_carrying_an_ni_number_is_refused(net: LocalNet) -> None:
    why = dataclasses.replace(WHY, officer_id="QQ123456C")
    _refused_without_echo(net, why, "officer_id", ("QQ123456C",))


def test_case_reference_carrying_a_postcode_or_pnc_id_is_refused(net: LocalNet) -> None:
    for reference, secret in (("APP-SW1A 1AA", "SW1A 1AA"), ("98/123456X", "123456X")):
        why = dataclasses.replace(WHY, case_reference=reference)
        _refused_without_echo(net, why, "case_reference", (secret,))


def test_legal_basis_as_free_text_about_a_person_is_refused(net: LocalNet) -> None:
    why = dataclasses.replace(WHY, legal_basis="Suspected of fraud by Jane Doe, born 1 May 1970")
    # The whole date, not "1970" alone: four bytes turn up by chance in megabytes of tokens and signatures.
    _refused_without_echo(net, why, "legal_basis", ("Jane Doe", "1 May 1970"))


def test_officer_id_carrying_a_name_is_refused_on_a_decision_too(net: LocalNet) -> None:
    with net.client("humberside", Role.FORCE_SYSTEM) as c:
        c.publish_records([PERSON])
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        request_id = c.check(PERSON, WHY, open_requests=True).hits[0].request_id
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        desk.resolve(request_id)
        with pytest.raises(ValidationError, match="officer_id") as refused:
            desk.refuse(request_id, RefusalReason.NOT_RELEVANT, officer_id="Sarah Connor")
    assert "Sarah" not in str(refused.value)


def _batch(n: int) -> list[Record]:
    start = date(1950, 1, 1)
    return [
        Record(
            record_id=f"HUM-B{i}",
            given_names="Alice",
            surname="Brackenbury",
            date_of_birth=(start + timedelta(days=7 * i)).isoformat(),
        )
        for i in range(n)
    ]


def test_batch_of_a_thousand_requests_does_not_hide_an_urgent_one(net: LocalNet) -> None:
    batch = _batch(BATCH_SIZE + 5)
    with net.client("humberside", Role.FORCE_SYSTEM) as c:
        c.publish_records([*batch, CHILD_RISK])
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        reports = c.check_batch(batch, WHY, open_requests=True)
        assert sum(1 for r in reports if r.hits) == len(batch)
    # The batch has waited 13 of its 14 days: its deadlines now fall before a new urgent request's (2 days),
    # so a list in deadline order alone would bury the urgent one behind a thousand routine ones.
    MatcherDb.of(net).execute(
        "UPDATE requests SET deadline_ms = deadline_ms - ?, created_at_ms = created_at_ms - ?",
        (13 * DAY_MS, 13 * DAY_MS),
    )
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        urgent_id = c.check(CHILD_RISK, URGENT_WHY, open_requests=True).hits[0].request_id

    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        first, token = desk._desk.list_requests_page(as_holder=True, states=[RequestState.OPEN])
        assert first[0].request_id == urgent_id and first[0].urgent
        assert len(first) == Limits().max_list_results and token
        everything = desk.list_requests(as_holder=True, states=[RequestState.OPEN])
        ids = [r.request_id for r in everything]
        assert len(ids) == len(set(ids)) == len(batch) + 1, "paging skipped or repeated a request"
        assert ids[0] == urgent_id
        deadlines = [r.deadline_ms for r in everything[1:]]
        assert deadlines == sorted(deadlines)
        seen: set[str] = set()
        for req in desk.watch_requests(timeout=20):
            seen.add(req.request_id)
            if urgent_id in seen:
                break
        assert urgent_id in seen, "the watch never delivered the urgent request"


def test_forged_page_token_is_refused(net: LocalNet) -> None:
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        for token in ("not-base64!", "WzEsMiwzXQ==", "x" * 5000):
            with pytest.raises(ValidationError, match="page_token"):
                desk._desk.list_requests_page(as_holder=True, page_token=token)


def test_gigabyte_index_is_refused_before_it_is_held_in_memory(net: LocalNet) -> None:
    keys = net.profiles["kent"].org_keys()
    now = int(time.time() * 1000)
    num_blocks = GIB // index.BLOCK_BYTES
    header = pb.IndexHeader(
        format_version=index.INDEX_FORMAT_VERSION,
        org="kent",
        epoch=1,
        version=1,
        num_blocks=num_blocks,
        num_probes=0,
        token_count=32,
        record_count=1,
        bits_sha256=b"\x00" * 32,
        created_at_ms=now,
        expires_at_ms=now + DAY_MS,
        partitions=[pb.IndexPartition(key_type=16, num_blocks=num_blocks, num_probes=7, token_count=32)],
    ).SerializeToString()  # 1 GiB declared: the size limit allows it, its single record does not
    signature = envelope.sign(envelope.INDEX_HEADER_CONTEXT, header, keys.signing)
    release = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield pb.PublishChunk(
            header=pb.SignedIndexHeader(header=header, signature=signature)
        ).SerializeToString()
        release.wait(20)  # the server must answer while the bits are still held back
        yield pb.PublishChunk(bits=b"\x00" * 1024).SerializeToString()

    with net.client("kent", Role.FORCE_SYSTEM) as c:
        publish = c.connection.channel.stream_unary("/crossforce.v2.Index/Publish")
        started = time.monotonic()
        try:
            with pytest.raises(grpc.RpcError) as refused:
                publish(chunks(), timeout=15)
        finally:
            release.set()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert time.monotonic() - started < 10, "the refusal waited for index bits"
    assert "bits for each" in (refused.value.details() or "")


def test_refusal_flood_writes_one_event_per_minute(tmp_path: Path, matcher_db: str | None) -> None:
    settings = ServerSettings(
        expected_forces=(),
        limits=Limits(max_batch_candidates=1),
        quotas=QuotaSettings(  # a burst of one check of PERSON (quotas are in units: spec v2)
            org_rate_per_s=0.001,
            org_burst=units_of(PERSON),
            officer_rate_per_s=0.001,
            officer_burst=units_of(PERSON),
        ),
    )
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server(settings=settings)
    net.add_org("humberside", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    flood = 300
    try:
        with net.client("humberside", Role.FORCE_SYSTEM) as c:
            c.publish_records([PERSON])
        with net.client("dbs", Role.VETTING_OFFICER) as c:
            c.check(PERSON, WHY, open_requests=False)  # the burst of one
            started = time.monotonic()
            for n in range(flood):
                # Rotating the officer id must not make a new event either.
                why = dataclasses.replace(WHY, officer_id=f"DBS-{n}")
                with pytest.raises(ResourceExhaustedError):
                    c.check(PERSON, why, open_requests=False)
            elapsed = time.monotonic() - started
        with net.client("dbs", Role.AUDITOR) as auditor:
            size = auditor.tree_head().head.tree_size
            events = [parse_event(e.entry) for e in auditor.entries(0, size) if e.entry]
    finally:
        net.stop_server()
    denied = [e for e in events if isinstance(e, QuotaDenied)]
    minutes = int(elapsed // 60) + 2  # the flood may straddle minute boundaries
    assert 1 <= len(denied) <= minutes, f"{len(denied)} events for {flood} refusals in {elapsed:.1f} s"
    assert sum(1 + e.suppressed for e in denied) <= flood


def test_refusal_gate_counts_what_it_does_not_log() -> None:
    gate = RefusalGate()
    key = ("dbs", "quota", "school-staff-vetting/org-rate")
    minute = 1_000 * MINUTE_MS
    assert gate.admit(key, minute) == 0
    assert [gate.admit(key, minute + i) for i in range(1, 50)] == [None] * 49
    assert gate.admit(("kent", "quota", "school-staff-vetting/org-rate"), minute) == 0, "per organisation"
    assert gate.admit(key, minute + MINUTE_MS) == 49, "the next minute's event carries the count"
    assert gate.admit(key, minute + MINUTE_MS + 1) is None


def test_counted_refusals_reach_the_log_even_if_no_refusal_follows() -> None:
    """Found in review: counts were written only with the next refusal of the same kind, so the last
    minute's (or a stopped matcher's) refusals never reached the log."""
    gate = RefusalGate()
    key = ("dbs", "publish", "VersionError")
    minute = 2_000 * MINUTE_MS
    made: list[tuple[int, int]] = []

    def event_for(at_ms: int, suppressed: int) -> PublishRefused:
        made.append((at_ms, suppressed))
        return PublishRefused(at_ms=at_ms, actor_org="dbs", actor_role="force-system", reason="x")

    assert gate.admit(key, minute, event_for) == 0
    for i in range(1, 5):
        assert gate.admit(key, minute + i, event_for) is None
    assert gate.drain(minute + 10) == [], "the minute is not over yet"
    drained = gate.drain(minute + MINUTE_MS)
    assert [(k, n) for k, _event, n in drained] == [(key, 4)] and made == [(minute + MINUTE_MS, 4)]
    assert gate.drain(minute + 2 * MINUTE_MS) == [], "written once"
    gate.admit(key, minute + 2 * MINUTE_MS, event_for)
    gate.admit(key, minute + 2 * MINUTE_MS + 1, event_for)
    gate.restore(key, 3)  # an event that could not be written
    assert [n for _k, _e, n in gate.drain(minute + 2 * MINUTE_MS + 2, everything=True)] == [4]


@pytest.mark.parametrize(
    "value",
    ["SMITH-JOHN", "JOHN-SMITH", "SW1A-1AA", "AB-12-34-56-C", "PNC-80-123456A", "john-smith-1980"],
)
def test_personal_data_hidden_behind_case_reference_separators_is_refused(value: str) -> None:
    """Found in review: upper-case names and identifiers split by the `-` and `/` a case reference allows
    passed every check (the name check only knew "Capitalised" words)."""
    assert personal_data_kind(value) is not None


@pytest.mark.parametrize(
    "value", ["APP-2026-0001", "DBS-APP-2026-004417", "CASE-OSPREY-991", "VET/2026/0042", "DBS-4411"]
)
def test_ordinary_case_references_are_not_mistaken_for_personal_data(value: str) -> None:
    assert personal_data_kind(value) is None


def test_page_token_with_an_integer_beyond_64_bits_is_refused_not_internal() -> None:
    """Found in review: a forged token with a huge integer reached SQLite and came back INTERNAL."""
    forged = base64.urlsafe_b64encode(json.dumps([0, 10**30, 1, "x"]).encode()).decode()
    with pytest.raises(ValidationError, match="page_token"):
        requestpages.decode(forged)
