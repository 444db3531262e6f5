"""The reliability table: stated probability against what holders found (policy.reliability)."""

from __future__ import annotations

import pytest

from crossforce.domain import RequestState
from crossforce.server.policy.reliability import reliability_table

C, N = RequestState.CONFIRMED, RequestState.NO_MATCH


def test_each_decile_compares_the_mean_stated_probability_with_the_share_confirmed() -> None:
    outcomes = [(850_000, C)] * 8 + [(850_000, N)] * 2 + [(950_000, RequestState.DELIVERED)] * 3
    outcomes += [(550_000, C), (550_000, N), (550_000, RequestState.REFUSED), (550_000, N)]
    rows = reliability_table(outcomes)
    assert [(r.low, r.n) for r in rows] == [(0.5, 4), (0.8, 10), (0.9, 3)]
    fifty, eighty, ninety = rows
    assert fifty.observed_precision == 0.5 and fifty.gap == pytest.approx(-0.05)
    assert eighty.observed_precision == 0.8 and eighty.gap == pytest.approx(-0.05)
    assert ninety.observed_precision == 1.0 and ninety.gap == pytest.approx(0.05)


def test_open_requests_and_requests_without_a_stated_probability_are_left_out() -> None:
    outcomes = [(700_000, RequestState.OPEN), (0, C), (0, N), (1_000_000, C)]
    [row] = reliability_table(outcomes)
    assert (row.low, row.high, row.n, row.observed_precision) == (0.9, 1.0, 1, 1.0)  # 1.0 in the top decile


def test_approved_and_refused_requests_were_confirmed_first() -> None:
    rows = reliability_table([(300_000, RequestState.APPROVED), (300_000, RequestState.REFUSED)])
    assert rows[0].observed_precision == 1.0
