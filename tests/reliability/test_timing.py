"""Query timing must not reveal hits (docs/threat-model.md: "hits and misses do the same work").

An in-process Matcher on real SQLite storage holds several forces' indexes. Hit and miss candidates
(fresh tokens every time, so no cache line is reused on purpose) are interleaved in random order, and
the server-side time of each check is measured inside the process: the matching core
(``Checking.match``, wrapped) and the whole ``Matcher.check`` call. A two-sided Mann-Whitney U test
compares the two distributions; interleaving spreads machine noise and drift over both groups alike.
The matching core must show no significant difference; the whole call (which, after matching, does a
little extra bookkeeping per hit) is only bounded, and its figures are reported in docs/reliability.md.
"""

from __future__ import annotations

import gc
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
import numpy as np
import pytest

from crossforce.crypto.pki import Identity
from crossforce.domain import Candidate, QueryToken
from crossforce.index.partitioned import PartitionedIndex
from crossforce.server.audit import AuditLog
from crossforce.server.matcher import Justification, Matcher
from crossforce.server.settings import QuotaSettings, ServerSettings
from crossforce.server.store import SQLiteStorage
from crossforce.testkit.indexheaders import signed_index_header
from crossforce.testkit.publishstream import register_force

FORCES = ("avon-somerset", "humberside", "kent", "dyfed-powys")
TOKENS_PER_FORCE = 200_000
TOKENS_PER_CANDIDATE = 8
KEY_TYPES = (1, 2, 3, 4, 16, 17, 18, 19)
CHECKS = 4000
"""Checks measured (half hits, half misses), after WARMUP unmeasured ones."""
WARMUP = 300
ALPHA = 0.001
"""Two-sided significance level: a difference this unlikely under 'same distribution' fails the test."""
MAX_MEDIAN_RATIO = 1.10
"""And whatever the p-value says, the matching core's medians may differ by at most 10%."""
WHOLE_CHECK_MAX_RATIO = 1.25


def _identity(org: str, role: str) -> Identity:
    return Identity(org=org, role=role, fingerprint="timing", not_after=datetime.now(UTC) + timedelta(days=1))


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test, normal approximation with tie correction: (z, p)."""
    x = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    n1, n2 = len(a), len(b)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    i = 0
    ties = 0.0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    sd = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u1 - mean) / sd
    return z, math.erfc(abs(z) / math.sqrt(2))


def _matcher(data: Path) -> tuple[Matcher, dict[str, list[bytes]]]:
    storage = SQLiteStorage(data)
    audit = AuditLog(storage=storage, key=nacl.signing.SigningKey.generate())
    quotas = QuotaSettings(org_rate_per_s=1e6, org_burst=10**7, officer_rate_per_s=1e6, officer_burst=10**7)
    matcher = Matcher(storage=storage, settings=ServerSettings(quotas=quotas), audit=audit)
    held: dict[str, list[bytes]] = {}
    rng = np.random.default_rng(7)
    for org in FORCES:
        keys, who = register_force(matcher, org)
        raw = rng.bytes(32 * TOKENS_PER_FORCE)
        tokens = [raw[i : i + 32] for i in range(0, len(raw), 32)]
        # Token i is of KEY_TYPES[i % 8]: row r of a force's tokens is one candidate's worth, one per type.
        types = bytes(KEY_TYPES[i % len(KEY_TYPES)] for i in range(len(tokens)))
        bloom = PartitionedIndex.build(types, tokens)
        signed = signed_index_header(org, bloom, keys.signing, version=1, record_count=len(tokens) // 8)
        accepted = matcher.begin_publish(who, signed.header, signed.signature)
        matcher.finish_publish(who, accepted, bloom.to_bytes())
        held[org] = tokens
    return matcher, held


def _timed(fn: Callable[..., Any], sink: list[int]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            sink.append(time.perf_counter_ns() - started)

    return wrapper


def test_hits_and_misses_cost_the_same_server_time(tmp_path: Path) -> None:
    """A real difference fails every attempt; a burst of noise from a shared 2-core box (the other test
    workers) can fail one, so a failed measurement is repeated once on a fresh matcher."""
    failures = []
    for attempt in range(2):
        verdict = _measure_once(tmp_path / f"attempt-{attempt}")
        if verdict is None:
            return
        failures.append(verdict)
    pytest.fail("\n\n".join(failures))


def _measure_once(tmp_path: Path) -> str | None:
    tmp_path.mkdir()
    matcher, held = _matcher(tmp_path)
    who = _identity("dbs", "vetting-officer")
    why = Justification(
        purpose="school-staff-vetting",
        legal_basis="Police Act 1997 s113B",
        case_reference="TIMING-1",
        officer_id="DBS-T",
    )
    match_ns: list[int] = []
    matcher.checking.match = _timed(matcher.checking.match, match_ns)  # type: ignore[method-assign]
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    rows = TOKENS_PER_FORCE // len(KEY_TYPES)
    fresh = {org: iter(rng.sample(range(rows), rows)) for org in FORCES}

    def candidate(hit: bool) -> Candidate:
        if hit:  # every token held by one force under its own key type, each token used once
            org = rng.choice(FORCES)
            row = next(fresh[org]) * len(KEY_TYPES)
            raw = [held[org][row + j] for j in range(len(KEY_TYPES))]
        else:
            raw = [os.urandom(32) for _ in KEY_TYPES]
        return Candidate.of([QueryToken(kt, 1, t) for kt, t in zip(KEY_TYPES, raw, strict=True)])

    plan = [True, False] * ((CHECKS + WARMUP) // 2)
    rng.shuffle(plan)
    queries = [(hit, candidate(hit)) for hit in plan]  # built before timing starts
    timings: dict[bool, tuple[list[int], list[int]]] = {True: ([], []), False: ([], [])}
    gc.collect()
    gc.disable()
    try:
        for n, (hit, one) in enumerate(queries):
            started = time.perf_counter_ns()
            outcome = matcher.check(who, [one], why, open_requests=False)
            total = time.perf_counter_ns() - started
            assert bool(outcome.results[0].hits) == hit
            if n >= WARMUP:
                timings[hit][0].append(match_ns[-1])
                timings[hit][1].append(total)
    finally:
        gc.enable()
        matcher.close()
    lines = []
    stats = {}
    for label, k in (("matching core (match)", 0), ("whole check()", 1)):
        hits, misses = timings[True][k], timings[False][k]
        z, p = mann_whitney_u(hits, misses)
        ratio = float(np.median(hits) / np.median(misses))
        stats[k] = (p, ratio)
        lines.append(
            f"{label}: {len(hits)} hits, {len(misses)} misses, median {np.median(hits) / 1e3:.1f} vs "
            f"{np.median(misses) / 1e3:.1f} us (ratio {ratio:.3f}), Mann-Whitney z={z:+.2f} p={p:.3g}"
        )
    print("\n".join(lines))
    p, ratio = stats[0]
    core_same = p > ALPHA and 1 / MAX_MEDIAN_RATIO < ratio < MAX_MEDIAN_RATIO
    # The rest of check() builds the hit list and a longer CHECK event only for hits: measurably (a few
    # percent, see docs/reliability.md) but not grossly dearer. Guard against a gross regression only.
    whole_close = 1 / WHOLE_CHECK_MAX_RATIO < stats[1][1] < WHOLE_CHECK_MAX_RATIO
    return None if core_same and whole_close else "\n".join(lines)


def test_mann_whitney_detects_a_real_difference() -> None:
    """The statistic is not blind: a 5% shift in timings this noisy, at this sample size, is flagged."""
    rng = np.random.default_rng(1)
    hits = rng.lognormal(mean=math.log(100), sigma=0.2, size=CHECKS // 2)
    misses = rng.lognormal(mean=math.log(100), sigma=0.2, size=CHECKS // 2)
    assert mann_whitney_u(hits, misses)[1] > ALPHA
    assert mann_whitney_u(hits * 1.05, misses)[1] < ALPHA


@pytest.mark.parametrize("values", [[1.0, 1.0, 2.0], [3.0, 1.0, 2.0, 2.0]])
def test_mann_whitney_handles_ties(values: list[float]) -> None:
    z, p = mann_whitney_u(values, values)
    assert z == 0 and p == 1.0
