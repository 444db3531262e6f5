"""bench.transport runs end to end: three bare gRPC servers in child processes, mutual TLS, calls counted
and CPU per call read for both sides, the servers stopped. Figures are not judged here (no timing in
tests); only that each variant answered calls and the result has what bench.goals reads."""

from __future__ import annotations

from bench import transport
from bench.goals import TRANSPORT_AS_MATCHER


def test_every_variant_answers_calls_and_reports_cpu_per_call() -> None:
    r = transport.run(seconds=0.3, callers=2, rounds=1)
    assert set(r["variants"]) == {name for name, _target, _extra in transport.VARIANTS}
    assert TRANSPORT_AS_MATCHER in r["variants"]
    for figures in r["variants"].values():
        assert figures["calls_per_s"] > 0
        assert figures["server_cpu_us_per_call"] > 0
        assert figures["client_cpu_us_per_call"] > 0
