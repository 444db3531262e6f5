"""The SDK's batch checks: keyless candidates never sent, answers sub-batch by sub-batch, quota waited out.

Against a real matcher in the same process (testkit.inmemory): the checker must answer a candidate that
yields no match key itself (the matcher never sees it and no other candidate is affected), hand reports
back one sub-batch at a time, and wait a quota refusal out for exactly the retry-after it was given, up
to its bound, resending the same sub-batch, so nothing is checked twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crossforce.client import Client, Profile
from crossforce.client.checking import KEYLESS
from crossforce.crypto.secrets import NetworkSecret
from crossforce.domain import Justification
from crossforce.encoding.records import Record
from crossforce.errors import QuotaExceededError, ValidationError
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server.settings import QuotaSettings, ServerSettings
from crossforce.testkit.checkunits import dearest_units
from crossforce.testkit.inmemory import InMemoryMatcher

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0013",
    officer_id="DBS-4411",
)
JANE = Record(record_id="K1", given_names="Jane", surname="Okafor", date_of_birth="1984-03-02")
NOBODY = Record(record_id="X", given_names="Ann", surname="Nobody", date_of_birth="1950-01-01")
KEYLESS_NAMES = Record(record_id="N", given_names="Baby Boy", surname="X")  # placeholders only: no key


UNITS = dearest_units(JANE, NOBODY)
"""Quota units of the dearest candidate here (spec v2 charges per token): a TIGHT burst holds 10
candidates and its rate refills 20 a second."""
TIGHT = ServerSettings(
    expected_forces=(),
    limits=dataclasses.replace(DEFAULT_LIMITS, max_batch_candidates=10),
    quotas=QuotaSettings(
        org_rate_per_s=20 * UNITS,
        org_burst=10 * UNITS,
        officer_rate_per_s=20 * UNITS,
        officer_burst=10 * UNITS,
    ),
)


@dataclasses.dataclass
class Deployment:
    kent: Client
    dbs: Client
    sent: list[int]
    """How many candidates each CheckBatch call carried."""


@pytest.fixture(params=[None, TIGHT], ids=["default-quota", "tight-quota"])
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    secret = NetworkSecret.create()
    with InMemoryMatcher(tmp_path / "matcher", settings=request.param) as server:
        profiles = {
            org: Profile.create(
                tmp_path / org, org=org, display_name=org, server="in-memory", pki_dir=None, roles=(),
                secret=secret, dev_plaintext=True,
            )
            for org in ("kent", "dbs")
        }  # fmt: skip
        kent = Client(profiles["kent"], role="force-system", channel=server.channel("kent", "force-system"))
        dbs = Client(
            profiles["dbs"], role="vetting-officer", channel=server.channel("dbs", "vetting-officer")
        )
        for org, profile in profiles.items():
            with Client(profile, role="force-system", channel=server.channel(org, "force-system")) as c:
                c.register()
        kent.publish_records([JANE])
        sent: list[int] = []
        call = dbs.connection.call

        def counting(method: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
            if type(message).__name__ == "CheckBatchRequest":
                sent.append(len(message.candidates))
            return call(method, message, *args, **kwargs)

        dbs.connection.call = counting  # type: ignore[method-assign]
        try:
            yield Deployment(kent=kent, dbs=dbs, sent=sent)
        finally:
            kent.close()
            dbs.close()


def test_keyless_candidate_is_answered_locally_and_never_sent(deployment: Deployment) -> None:
    reports = deployment.dbs.check_batch([JANE, KEYLESS_NAMES, NOBODY], WHY, open_requests=False)
    assert [r.error for r in reports] == [None, KEYLESS, None]
    assert [h.org for h in reports[0].hits] == ["kent"] and reports[0].complete
    assert reports[2].no_trace and reports[2].complete
    assert reports[1].check_id == "" and not reports[1].complete
    assert deployment.sent == [2]
    assert deployment.dbs.check_batch([KEYLESS_NAMES, KEYLESS_NAMES], WHY, open_requests=False) == [
        reports[1],
        reports[1],
    ]
    assert deployment.sent == [2]  # a sub-batch of keyless candidates makes no call at all


def test_a_single_keyless_check_is_a_clear_error(deployment: Deployment) -> None:
    with pytest.raises(ValidationError, match="no match key"):
        deployment.dbs.check(KEYLESS_NAMES, WHY)
    assert deployment.sent == []


def test_reports_come_back_one_sub_batch_at_a_time(deployment: Deployment) -> None:
    batches = deployment.dbs.check_batches([JANE, NOBODY] * 5, WHY, open_requests=False, batch_size=4)
    assert deployment.sent == []  # lazy: nothing sent before the first sub-batch is asked for
    first = next(batches)
    assert len(first) == 4 and deployment.sent == [4]
    assert [len(b) for b in batches] == [4, 2] and deployment.sent == [4, 4, 2]


@pytest.mark.parametrize("deployment", [TIGHT], indirect=True, ids=["tight-quota"])
def test_quota_refusal_is_waited_out_and_the_same_sub_batch_resent(deployment: Deployment) -> None:
    waits: list[float] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    reports = [
        r
        for batch in deployment.dbs.check_batches(
            [JANE, NOBODY] * 10, WHY, open_requests=False, batch_size=10, max_wait_s=30,
            on_wait=waits.append, sleep=sleep,
        )
        for r in batch
    ]  # fmt: skip
    assert len(reports) == 20 and all(r.error is None for r in reports)
    assert len({r.check_id for r in reports}) == 20  # every candidate checked once
    assert waits and waits == slept and all(0 < w <= 1 for w in waits)
    assert deployment.sent == [10] + [10] * (len(waits) + 1)  # the refused sub-batch, sent again


@pytest.mark.parametrize("deployment", [TIGHT], indirect=True, ids=["tight-quota"])
def test_quota_wait_past_the_bound_is_raised_not_slept(deployment: Deployment) -> None:
    waits: list[float] = []
    batches = deployment.dbs.check_batches(
        [NOBODY] * 20, WHY, open_requests=False, batch_size=10, max_wait_s=0, on_wait=waits.append
    )
    assert len(next(batches)) == 10
    with pytest.raises(QuotaExceededError) as caught:
        next(batches)
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 0
    assert waits == []
