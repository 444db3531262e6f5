"""What an operator sees of a real matcher over mTLS: metrics that match the calls made, one log line per
call that names the caller and the method but nothing of the request, health for standard probes on a
plaintext localhost listener that serves nothing else, and reflection v1.

Over 400 lines: the four checks share one deployment helper and the scrape and log readers, and each
reads best next to them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2 as reflection_pb
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from crossforce.client.sdk import Client
from crossforce.crypto import pki
from crossforce.domain import Candidate, Justification
from crossforce.encoding.records import Record
from crossforce.errors import (
    AuthenticationError,
    PermissionDeniedError,
    QuotaExceededError,
    ValidationError,
)
from crossforce.limits import Limits
from crossforce.server import RunningServer, ServerSettings, start
from crossforce.server.settings import QuotaSettings
from crossforce.testkit.checkunits import units_of
from crossforce.testkit.harness import MatcherProcess
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb
from crossforce.wire.matching import candidate_to_pb
from tests.integration.conftest import WHY

JANE = Record(
    record_id="HUM-001",
    given_names="Jane Elizabeth",
    surname="Thornbury",
    date_of_birth="1984-03-17",
    sex="F",
    ni_number="JK482913B",
)
OTHER = Record(record_id="HUM-002", given_names="Oliver", surname="Smith", date_of_birth="1975-01-30")
ORGS = (("humberside", FORCE_ROLES), ("kent", FORCE_ROLES), ("dbs", VETTING_ROLES))
CHECK = "/crossforce.v2.Matcher/Check"
SCRAPE_TIMEOUT_S = 10.0
LOAD_DEADLINE_S = 120.0


@contextlib.contextmanager
def observed_net(
    tmp_path: Path, *, settings: ServerSettings | None = None, **options: Any
) -> Iterator[LocalNet]:
    """A deployment whose matcher was started with ``options`` (metrics, health, reflection)."""
    net = LocalNet.create(tmp_path)
    net.server = start(
        data_dir=tmp_path / "matcher",
        pki_dir=net.server_pki_dir,
        settings=settings or ServerSettings(expected_forces=()),
        **options,
    )
    net.port = net.server.port
    try:
        for org, roles in ORGS:
            net.add_org(org, roles=roles)
        net.register_all()
        yield net
    finally:
        net.stop_server()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: RunningServer, *, openmetrics: bool = False) -> Samples:
    """Every sample on the metrics endpoint, keyed by (name, labels)."""
    assert server.metrics_port is not None
    request = urllib.request.Request(f"http://127.0.0.1:{server.metrics_port}/metrics")
    if openmetrics:
        request.add_header("Accept", "application/openmetrics-text; version=1.0.0")
    with urllib.request.urlopen(request, timeout=SCRAPE_TIMEOUT_S) as answer:
        text = answer.read().decode()
        kind = answer.headers.get("Content-Type", "")
    assert ("openmetrics" in kind) == openmetrics, kind
    families = parse_openmetrics(text) if openmetrics else text_string_to_metric_families(text)
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def handled(samples: Samples, service: str, method: str, code: str) -> float:
    return value(
        samples,
        "grpc_server_handled_total",
        grpc_type="unary" if method != "Publish" else "client_stream",
        grpc_service=f"crossforce.v2.{service}",
        grpc_method=method,
        grpc_code=code,
    )


def check_request(client: Client, why: Justification = WHY) -> pb.CheckRequest:
    packed = candidate_to_pb(Candidate.of(client.candidate_tokens(JANE, [1])))
    return pb.CheckRequest(candidate=packed, justification=justification_to_pb(why))


def test_metrics_count_every_call_of_a_load_run_refused_or_not(tmp_path: Path) -> None:
    n_ok, n_quota, n_role, n_invalid, n_unauth, threads = 240, 6, 5, 4, 3, 4
    settings = ServerSettings(
        expected_forces=(),
        limits=Limits(max_batch_candidates=10),
        quotas=QuotaSettings(  # in units (spec v2 charges per token): a burst of n_ok checks of JANE
            org_rate_per_s=0.0001,
            org_burst=n_ok * units_of(JANE),
            officer_rate_per_s=1000 * units_of(JANE),
            officer_burst=100_000 * units_of(JANE),
        ),
    )
    with observed_net(tmp_path, settings=settings, metrics_port=0) as net:
        server = net.running_server
        with net.client("humberside", "force-system") as hum:
            hum.publish_records([JANE, OTHER])
        bad_why = Justification(
            purpose="no-such-purpose", legal_basis="x", case_reference="y", officer_id="DBS-1"
        )
        with net.client("dbs", "vetting-officer") as dbs:
            good, bad = check_request(dbs), check_request(dbs, bad_why)
            for _ in range(n_invalid):  # an unknown purpose spends no quota
                with pytest.raises(ValidationError):
                    dbs.connection.call(dbs.connection.matcher.Check, bad)

        # The load: n_ok checks from several threads while the endpoint is scraped.
        seen: list[float] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def checks(count: int) -> None:
            try:
                with net.client("dbs", "vetting-officer") as c:
                    for _ in range(count):
                        c.connection.call(c.connection.matcher.Check, good)
            except BaseException as exc:
                errors.append(exc)

        def scraper() -> None:
            deadline = time.monotonic() + LOAD_DEADLINE_S
            while not done.is_set() and time.monotonic() < deadline:
                seen.append(handled(scrape(server), "Matcher", "Check", "OK"))
                done.wait(0.02)

        workers = [threading.Thread(target=checks, args=(n_ok // threads,)) for _ in range(threads)]
        watcher = threading.Thread(target=scraper)
        watcher.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join(LOAD_DEADLINE_S)
        done.set()
        watcher.join(LOAD_DEADLINE_S)
        assert not errors, errors
        assert seen and seen == sorted(seen) and seen[-1] <= n_ok  # counts only grow, never overshoot

        with net.client("dbs", "vetting-officer") as dbs:
            for _ in range(n_quota):  # the organisation's burst is spent
                with pytest.raises(QuotaExceededError):
                    dbs.connection.call(dbs.connection.matcher.Check, good)
        with net.client("humberside", "force-system") as hum:
            for _ in range(n_role):  # a force's system may not check
                with pytest.raises(PermissionDeniedError):
                    hum.connection.call(hum.connection.matcher.Check, good)
        net.pki.revoke("kent", "auditor")
        with net.client("kent", "auditor") as revoked:
            for _ in range(n_unauth):
                with pytest.raises(AuthenticationError):
                    revoked.connection.call(revoked.connection.index.Status, pb.StatusRequest())
        with net.client("dbs", "auditor") as auditor:
            log_size = auditor.tree_head().head.tree_size

        after = scrape(server)
        assert handled(after, "Matcher", "Check", "OK") == n_ok
        assert handled(after, "Matcher", "Check", "RESOURCE_EXHAUSTED") == n_quota
        assert handled(after, "Matcher", "Check", "PERMISSION_DENIED") == n_role
        assert handled(after, "Matcher", "Check", "INVALID_ARGUMENT") == n_invalid
        assert handled(after, "Index", "Status", "UNAUTHENTICATED") == n_unauth
        assert handled(after, "Index", "Publish", "OK") == 1
        calls = value(
            after,
            "grpc_server_handling_seconds_count",
            grpc_type="unary",
            grpc_service="crossforce.v2.Matcher",
            grpc_method="Check",
        )
        assert calls == n_ok + n_quota + n_role + n_invalid
        assert value(after, "crossforce_refusals_total", reason="quota") == n_quota
        assert value(after, "crossforce_refusals_total", reason="permission") == n_role
        assert value(after, "crossforce_refusals_total", reason="validation") == n_invalid
        assert value(after, "crossforce_refusals_total", reason="authentication") == n_unauth
        assert value(after, "crossforce_quota_denials_total", org="dbs") == n_quota
        assert value(after, "crossforce_quota_denials_total", org="humberside") == 0
        # State read at scrape time.
        assert value(after, "crossforce_indexes_held") == 1
        assert value(after, "crossforce_index_age_seconds", org="humberside", epoch="1") >= 0
        assert ("crossforce_index_age_seconds", frozenset({("org", "humberside"), ("epoch", "1")})) in after
        assert value(after, "crossforce_index_stale", org="humberside", epoch="1") == 0
        assert value(after, "crossforce_audit_log_entries") == log_size
        assert value(after, "crossforce_storage_healthy") == 1
        # Every check was committed with its audit event, in groups of one or more writers.
        writers = value(after, "crossforce_audit_commit_writers_sum")
        commits = value(after, "crossforce_audit_commit_writers_count")
        assert writers >= n_ok + n_quota and 1 <= commits <= writers
        assert value(after, "crossforce_audit_commit_seconds_count") == commits
        # The same figures in the OpenMetrics exposition format.
        om = scrape(server, openmetrics=True)
        assert value(om, "grpc_server_handled_total", grpc_type="unary", grpc_service="crossforce.v2.Matcher",
                     grpc_method="Check", grpc_code="OK") == n_ok  # fmt: skip


def test_pending_and_overdue_requests_are_read_at_scrape(tmp_path: Path) -> None:
    with observed_net(tmp_path, metrics_port=0) as net:
        server = net.running_server
        with net.client("humberside", "force-system") as hum:
            hum.publish_records([JANE])
        before = scrape(server)
        assert value(before, "crossforce_disclosure_requests_pending") == 0
        with net.client("dbs", "vetting-officer") as dbs:
            report = dbs.check(JANE, WHY, open_requests=True)
        assert [h.org for h in report.hits] == ["humberside"]
        now = scrape(server)
        assert value(now, "crossforce_disclosure_requests_pending") == 1
        assert value(now, "crossforce_disclosure_requests_overdue") == 0
        later = int(time.time() * 1000) + 400 * 24 * 3600 * 1000
        server.set_clock(lambda: later)
        overdue = scrape(server)
        assert value(overdue, "crossforce_disclosure_requests_overdue") == 1
        assert value(overdue, "crossforce_index_stale", org="humberside", epoch="1") == 1


def _logfmt(line: str) -> dict[str, str]:
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}


def _lines(path: Path, log_format: str) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "listening on port" in line and not line.startswith(("{", "ts=")):
            continue  # the one stdout line: the ready notice for scripts
        out.append(json.loads(line) if log_format == "json" else _logfmt(line))
    return out


@pytest.mark.parametrize("log_format", ["json", "logfmt"])
def test_refused_calls_are_logged_with_caller_and_method_but_no_request_content(
    tmp_path: Path, log_format: str
) -> None:
    net = LocalNet.create(tmp_path)
    log_path = tmp_path / "matcher.log"
    proc = MatcherProcess(
        data_dir=tmp_path / "matcher",
        pki_dir=net.server_pki_dir,
        log_path=log_path,
        workers=4,
        extra_args=("--log-format", log_format),
    )
    net.port = proc.start()
    secret_purpose = "purpose-kestrel-7731"
    secret_why = Justification(
        purpose=secret_purpose,
        legal_basis="Basis Quill 42",
        case_reference="CASE-OSPREY-991",
        officer_id="OFFICER-WREN-5",
    )
    try:
        for org, roles in ORGS:
            net.add_org(org, roles=roles)
        net.register_all()
        with net.client("humberside", "force-system") as hum:
            hum.publish_records([JANE, OTHER])
            with pytest.raises(PermissionDeniedError):  # refused for the role, after identity
                hum.check(JANE, WHY, open_requests=False)
        with net.client("dbs", "vetting-officer") as dbs:
            tokens = dbs.candidate_tokens(JANE, [1])
            with pytest.raises(ValidationError):  # refused by the matcher's own validation
                dbs.connection.call(dbs.connection.matcher.Check, check_request(dbs, secret_why))
            garbled = dbs.connection.channel.unary_unary(CHECK)  # raw bytes: not a CheckRequest
            with pytest.raises(grpc.RpcError) as undecodable:
                garbled(b"\xff\xff\xff\xff", timeout=10)
            assert undecodable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            hit = dbs.check(JANE, WHY, open_requests=True)
            request_ids = [h.request_id for h in hit.hits if h.request_id]
            assert request_ids
        fingerprint = pki.fingerprint(net.profiles["kent"].cert_pair("auditor").cert_pem)
        net.pki.revoke("kent", "auditor")
        with net.client("kent", "auditor") as revoked, pytest.raises(AuthenticationError):
            revoked.status()
    finally:
        assert proc.terminate() == 0
    text = log_path.read_text(encoding="utf-8")
    lines = _lines(log_path, log_format)
    calls = [ln for ln in lines if ln.get("msg") == "rpc"]
    assert calls and all(
        {"ts", "level", "logger", "method", "status", "duration_ms", "org"} <= set(c) for c in calls
    )

    def one(**want: str) -> dict[str, Any]:
        found = [c for c in calls if all(c.get(k) == v for k, v in want.items())]
        assert len(found) == 1, (want, calls)
        return found[0]

    role = one(org="humberside", role="force-system", method=CHECK, status="PERMISSION_DENIED")
    assert role["reason"] == "permission" and role["error"] == "PermissionDeniedError"
    invalid = one(org="dbs", role="vetting-officer", method=CHECK, status="INVALID_ARGUMENT")
    assert invalid["reason"] == "validation" and invalid["error"] == "ValidationError"
    unauth = one(org="unauthenticated", method="/crossforce.v2.Index/Status", status="UNAUTHENTICATED")
    assert unauth["fingerprint"] == fingerprint and "role" not in unauth
    one(org="dbs", role="vetting-officer", method=CHECK, status="OK")
    # Refused before identity was checked: logged all the same, with the certificate's fingerprint.
    garbled_line = one(org="unauthenticated", method=CHECK, status="INVALID_ARGUMENT")
    assert garbled_line["reason"] == "validation"
    assert garbled_line["fingerprint"] == pki.fingerprint(
        net.profiles["dbs"].cert_pair("vetting-officer").cert_pem
    )
    assert float(role["duration_ms"]) >= 0
    # Nothing of what the callers sent: names, dates, identifiers, justification, tokens, request ids.
    forbidden = [
        "Jane", "Thornbury", "Elizabeth", "1984-03-17", "JK482913B", "HUM-001",
        secret_purpose, "Basis Quill", "CASE-OSPREY", "OFFICER-WREN", WHY.case_reference,
        WHY.officer_id, WHY.legal_basis, *request_ids,
    ]  # fmt: skip
    for t in tokens:
        forbidden += [t.token.hex(), base64.b64encode(t.token).decode()]
    leaked = [word for word in forbidden if word in text]
    assert not leaked, leaked


def _wait_serving(stub: health_pb2_grpc.HealthStub, service: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        try:
            return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_health_listener_answers_plain_probes_on_localhost_and_serves_no_matcher_rpc(tmp_path: Path) -> None:
    with observed_net(tmp_path, health_port=0, metrics_port=0) as net:
        server = net.running_server
        assert server.health_port is not None and server.health_port != server.port
        with grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            serving = health_pb2.HealthCheckResponse.SERVING
            assert _wait_serving(stub, "") == serving
            assert _wait_serving(stub, "crossforce.v2.Matcher") == serving
            ping = channel.unary_unary(
                "/crossforce.v2.Matcher/Ping",
                request_serializer=pb.PingRequest.SerializeToString,
                response_deserializer=pb.PingResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as refused:
                ping(pb.PingRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
            # Reflection there (for grpcurl without a .proto) describes health and nothing of the API.
            listed = _reflect(channel, "v1", reflection_pb.ServerReflectionRequest(list_services=""))
            names = {s.name for s in listed.list_services_response.service}
            assert "grpc.health.v1.Health" in names and not any(n.startswith("crossforce") for n in names)
        # The mTLS port still wants a client certificate, for health as for everything else.
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
            with pytest.raises(grpc.RpcError) as no_tls:
                health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert no_tls.value.code() == grpc.StatusCode.UNAVAILABLE
        probes = value(scrape(server), "grpc_server_handled_total", grpc_type="unary",
                       grpc_service="grpc.health.v1.Health", grpc_method="Check", grpc_code="OK")  # fmt: skip
        assert probes >= 2


def _reflect(channel: grpc.Channel, version: str, request: reflection_pb.ServerReflectionRequest) -> Any:
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb.ServerReflectionResponse.FromString,
    )
    return next(iter(call(iter([request]), timeout=10)))


def test_reflection_v1_lists_the_api_and_health_behind_its_flag(tmp_path: Path) -> None:
    with observed_net(tmp_path, reflection=True) as net, net.client("dbs", "auditor") as c:
        channel = c.connection.channel
        for version in ("v1", "v1alpha"):
            listed = _reflect(channel, version, reflection_pb.ServerReflectionRequest(list_services=""))
            names = {s.name for s in listed.list_services_response.service}
            assert {"crossforce.v2.Matcher", "crossforce.v2.Disclosure", "grpc.health.v1.Health"} <= names
            assert {
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            } <= names
        described = _reflect(
            channel,
            "v1",
            reflection_pb.ServerReflectionRequest(
                file_containing_symbol="grpc.reflection.v1.ServerReflection"
            ),
        )
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in described.file_descriptor_response.file_descriptor_proto
        ]
        assert any(
            f.package == "grpc.reflection.v1" and f.service[0].name == "ServerReflection" for f in files
        )
    with observed_net(tmp_path / "off") as net, net.client("dbs", "auditor") as c:
        with pytest.raises(grpc.RpcError) as off:
            _reflect(c.connection.channel, "v1", reflection_pb.ServerReflectionRequest(list_services=""))
        assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED
