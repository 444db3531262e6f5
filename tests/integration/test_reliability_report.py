"""Is a stated probability true? The operator's report compares what hits stated with what holders found.

Each disclosure request keeps the probability its check stated; the holder's answer (confirmed, or no
match) is the outcome. ``crossforce report`` (Operations/Report) shows, per decile of stated probability,
how many were resolved, the mean stated and the share confirmed (issue 14, calibration from outcomes).
"""

from __future__ import annotations

from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.testkit.localnet import OVERSEER, LocalNet
from crossforce.wire import disclosure as wire_disclosure
from tests.integration.conftest import WHY

PEOPLE = [
    Record(record_id=f"H{i}", given_names=given, surname=surname, date_of_birth=dob)
    for i, (given, surname, dob) in enumerate(
        [
            ("Rosalind", "Fairweather", "1991-06-21"),
            ("Octavia", "Blackstock", "1984-02-09"),
            ("Thaddeus", "Pennington", "1975-11-30"),
        ]
    )
]


def test_the_report_shows_stated_probability_against_what_holders_found(net: LocalNet) -> None:
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records(PEOPLE)
    stated: list[float] = []
    request_ids: list[str] = []
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        for person in PEOPLE:
            hit = dbs.check(person, WHY, open_requests=True).hits[0]
            stated.append(hit.probability)
            request_ids.append(hit.request_id)
    assert all(0.5 <= p < 1 for p in stated) and all(request_ids)
    with net.client(OVERSEER, Role.AUDITOR) as auditor:
        assert auditor.report().reliability == ()  # nothing resolved yet: open requests are no outcome
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        for request_id in request_ids[:2]:
            assert hum.resolve(request_id).confirmed
        # The third, cleared by the holder as not the person (what a Bloom false positive gets).
        hum.connection.call(
            hum.connection.disclosure.Resolve,
            wire_disclosure.resolve_request(request_ids[2], confirmed=False),
        )
        seen_by_holder = hum.get_request(request_ids[0]).probability
    assert abs(seen_by_holder - stated[0]) <= 1e-6  # the request keeps what its check stated (millionths)
    with net.client(OVERSEER, Role.AUDITOR) as auditor:
        rows = auditor.report().reliability
    assert sum(r.n for r in rows) == 3
    confirmed = sum(round(r.n * r.observed_precision) for r in rows)
    assert confirmed == 2
    for row in rows:
        assert row.low <= row.mean_stated < row.high
    mean = sum(r.mean_stated * r.n for r in rows) / 3
    assert abs(mean - sum(stated) / 3) < 1e-5  # millionths, as stored
