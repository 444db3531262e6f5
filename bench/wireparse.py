"""What reading a check batch costs per candidate: proto v1 (a message per token) against v2 (packed blocks).

Issue 20: a batch of 1,000 candidates of ~25 tokens was 25,000 ``QueryToken`` messages to parse and turn
into domain objects before the matcher looked at one token. Proto v2 packs a candidate's tokens into two
bytes fields per epoch (``TokenBlock``). This bench builds the same batch both ways in one run and times:

* ``parse``: ``CheckBatchRequest.FromString`` of the serialised batch;
* ``to domain``: parse plus the conversion the matcher runs (v1: a ``QueryToken`` per token, as the v1
  wire module did; v2: ``crossforce.wire.matching.check_query_from_pb``, framing checks included);
* bytes on the wire per candidate.

The v1 messages are rebuilt here from their descriptor (the generated v1 module is gone from the tree);
field numbers and types are those of proto/crossforce/v1 at commit a8af0a2^.

Usage: python -m bench.wireparse [--batch 1000] [--tokens 25] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from crossforce.domain import Candidate, CheckQuery, Justification, QueryToken
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import matching

EPOCH = 7
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-000123",
    officer_id="DBS-000042",
)


def _v1_batch_class() -> type[Message]:
    """proto v1's ``CheckBatchRequest`` with its ``Candidate`` of repeated ``QueryToken`` (the parts a
    batch's parse cost depends on; the justification is v2's unchanged message shape, inlined)."""
    f = descriptor_pb2.FileDescriptorProto(name="bench_v1_check.proto", package="benchv1", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = f.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    one, many = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    message(
        "QueryToken",
        ("key_type", 1, T.TYPE_UINT32, one, ""),
        ("epoch", 2, T.TYPE_UINT32, one, ""),
        ("token", 3, T.TYPE_BYTES, one, ""),
    )
    message("Candidate", ("tokens", 1, T.TYPE_MESSAGE, many, ".benchv1.QueryToken"))
    message(
        "Justification",
        ("purpose", 1, T.TYPE_STRING, one, ""),
        ("legal_basis", 2, T.TYPE_STRING, one, ""),
        ("case_reference", 3, T.TYPE_STRING, one, ""),
        ("officer_id", 4, T.TYPE_STRING, one, ""),
    )
    message(
        "CheckBatchRequest",
        ("candidates", 1, T.TYPE_MESSAGE, many, ".benchv1.Candidate"),
        ("justification", 2, T.TYPE_MESSAGE, one, ".benchv1.Justification"),
        ("open_requests", 3, T.TYPE_BOOL, one, ""),
        ("idempotency_key", 4, T.TYPE_STRING, one, ""),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return GetMessageClass(pool.FindMessageTypeByName("benchv1.CheckBatchRequest"))


def _candidates(batch: int, tokens: int) -> list[tuple[QueryToken, ...]]:
    """Random tokens of the v2 key types in use, round-robin over the types (their mix does not change
    the parse cost; their count does)."""
    codes = sorted(KEY_TYPES)
    return [
        tuple(
            QueryToken(key_type=codes[j % len(codes)], epoch=EPOCH, token=os.urandom(32))
            for j in range(tokens)
        )
        for _ in range(batch)
    ]


def _v1_bytes(batch_class: type[Message], candidates: list[tuple[QueryToken, ...]]) -> bytes:
    msg: Any = batch_class()
    for cand in candidates:
        c = msg.candidates.add()
        for t in cand:
            c.tokens.add(key_type=t.key_type, epoch=t.epoch, token=t.token)
    msg.justification.purpose = WHY.purpose
    msg.justification.legal_basis = WHY.legal_basis
    msg.justification.case_reference = WHY.case_reference
    msg.justification.officer_id = WHY.officer_id
    msg.open_requests = True
    return bytes(msg.SerializeToString())


def _v2_bytes(candidates: list[tuple[QueryToken, ...]]) -> bytes:
    query = CheckQuery(
        candidates=tuple(Candidate.of(c, forename_class=2, surname_class=3) for c in candidates),
        justification=WHY,
        open_requests=True,
    )
    return bytes(matching.check_batch_request_to_pb(query).SerializeToString())


def _v1_to_domain(batch_class: type[Message], data: bytes) -> list[tuple[QueryToken, ...]]:
    """What proto v1's wire module did with a parsed batch: a QueryToken per token."""
    msg: Any = batch_class.FromString(data)
    return [
        tuple(QueryToken(key_type=m.key_type, epoch=m.epoch, token=bytes(m.token)) for m in c.tokens)
        for c in msg.candidates
    ]


def _v2_to_domain(data: bytes) -> CheckQuery:
    return matching.check_query_from_pb(pb.CheckBatchRequest.FromString(data))


def _median_us_per_candidate(work: Callable[[], object], batch: int, repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        work()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e3 / batch


def run(batch: int, tokens: int, repeats: int) -> dict[str, float]:
    v1_class = _v1_batch_class()
    candidates = _candidates(batch, tokens)
    v1, v2 = _v1_bytes(v1_class, candidates), _v2_bytes(candidates)
    same = [c.query_tokens() for c in _v2_to_domain(v2).candidates] == _v1_to_domain(v1_class, v1)
    if not same:
        raise AssertionError("v1 and v2 batches do not carry the same tokens")
    return {
        "batch": batch,
        "tokens_per_candidate": tokens,
        "v1_parse_us_per_candidate": _median_us_per_candidate(
            lambda: v1_class.FromString(v1), batch, repeats
        ),
        "v2_parse_us_per_candidate": _median_us_per_candidate(
            lambda: pb.CheckBatchRequest.FromString(v2), batch, repeats
        ),
        "v1_to_domain_us_per_candidate": _median_us_per_candidate(
            lambda: _v1_to_domain(v1_class, v1), batch, repeats
        ),
        "v2_to_domain_us_per_candidate": _median_us_per_candidate(lambda: _v2_to_domain(v2), batch, repeats),
        "v1_bytes_per_candidate": len(v1) / batch,
        "v2_bytes_per_candidate": len(v2) / batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=1000, help="candidates per CheckBatch")
    parser.add_argument("--tokens", type=int, default=25, help="tokens per candidate")
    parser.add_argument("--repeats", type=int, default=15, help="timed parses per figure (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    out = run(args.batch, args.tokens, args.repeats)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"CheckBatch of {args.batch} candidates x {args.tokens} tokens, median of {args.repeats}:")
    for what, key in (("parse", "parse_us"), ("parse + to domain", "to_domain_us")):
        v1, v2 = out[f"v1_{key}_per_candidate"], out[f"v2_{key}_per_candidate"]
        print(f"  {what:<18} v1 {v1:8.2f} µs/candidate   v2 {v2:8.2f} µs/candidate   ({v1 / v2:.1f}x)")
    print(
        f"  {'wire bytes':<18} v1 {out['v1_bytes_per_candidate']:8.0f} B/candidate    "
        f"v2 {out['v2_bytes_per_candidate']:8.0f} B/candidate"
    )


if __name__ == "__main__":
    main()
