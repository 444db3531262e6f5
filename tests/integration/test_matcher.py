"""The matcher over real mTLS: publish, check, named publish attacks, restart, malformed input, leaks."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from crossforce.client.sdk import Client, SignedIndexHeader
from crossforce.domain import Candidate
from crossforce.encoding.records import Record
from crossforce.errors import (
    PermissionDeniedError,
    PreconditionError,
    ResourceExhaustedError,
    ValidationError,
    VerificationError,
)
from crossforce.index.partitioned import PartitionedIndex
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb
from crossforce.wire.matching import candidate_to_pb
from tests.integration.conftest import WHY
from tests.integration.recording import RecordingInterceptor

JANE = Record(
    record_id="HUM-001",
    given_names="Jane Elizabeth",
    surname="Thornbury",
    date_of_birth="1984-03-17",
    sex="F",
    previous_names=("Jane Whitlock",),
    pnc_id="",
    ni_number="JK482913B",
)
# The same person at Kent, under her previous name, with a misspelt forename.
JANE_AT_KENT = Record(
    record_id="KEN-778",
    given_names="Jayne",
    surname="Whitlock",
    date_of_birth="1984-03-17",
    sex="F",
)
OTHERS = [
    Record(record_id=f"R{i}", given_names=g, surname=s, date_of_birth=d)
    for i, (g, s, d) in enumerate(
        [
            ("Mohammed", "Rahman", "1990-11-02"),
            ("Oliver", "Smith", "1975-01-30"),
            ("Siobhan", "O'Neill", "2001-07-07"),
            ("Kwame", "Mensah", "1968-12-25"),
            ("Agnieszka", "Kowalska", "1993-05-14"),
        ]
    )
]


def publish(net: LocalNet, org: str, records: list[Record]) -> None:
    with net.client(org, "force-system") as c:
        c.publish_records(records)


def test_check_finds_person_held_under_previous_name_at_two_forces(net: LocalNet) -> None:
    publish(net, "humberside", [JANE, *OTHERS[:2]])
    publish(net, "kent", [JANE_AT_KENT, *OTHERS[2:]])
    publish(net, "dyfed-powys", OTHERS[1:3])
    # The vetting officer knows her as Jane Thornbury, previously Whitlock.
    candidate = Record(
        record_id="cand-1",
        given_names="Jane",
        surname="Thornbury",
        date_of_birth="1984-03-17",
        previous_names=("Jane Whitlock",),
    )
    with net.client("dbs", "vetting-officer") as c:
        report = c.check(candidate, WHY, open_requests=False)
        by_org = {h.org: h for h in report.hits}
        assert set(by_org) == {"humberside", "kent"}
        assert by_org["humberside"].strength == 3
        assert by_org["kent"].strength >= 2
        assert report.forces_searched == 3
        nobody = Record(
            record_id="c2", given_names="Xavier", surname="Quennell-Abara", date_of_birth="1959-02-28"
        )
        assert c.check(nobody, WHY, open_requests=False).no_trace


def test_identifier_alone_finds_record(net: LocalNet) -> None:
    publish(net, "humberside", [JANE])
    with net.client("dbs", "vetting-officer") as c:
        report = c.check(
            Record(record_id="c", surname="Unknown", ni_number="jk 48 29 13 b"), WHY, open_requests=False
        )
    assert [h.org for h in report.hits] == ["humberside"]
    assert report.hits[0].strength == 3


def _bloom(records: list[Record], client: Client, epoch: int = 1) -> tuple[PartitionedIndex, int]:
    triples = client.encode_records(records, epoch=epoch)
    built = PartitionedIndex.build(bytes(k for _r, k, _t in triples), [t for _r, _k, t in triples])
    return built, built.token_count


def test_publish_as_another_force_refused(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        bloom, n = _bloom(OTHERS, kent)
        signed = kent.signed_header(bloom, epoch=1, token_count=n, record_count=5, expires_in_days=1)
        header = pb.IndexHeader.FromString(signed.header)
        header.org = "humberside"
        forged = header.SerializeToString()
        from crossforce.crypto import envelope

        sig = envelope.sign(envelope.INDEX_HEADER_CONTEXT, forged, kent.profile.org_keys().signing)
        with pytest.raises(PermissionDeniedError):
            kent.publish_stream(SignedIndexHeader(header=forged, signature=sig), bloom.to_bytes())


def test_publish_signature_by_another_force_refused(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        bloom, n = _bloom(OTHERS, kent)
        signed = kent.signed_header(bloom, epoch=1, token_count=n, record_count=5, expires_in_days=1)
        from crossforce.crypto import envelope

        humberside_key = net.profiles["humberside"].org_keys().signing
        bad = envelope.sign(envelope.INDEX_HEADER_CONTEXT, signed.header, humberside_key)
        with pytest.raises(VerificationError, match="bad signature"):  # its exact class, since #12
            kent.publish_stream(SignedIndexHeader(header=signed.header, signature=bad), bloom.to_bytes())


def test_publish_version_rollback_and_replay_refused(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        bloom, n = _bloom(OTHERS, kent)
        first = kent.signed_header(
            bloom, epoch=1, token_count=n, record_count=5, expires_in_days=1, version=10
        )
        kent.publish_stream(first, bloom.to_bytes())
        with pytest.raises(PreconditionError, match="rollback or replay"):
            kent.publish_stream(first, bloom.to_bytes())  # replay of the exact same publish
        older = kent.signed_header(
            bloom, epoch=1, token_count=n, record_count=5, expires_in_days=1, version=9
        )
        with pytest.raises(PreconditionError, match="not newer"):
            kent.publish_stream(older, bloom.to_bytes())
        equal = kent.signed_header(
            bloom, epoch=1, token_count=n, record_count=5, expires_in_days=1, version=10
        )
        with pytest.raises(PreconditionError):
            kent.publish_stream(equal, bloom.to_bytes())


def test_publish_expired_index_refused(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        bloom, n = _bloom(OTHERS, kent)
        expired = kent.signed_header(bloom, epoch=1, token_count=n, record_count=5, expires_in_days=-1)
        with pytest.raises(PreconditionError, match="expired"):
            kent.publish_stream(expired, bloom.to_bytes())


def test_publish_saturated_index_refused(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        bloom, n = _bloom(OTHERS, kent)
        ones = b"\xff" * bloom.size_bytes
        saturated = PartitionedIndex.from_bytes(bloom.partitions, ones)
        signed = kent.signed_header(saturated, epoch=1, token_count=n, record_count=5, expires_in_days=1)
        with pytest.raises(ValidationError, match="fill ratio"):
            kent.publish_stream(signed, ones)


def test_publish_bits_not_matching_digest_refused_and_previous_index_serves(net: LocalNet) -> None:
    publish(net, "kent", [JANE_AT_KENT])
    with net.client("kent", "force-system") as kent:
        bloom, n = _bloom(OTHERS, kent)
        signed = kent.signed_header(bloom, epoch=1, token_count=n, record_count=5, expires_in_days=1)
        bits = bytearray(bloom.to_bytes())
        bits[0] ^= 1
        with pytest.raises(ValidationError, match="SHA-256"):
            kent.publish_stream(signed, bytes(bits))
    with net.client("dbs", "vetting-officer") as c:
        assert [h.org for h in c.check(JANE_AT_KENT, WHY, open_requests=False).hits] == ["kent"]


def test_large_index_over_4mib_publishes(net: LocalNet) -> None:
    import os

    with net.client("kent", "force-system") as kent:
        tokens = [os.urandom(32) for _ in range(600_000)]
        bloom = PartitionedIndex.build(b"\x10" * len(tokens), tokens)
        assert bloom.size_bytes > 4 * 1024 * 1024
        resp = kent.publish_index(bloom, epoch=1, token_count=len(tokens), record_count=20_000)
        assert resp.version > 0
        status = {s.org: s for s in kent.status().indexes}
        assert status["kent"].size_bytes == bloom.size_bytes


def test_restart_keeps_every_index_and_answers_the_same(net: LocalNet) -> None:
    publish(net, "humberside", [JANE, *OTHERS[:2]])
    publish(net, "kent", [JANE_AT_KENT, *OTHERS[2:]])
    queries = [JANE, JANE_AT_KENT, *OTHERS]
    with net.client("dbs", "vetting-officer") as c:
        before = [
            sorted((h.org, h.strength, h.key_types) for h in c.check(q, WHY, open_requests=False).hits)
            for q in queries
        ]
    net.stop_server()
    net.start_server()
    with net.client("dbs", "vetting-officer") as c:
        after = [
            sorted((h.org, h.strength, h.key_types) for h in c.check(q, WHY, open_requests=False).hits)
            for q in queries
        ]
    assert before == after
    assert any(before)


@pytest.mark.backends("sqlite")  # request validation and roles: no storage involved
@pytest.mark.parametrize(
    ("name", "mutate", "error"),
    [
        (
            "token_too_short",
            lambda r: r.candidate.blocks[0].__setattr__("tokens", r.candidate.blocks[0].tokens[:-1]),
            ValidationError,
        ),
        (
            "unknown_key_type",
            lambda r: r.candidate.blocks[0].__setattr__(
                "key_types", b"\xff" + r.candidate.blocks[0].key_types[1:]
            ),
            ValidationError,
        ),
        ("missing_purpose", lambda r: r.justification.__setattr__("purpose", ""), ValidationError),
        ("unknown_purpose", lambda r: r.justification.__setattr__("purpose", "curiosity"), ValidationError),
        (
            "missing_case_reference",
            lambda r: r.justification.__setattr__("case_reference", " "),
            ValidationError,
        ),
        ("control_chars", lambda r: r.justification.__setattr__("officer_id", "a\x00b"), ValidationError),
        ("no_tokens", lambda r: r.candidate.ClearField("blocks"), ValidationError),
        (
            "oversized_text",
            lambda r: r.justification.__setattr__("legal_basis", "x" * 10_000),
            ResourceExhaustedError,
        ),
    ],
)
def test_malformed_check_refused(net: LocalNet, name: str, mutate: object, error: type[Exception]) -> None:
    publish(net, "kent", OTHERS)
    with net.client("dbs", "vetting-officer") as c:
        packed = candidate_to_pb(Candidate.of(c.candidate_tokens(OTHERS[0], [1])))
        req = pb.CheckRequest(candidate=packed, justification=justification_to_pb(WHY))
        mutate(req)  # type: ignore[operator]
        with pytest.raises(error):
            c.connection.call(c.connection.matcher.Check, req)


@pytest.mark.backends("sqlite")  # request validation and roles: no storage involved
def test_vetting_officer_cannot_publish_and_force_cannot_register_for_another(net: LocalNet) -> None:
    with net.client("dbs", "vetting-officer") as c, pytest.raises(PermissionDeniedError):
        c.publish_records(OTHERS)
    with net.client("kent", "force-system") as kent:
        keys = kent.profile.org_keys()
        from crossforce.crypto import orgkeys

        req = pb.RegisterRequest(
            org="humberside",
            signing_key=keys.signing_public,
            box_key=keys.box_public,
            proof=orgkeys.sign_registration(keys),
        )
        with pytest.raises(PermissionDeniedError):
            kent.connection.call(kent.connection.registry.Register, req)


def test_matcher_never_sees_raw_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, matcher_db: str | None
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = RecordingInterceptor()
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server(interceptors=(recorder,))
    for org in ("humberside", "kent"):
        net.add_org(org, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        publish(net, "humberside", [JANE, *OTHERS])
        publish(net, "kent", [JANE_AT_KENT])
        with net.client("dbs", "vetting-officer") as c:
            c.check(JANE, WHY, open_requests=True)
            c.check_batch(OTHERS, WHY, open_requests=True)
        time.sleep(0.1)
    finally:
        net.stop_server()
    raw_values = set()
    for r in [JANE, JANE_AT_KENT, *OTHERS]:
        raw_values |= {r.given_names, r.surname, r.date_of_birth, r.ni_number, *r.previous_names}
        raw_values |= set(r.given_names.split()) | {r.date_of_birth.replace("-", "")}
    raw_values = {v for v in raw_values if len(v) >= 4}
    stored = b"".join(p.read_bytes() for p in net.data_dir.rglob("*") if p.is_file())
    if net.db:  # the folder holds only the log key: what is stored is the database's rows
        stored += MatcherDb.of(net).every_stored_value()
    received = recorder.all_bytes()
    logged = caplog.text.encode()
    assert received and stored
    for value in raw_values:
        for form in {value, value.lower(), value.upper()}:
            b = form.encode()
            assert b not in stored, f"raw value stored by the matcher: {form!r}"
            assert b not in received, f"raw value received by the matcher: {form!r}"
            assert b not in logged, f"raw value logged: {form!r}"
