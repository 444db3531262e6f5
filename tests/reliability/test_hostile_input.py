"""Hostile input against a live matcher (a child process, one per module): every RPC, raw bytes.

For each RPC, hypothesis sends structured-but-hostile, wire-damaged and random request bytes through
gRPC generic calls (no client-side serialisation, no client-side size limit). The matcher must answer
every one with a deliberate status: never UNKNOWN or INTERNAL, never a crash or a hang, with bounded
memory, and still answer Ping afterwards (docs/threat-model.md: "malformed or hostile RPCs").

Named edge cases (a message one byte over the limit, an index whose declared size is refused before any
chunk is read, ...) are separate tests below the fuzzers. Examples per RPC: FUZZ_EXAMPLES, or
FUZZ_EXAMPLES_SLOW with --slow.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossforce.clock import now_ms
from crossforce.crypto import envelope, officer, orgkeys
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.domain import Role
from crossforce.index import bloom as index
from crossforce.index.partitioned import PartitionedIndex
from crossforce.server.policy.roles import ROLE_MATRIX
from crossforce.testkit.localnet import FORCE_ROLES, OVERSEER, VETTING_ROLES
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb
from tests.reliability.crash_harness import (
    EPOCH,
    WHY,
    Deployment,
    base_records,
)
from tests.reliability.hostile import (
    MessageStrategies,
    default_hints,
    length_delimited,
    publish_streams,
    request_bytes,
    tag,
    varint,
)

FUZZ_EXAMPLES = 2000
FUZZ_EXAMPLES_SLOW = 10_000
UNARY_TIMEOUT_S = 20.0
WATCH_TIMEOUT_S = 0.1
RSS_GROWTH_BOUND = 256 * 1024 * 1024
"""Memory the matcher may gain over the whole module (it keeps the audit tree of every refused publish
and every check in memory, so some growth is by design)."""
NEVER = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE})

METHODS = tuple(ROLE_MATRIX)
CALLERS = (
    ("kent", Role.FORCE_SYSTEM),
    ("kent", Role.DISCLOSURE_OFFICER),
    ("kent", "auditor"),
    ("humberside", Role.FORCE_SYSTEM),
    ("dbs", Role.VETTING_OFFICER),
    ("dbs", "auditor"),
)
OPERATOR = (OVERSEER, Role.OPERATOR)
"""Only for the undecodable-request test: fuzzed epoch acts by a real operator would change the epochs
every other test here relies on (a retirement forced past kent and humberside would stop all matching)."""


@dataclass
class Live:
    d: Deployment
    channels: dict[tuple[str, str], grpc.Channel]
    values: MessageStrategies
    publish: st.SearchStrategy[list[bytes]]
    seeds: dict[str, bytes]
    rss_baseline: int
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    officer_credential: bytes = b""
    """DBS's officer assertion for ``WHY``'s officer, sent with every check so the input itself is judged
    (a check without one is UNAUTHENTICATED: tests/reliability/test_officer_credentials.py)."""

    def ping(self) -> None:
        self.channels[("dbs", Role.VETTING_OFFICER)].unary_unary("/crossforce.v2.Matcher/Ping")(
            b"", timeout=10
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root: Path = tmp_path_factory.mktemp("hostile")
    d = Deployment.create(root, [("kent", FORCE_ROLES), ("humberside", FORCE_ROLES), ("dbs", VETTING_ROLES)])
    try:
        for org in ("kent", "humberside"):
            with d.client(org, Role.FORCE_SYSTEM) as c:
                c.publish_records(base_records(org))
        request_ids: list[str] = []
        at_kent: list[str] = []
        with d.client("dbs", Role.VETTING_OFFICER) as dbs:
            for rec in base_records("kent")[:4] + base_records("humberside")[:2]:
                for hit in dbs.check(rec, WHY, open_requests=True).hits:
                    request_ids.append(hit.request_id)
                    if hit.org == "kent":
                        at_kent.append(hit.request_id)
            made = dbs.candidate_tokens(base_records("kent")[0], [EPOCH])
            tokens = [bytes(t.token) for t in made]
            key_types = bytes(t.key_type for t in made)
        with d.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.resolve(at_kent[0])  # requests in OPEN and CONFIRMED states for the fuzzers to reuse
            kent.resolve(at_kent[1])
            keys = kent.profile.org_keys()
            big = PartitionedIndex.build(key_types, tokens)
            real = kent.signed_header(
                big, epoch=EPOCH, token_count=len(tokens), record_count=1, expires_in_days=1, version=2**40
            )
        other = d.net.profiles["humberside"].org_keys()
        values = MessageStrategies(
            default_hints(orgs=["kent", "humberside", "dbs"], request_ids=request_ids, tokens=tokens)
        )
        publish = publish_streams(
            values,
            sign=lambda b: envelope.sign(envelope.INDEX_HEADER_CONTEXT, b, keys.signing),
            other_sign=lambda b: envelope.sign(envelope.INDEX_HEADER_CONTEXT, b, other.signing),
            real=(real.header, big.to_bytes()),
        )
        d.net.add_overseer()
        channels = {c: d.channel(*c) for c in (*CALLERS, OPERATOR)}
        seeds = _seeds(
            kent_keys=keys, key_types=key_types, tokens=tokens, open_id=at_kent[2], confirmed_id=at_kent[0]
        )
        live = Live(d=d, channels=channels, values=values, publish=publish, seeds=seeds, rss_baseline=0)
        live.officer_credential = officer.issue(
            d.net.profiles["dbs"].org_keys().signing, org="dbs", officer_id=WHY.officer_id, now_ms=now_ms()
        ).encode()
        live.ping()
        live.rss_baseline = d.server.rss_bytes()
        yield live
        for method, codes in sorted(live.codes.items()):
            print(
                f"{method}: {sum(codes.values())} examples: "
                + ", ".join(f"{k} {v}" for k, v in codes.most_common())
            )
        for ch in channels.values():
            ch.close()
    finally:
        d.close()


def _seeds(
    *, kent_keys: OrgKeys, key_types: bytes, tokens: list[bytes], open_id: str, confirmed_id: str
) -> dict[str, bytes]:
    """One valid request per RPC (empty where the request has no fields), for near-valid mutations."""
    candidate = pb.Candidate(
        blocks=[pb.TokenBlock(epoch=EPOCH, key_types=key_types[:4], tokens=b"".join(tokens[:4]))],
        forename_class=2,
        surname_class=5,
    )
    msgs: dict[str, Message] = {
        "Registry/Register": pb.RegisterRequest(
            org="kent",
            signing_key=kent_keys.signing_public,
            box_key=kent_keys.box_public,
            proof=orgkeys.sign_registration(kent_keys),
            display_name="Kent",
        ),
        "Registry/GetOrganisation": pb.GetOrganisationRequest(org="kent"),
        "Matcher/Check": pb.CheckRequest(candidate=candidate, justification=justification_to_pb(WHY)),
        "Matcher/CheckBatch": pb.CheckBatchRequest(
            candidates=[candidate, candidate], justification=justification_to_pb(WHY)
        ),
        "Disclosure/ListRequests": pb.ListRequestsRequest(party=pb.HOLDER, states=[pb.OPEN]),
        "Disclosure/WatchRequests": pb.WatchRequestsRequest(states=[pb.OPEN]),
        "Disclosure/GetRequest": pb.GetRequestRequest(request_id=open_id),
        "Disclosure/Resolve": pb.ResolveRequest(request_id=open_id, confirmed=True),
        "Disclosure/Approve": pb.ApproveRequest(
            request_id=confirmed_id, sealed_payload=b"\x01" * 200, officer_id="DO"
        ),
        "Disclosure/Refuse": pb.RefuseRequest(
            request_id=confirmed_id, reason=pb.NOT_RELEVANT, officer_id="DO"
        ),
        "Disclosure/FetchDisclosure": pb.FetchDisclosureRequest(request_id=confirmed_id),
        "Audit/GetConsistencyProof": pb.GetConsistencyProofRequest(first=1, second=2),
        "Audit/GetInclusionProof": pb.GetInclusionProofRequest(leaf_index=0, tree_size=1),
        "Audit/GetEntries": pb.GetEntriesRequest(start=0, end=2),
    }
    return {m: msgs[m].SerializeToString() if m in msgs else b"" for m in METHODS}


def _call(live: Live, method: str, caller: tuple[str, str], payload: bytes | list[bytes]) -> grpc.StatusCode:
    ch = live.channels[caller]
    service, name = method.split("/")
    path = f"/crossforce.v2.{service}/{name}"
    try:
        if method == "Index/Publish":
            assert isinstance(payload, list)
            ch.stream_unary(path)(iter(payload), timeout=UNARY_TIMEOUT_S)
        elif method == "Disclosure/WatchRequests":
            stream = ch.unary_stream(path)(payload, timeout=WATCH_TIMEOUT_S)
            for i, _ in enumerate(stream):
                if i >= 2:
                    stream.cancel()
                    break
        else:
            sent = ((officer.METADATA_KEY, live.officer_credential),) if service == "Matcher" else ()
            ch.unary_unary(path)(payload, timeout=UNARY_TIMEOUT_S, metadata=sent)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        if code == grpc.StatusCode.CANCELLED and method == "Disclosure/WatchRequests":
            return grpc.StatusCode.OK  # we hung up after reading the backlog
        return code
    return grpc.StatusCode.OK


def examples(request: pytest.FixtureRequest) -> int:
    if os.environ.get("CROSSFORCE_FUZZ_EXAMPLES"):
        return int(os.environ["CROSSFORCE_FUZZ_EXAMPLES"])
    return FUZZ_EXAMPLES_SLOW if request.config.getoption("--slow") else FUZZ_EXAMPLES


@pytest.mark.parametrize("method", METHODS)
def test_hostile_request_bytes_get_a_deliberate_status(
    live: Live, method: str, request: pytest.FixtureRequest
) -> None:
    allowed = [c for c in CALLERS if c[1] in ROLE_MATRIX[method]]
    if method in ("Index/Publish", "Disclosure/WatchRequests", "Disclosure/Resolve"):
        allowed = [c for c in allowed if c[0] == "kent"]  # the seeds' headers and requests are kent's
    callers = st.sampled_from(allowed * 8 + list(CALLERS))  # mostly callers the role matrix lets through
    payloads = (
        live.publish if method == "Index/Publish" else request_bytes(method, live.values, live.seeds[method])
    )
    codes = live.codes.setdefault(method, Counter())
    started = time.monotonic()

    @settings(
        max_examples=examples(request), deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(caller=callers, payload=payloads)
    def fuzz(caller: tuple[str, str], payload: bytes | list[bytes]) -> None:
        code = _call(live, method, caller, payload)
        codes[code.name] += 1
        assert code not in NEVER, f"{method} answered {code.name}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            assert method == "Disclosure/WatchRequests", f"{method} hung until its deadline"

    fuzz()
    assert live.d.server.alive, live.d.server.log_tail()
    live.ping()
    growth = live.d.server.rss_bytes() - live.rss_baseline
    print(
        f"{method}: {sum(codes.values())} examples in {time.monotonic() - started:.1f}s, "
        f"RSS +{growth / 2**20:.0f} MiB: {dict(codes.most_common())}"
    )
    assert growth < RSS_GROWTH_BOUND, f"matcher RSS grew by {growth / 2**20:.0f} MiB"


# --------------------------------------------------------------------------------------------- named cases


def _check_request(
    tokens: int, token: bytes = b"\x01" * 32, *, key_types: bytes | None = None, surname_class: int = 0
) -> pb.CheckRequest:
    """A check of ``tokens`` distinct tokens of ``token``'s length (all key type 1 unless given)."""
    data = b"".join(i.to_bytes(4, "big") + token[4:] for i in range(tokens))
    block = pb.TokenBlock(
        epoch=EPOCH, key_types=b"\x01" * tokens if key_types is None else key_types, tokens=data
    )
    return pb.CheckRequest(
        candidate=pb.Candidate(blocks=[block], surname_class=surname_class),
        justification=justification_to_pb(WHY),
    )


NAMED_BAD_REQUESTS: list[tuple[str, str, bytes, grpc.StatusCode]] = [
    (
        "truncated check",
        "Matcher/Check",
        _check_request(3).SerializeToString()[:-7],
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "bad utf-8 in purpose",
        "Matcher/Check",
        _check_request(1).SerializeToString() + length_delimited(2, length_delimited(1, b"\xc3\x28")),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "bad utf-8 in request id",
        "Disclosure/GetRequest",
        length_delimited(1, b"\xed\xa0\x80"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "declared length beyond the message",
        "Disclosure/GetRequest",
        tag(1, 2) + varint(2**62) + b"abc",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "varint longer than ten bytes",
        "Audit/GetEntries",
        tag(1, 0) + b"\xff" * 11 + b"\x01",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "token of 31 bytes",
        "Matcher/Check",
        _check_request(1, b"\x01" * 31).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "token of 33 bytes",
        "Matcher/Check",
        _check_request(1, b"\x01" * 33).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "key type with no token bytes",
        "Matcher/Check",
        _check_request(2, key_types=b"\x01\x01\x01").SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "token bytes with no key type",
        "Matcher/Check",
        _check_request(2, key_types=b"\x01").SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "token relabelled as an unknown key type",
        "Matcher/Check",
        _check_request(1, key_types=b"\xff").SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "surname class beyond unlisted",
        "Matcher/Check",
        _check_request(1, surname_class=6).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "513 tokens",
        "Matcher/Check",
        _check_request(513).SerializeToString(),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    (
        "unknown party",
        "Disclosure/ListRequests",
        pb.ListRequestsRequest(party=7).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "unknown state",
        "Disclosure/ListRequests",
        pb.ListRequestsRequest(party=pb.REQUESTER, states=[99]).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "a million duplicate states",
        "Disclosure/ListRequests",
        pb.ListRequestsRequest(party=pb.REQUESTER).SerializeToString()
        + length_delimited(2, b"\x01" * 1_000_000),
        grpc.StatusCode.OK,
    ),
    (
        "request id of 65 characters",
        "Disclosure/GetRequest",
        pb.GetRequestRequest(request_id="a" * 65).SerializeToString(),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    (
        "officer id of 10,000 characters",
        "Matcher/Check",
        _check_request(1).SerializeToString() + length_delimited(2, length_delimited(4, b"x" * 10_000)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    (
        "inclusion proof of the last uint64",
        "Audit/GetInclusionProof",
        pb.GetInclusionProofRequest(leaf_index=2**64 - 1, tree_size=2**64 - 1).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "entries range past the log",
        "Audit/GetEntries",
        pb.GetEntriesRequest(start=0, end=2**64 - 1).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "payload", "expected"), NAMED_BAD_REQUESTS, ids=[c[0] for c in NAMED_BAD_REQUESTS]
)
def test_named_bad_request_gets_documented_status(
    live: Live, name: str, method: str, payload: bytes, expected: grpc.StatusCode
) -> None:
    caller = ("dbs", Role.VETTING_OFFICER)
    assert _call(live, method, caller, payload) == expected, name


@pytest.mark.parametrize("method", [*METHODS, "Health/Check"])
def test_undecodable_request_is_invalid_argument_not_internal(live: Live, method: str) -> None:
    """grpc-python answers INTERNAL when a request does not parse; status.DecodeGuard makes it the
    caller's error, for every RPC (the health service included)."""
    caller = next(c for c in (*CALLERS, OPERATOR) if method == "Health/Check" or c[1] in ROLE_MATRIX[method])
    truncated = tag(1, 2) + varint(50) + b"short"
    if method == "Health/Check":
        call = live.channels[caller].unary_unary("/grpc.health.v1.Health/Check")
        with pytest.raises(grpc.RpcError) as err:
            call(truncated, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        return
    payload: bytes | list[bytes] = [truncated] if method == "Index/Publish" else truncated
    assert _call(live, method, caller, payload) == grpc.StatusCode.INVALID_ARGUMENT


def test_message_just_over_size_limit_resource_exhausted(live: Live) -> None:
    limit = 8 * 1024 * 1024  # crossforce.limits.Limits.max_message_bytes
    ch = live.channels[("dbs", Role.VETTING_OFFICER)]
    call = ch.unary_unary("/crossforce.v2.Matcher/Ping")
    at_limit = length_delimited(15, b"\x00" * (limit - 5))  # an unknown field, ignored by the parser
    assert len(at_limit) == limit
    call(at_limit, timeout=30)
    with pytest.raises(grpc.RpcError) as over:
        call(at_limit + b"\x00", timeout=30)
    assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    live.ping()


def test_declared_oversized_index_refused_before_chunks_read(live: Live) -> None:
    keys = live.d.net.profiles["kent"].org_keys()
    header = pb.IndexHeader(
        format_version=index.INDEX_FORMAT_VERSION,
        org="kent",
        epoch=EPOCH,
        version=2**41,
        num_blocks=2**27,
        num_probes=0,  # format 2: each partition has its own
        token_count=10,
        record_count=10,
        partitions=[pb.IndexPartition(key_type=16, num_blocks=2**27, num_probes=7, token_count=10)],
        bits_sha256=b"\x00" * 32,
        created_at_ms=int(time.time() * 1000),
        expires_at_ms=int(time.time() * 1000) + 86_400_000,
    ).SerializeToString()  # 2**27 blocks of 64 bytes = 8 GiB declared
    signature = envelope.sign(envelope.INDEX_HEADER_CONTEXT, header, keys.signing)
    asked_for_bits = threading.Event()
    release = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield pb.PublishChunk(
            header=pb.SignedIndexHeader(header=header, signature=signature)
        ).SerializeToString()
        asked_for_bits.set()
        release.wait(20)  # the server must answer while we still hold the bits back
        yield pb.PublishChunk(bits=b"\x00" * 1024).SerializeToString()

    ch = live.channels[("kent", Role.FORCE_SYSTEM)]
    started = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as refused:
            ch.stream_unary("/crossforce.v2.Index/Publish")(chunks(), timeout=15)
    finally:
        release.set()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert time.monotonic() - started < 10, "the refusal waited for index bits"
    assert "declared index" in (refused.value.details() or "")
