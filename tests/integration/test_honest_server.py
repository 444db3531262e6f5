"""Honest answers at the matcher, over real mTLS (issue 13, items 3 and 4, and what they need).

Every check answer says which expected forces were searched (and against which index) and which were
not, and why; a candidate the matcher cannot check is answered alone and never refuses its batch; a
disclosure request records the holder's index versions it matched; a quota refusal says when to retry.
The checks here go through the raw gRPC stubs (``CheckBatch``/``Check``) so they test the matcher's
answer itself, whatever the SDK does with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from crossforce import scoring
from crossforce.client.publishing import build_index
from crossforce.client.sdk import Client
from crossforce.clock import DAY_MS, now_ms
from crossforce.domain import (
    Candidate,
    CheckOutcome,
    CheckQuery,
    IndexRef,
    Justification,
    NotSearchedReason,
    PublishReceipt,
    SearchedForce,
    UnsearchedForce,
)
from crossforce.encoding import matchkeys
from crossforce.encoding.keytypes import KEY_TYPES, NAME_DOB
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, QuotaExceededError, ValidationError
from crossforce.forces import all_forces
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server import ServerSettings
from crossforce.server.policy import candidates as shape
from crossforce.server.policy.settings import QuotaSettings
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running
from crossforce.wire import matching as wire_matching
from tests.integration.conftest import WHY

JANE = Record(record_id="HUM-001", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
OTHERS = [
    Record(record_id="R1", given_names="Mohammed", surname="Rahman", date_of_birth="1990-11-02"),
    Record(record_id="R2", given_names="Oliver", surname="Smith", date_of_birth="1975-01-30"),
]
NOBODY = Record(record_id="C9", given_names="Xavier", surname="Quennell-Abara", date_of_birth="1959-02-28")
ORGS = (("humberside", FORCE_ROLES), ("kent", FORCE_ROLES), ("dbs", VETTING_ROLES))


@contextlib.contextmanager
def deployment(root: Path, settings: ServerSettings | None = None) -> Iterator[LocalNet]:
    with running(root, ORGS, settings=settings) as net:
        yield net


def publish(
    net: LocalNet,
    org: str,
    records: Sequence[Record],
    *,
    epoch: int = 1,
    expires_in_days: float = 30,
    declared_records: int | None = None,
) -> PublishReceipt:
    """Publish ``records`` under ``epoch`` through the SDK's lowest publish call (no local token store)."""
    with net.client(org, "force-system") as c:
        built = build_index(c.encode_records(records, epoch=epoch))
        return c.publish_index(
            built,
            epoch=epoch,
            token_count=built.token_count,
            record_count=declared_records or len(records),
            expires_in_days=expires_in_days,
        )


def tokens(c: Client, record: Record, *epochs: int) -> Candidate:
    """``record`` as the SDK sends it: a token block per epoch and its name classes."""
    candidate = c.candidate(record, list(epochs))
    assert candidate is not None
    return candidate


def check_batch(
    c: Client, candidates: Sequence[Candidate], *, open_requests: bool = False, why: Justification = WHY
) -> CheckOutcome:
    query = CheckQuery(candidates=tuple(candidates), justification=why, open_requests=open_requests)
    msg = c.connection.call(c.connection.matcher.CheckBatch, wire_matching.check_batch_request_to_pb(query))
    return wire_matching.check_outcome_from_pb(msg)


def check_one(c: Client, candidate: Candidate, *, open_requests: bool = False) -> CheckOutcome:
    query = CheckQuery(candidates=(candidate,), justification=WHY, open_requests=open_requests)
    msg = c.connection.call(c.connection.matcher.Check, wire_matching.check_request_to_pb(query))
    return wire_matching.check_outcome_from_pb(msg)


def searched(outcome: CheckOutcome) -> dict[str, SearchedForce]:
    return {f.org: f for f in outcome.coverage.searched}


def not_searched(outcome: CheckOutcome) -> dict[str, NotSearchedReason]:
    return {f.org: f.reason for f in outcome.coverage.not_searched}


# ------------------------------------------------------------------ issue 13 item 3: coverage
def test_empty_matcher_answers_a_check_with_no_forces_and_nothing_marked_not_searched(tmp_path: Path) -> None:
    """Item 3: "NO TRACE at 0 forces". The matcher now names every expected force it did not search."""
    territorial = tuple(sorted(f.code for f in all_forces()))
    with deployment(tmp_path, ServerSettings()) as net, net.client("dbs", "vetting-officer") as c:
        outcome = check_one(c, tokens(c, JANE, 1))
        assert outcome.results[0].hits == ()
        assert outcome.forces_searched == 0
        assert outcome.coverage.searched == ()
        assert outcome.coverage.not_searched == tuple(
            UnsearchedForce(org=o, reason=NotSearchedReason.NEVER_PUBLISHED) for o in territorial
        )
        assert not outcome.coverage.complete
        assert not outcome.reports()[0].complete
        assert c.status().expected_orgs == territorial


def test_matcher_with_nothing_expected_and_nothing_published_is_never_complete(tmp_path: Path) -> None:
    with deployment(tmp_path) as net, net.client("dbs", "vetting-officer") as c:
        outcome = check_batch(c, [tokens(c, JANE, 1)])
    assert outcome.coverage.searched == ()
    assert not outcome.coverage.complete


def test_every_searched_force_names_the_index_it_was_searched_against(tmp_path: Path) -> None:
    settings = ServerSettings(expected_forces=("essex", "humberside", "kent"))
    with deployment(tmp_path, settings) as net:
        hum = publish(net, "humberside", [JANE, *OTHERS])
        kent = publish(net, "kent", OTHERS)
        with net.client("dbs", "vetting-officer") as c:
            outcome = check_batch(c, [tokens(c, JANE, 1), tokens(c, NOBODY, 1)])
            indexes = {s.org: s for s in c.status().indexes}
            assert c.status().expected_orgs == ("essex", "humberside", "kent")
    assert [h.org for h in outcome.results[0].hits] == ["humberside"]
    assert outcome.forces_searched == 2
    assert not_searched(outcome) == {"essex": NotSearchedReason.NEVER_PUBLISHED}
    for receipt in (hum, kent):
        got = searched(outcome)[receipt.org]
        assert (got.epoch, got.version) == (receipt.epoch, receipt.version)
        assert got.published_at_ms == indexes[receipt.org].published_at_ms
        assert got.expires_at_ms == indexes[receipt.org].expires_at_ms
    assert not outcome.coverage.complete


def test_a_force_that_publishes_is_expected_even_when_not_configured(tmp_path: Path) -> None:
    with deployment(tmp_path, ServerSettings(expected_forces=("kent",))) as net:
        publish(net, "humberside", OTHERS)
        with net.client("dbs", "vetting-officer") as c:
            outcome = check_batch(c, [tokens(c, JANE, 1)])
            assert c.status().expected_orgs == ("humberside", "kent")
    assert set(searched(outcome)) == {"humberside"}
    assert not_searched(outcome) == {"kent": NotSearchedReason.NEVER_PUBLISHED}


def test_expired_index_is_not_searched_and_says_so(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        publish(net, "humberside", OTHERS, expires_in_days=30)
        publish(net, "kent", [JANE], expires_in_days=1)
        later = now_ms() + 2 * DAY_MS
        net.running_server.set_clock(lambda: later)
        with net.client("dbs", "vetting-officer") as c:
            outcome = check_batch(c, [tokens(c, JANE, 1)])
    assert outcome.results[0].hits == ()  # the expired index answers nothing...
    assert not_searched(outcome) == {"kent": NotSearchedReason.EXPIRED}  # ...and the answer says so
    assert set(searched(outcome)) == {"humberside"}
    assert outcome.forces_searched == 1
    assert outcome.stale_orgs == ("kent",)


def test_force_left_on_a_retired_epoch_is_not_searched_and_says_so(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        net.rotate_secret()
        publish(net, "humberside", [JANE], epoch=1)
        kent = publish(net, "kent", OTHERS, epoch=2)
        with pytest.raises(PreconditionError, match="humberside still serve"):
            net.retire_epoch(1)
        net.retire_epoch(1, force_override=True)  # the operator cuts humberside off: it never moved
        with net.client("dbs", "vetting-officer") as c:
            assert c.status().active_epochs == (2,)
            outcome = check_batch(c, [tokens(c, JANE, 2)])
    assert not_searched(outcome) == {"humberside": NotSearchedReason.RETIRED_EPOCH_ONLY}
    assert (searched(outcome)["kent"].epoch, searched(outcome)["kent"].version) == (2, kent.version)


def test_force_whose_epoch_the_check_carried_no_tokens_for_is_not_searched_and_says_so(
    tmp_path: Path,
) -> None:
    with deployment(tmp_path) as net:
        net.rotate_secret()
        publish(net, "humberside", [JANE], epoch=1)
        publish(net, "kent", [JANE], epoch=2)
        with net.client("dbs", "vetting-officer") as c:
            assert c.status().active_epochs == (2, 1)
            outcome = check_batch(c, [tokens(c, JANE, 1)])  # a requester without epoch 2's secret
    assert [h.org for h in outcome.results[0].hits] == ["humberside"]
    assert not_searched(outcome) == {"kent": NotSearchedReason.NO_TOKENS_FOR_EPOCH}
    assert set(searched(outcome)) == {"humberside"}
    assert outcome.forces_searched == 1


def test_force_on_two_epochs_reports_the_current_epochs_index(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        net.rotate_secret()
        publish(net, "humberside", OTHERS, epoch=1)
        old = publish(net, "kent", [JANE], epoch=1)
        new = publish(net, "kent", [JANE], epoch=2)
        with net.client("dbs", "vetting-officer") as c:
            both = check_batch(c, [tokens(c, JANE, 2, 1)])
            old_only = check_batch(c, [tokens(c, JANE, 1)])
    assert (searched(both)["kent"].epoch, searched(both)["kent"].version) == (2, new.version)
    assert (searched(old_only)["kent"].epoch, searched(old_only)["kent"].version) == (1, old.version)
    assert both.coverage.not_searched == old_only.coverage.not_searched == ()


# ------------------------------------------------------------------ issue 13 item 4: per candidate
def test_keyless_candidate_refuses_its_whole_sub_batch(tmp_path: Path) -> None:
    """Item 4: one candidate with no match keys made the matcher refuse the whole batch."""
    with deployment(tmp_path) as net:
        publish(net, "kent", [JANE])
        with net.client("dbs", "vetting-officer") as c:
            before = c.tree_head().head.tree_size
            outcome = check_batch(c, [tokens(c, JANE, 1), EMPTY, tokens(c, NOBODY, 1)], open_requests=True)
    first, keyless, last = outcome.results
    assert [h.org for h in first.hits] == ["kent"] and first.hits[0].request_id
    assert keyless.error is not None and keyless.error.code == "INVALID_ARGUMENT"
    assert "at least one token" in keyless.error.message
    assert (keyless.check_id, keyless.hits) == ("", ())
    assert last.error is None and last.hits == () and last.check_id
    # Two CHECK events and one request opened, nothing for the keyless candidate.
    assert outcome.tree_head.head.tree_size == before + 3


EMPTY = Candidate(blocks=())


def _block(good: Candidate, **changes: object) -> Candidate:
    return dataclasses.replace(good, blocks=(dataclasses.replace(good.blocks[0], **changes),))


def _too_many(good: Candidate) -> Candidate:
    count = DEFAULT_LIMITS.max_tokens_per_candidate + 1
    return _block(good, key_types=bytes([NAME_DOB]) * count, tokens=os.urandom(32 * count))


def _retyped(good: Candidate, key_type: int) -> Candidate:
    return _block(good, key_types=bytes([key_type]) + good.blocks[0].key_types[1:])


Make = Callable[[Candidate], Candidate]
BAD_CANDIDATES: list[tuple[str, Make, str]] = [
    ("no_tokens", lambda good: EMPTY, "INVALID_ARGUMENT"),
    ("too_many_tokens", _too_many, "RESOURCE_EXHAUSTED"),
    ("withdrawn_key_type", lambda good: _retyped(good, 22), "INVALID_ARGUMENT"),
    ("unknown_key_type", lambda good: _retyped(good, 99), "INVALID_ARGUMENT"),
    ("epoch_not_in_use", lambda good: _block(good, epoch=7), "FAILED_PRECONDITION"),
    (
        "token_twice",
        lambda good: _block(good, tokens=good.blocks[0].tokens[:32] * len(good.blocks[0])),
        "INVALID_ARGUMENT",
    ),
    (
        "two_blocks_one_epoch",
        lambda good: dataclasses.replace(good, blocks=good.blocks * 2),
        "INVALID_ARGUMENT",
    ),
    (
        "too_many_of_one_type",
        lambda good: _block(
            good,
            key_types=bytes([NAME_DOB]) * (DEFAULT_LIMITS.max_tokens_per_type[NAME_DOB] + 1),
            tokens=os.urandom(32 * (DEFAULT_LIMITS.max_tokens_per_type[NAME_DOB] + 1)),
        ),
        "INVALID_ARGUMENT",
    ),
]


def test_each_bad_candidate_is_answered_alone_and_the_rest_are_checked(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        publish(net, "kent", [JANE])
        with net.client("dbs", "vetting-officer") as c:
            good = tokens(c, JANE, 1)
            bad = [make(good) for _name, make, _code in BAD_CANDIDATES]
            outcome = check_batch(c, [good, *bad, good])
    assert [h.org for h in outcome.results[0].hits] == ["kent"]
    assert [h.org for h in outcome.results[-1].hits] == ["kent"]
    for (name, _make, code), result in zip(BAD_CANDIDATES, outcome.results[1:-1], strict=True):
        assert result.error is not None, name
        assert result.error.code == code, name
        assert (result.check_id, result.hits) == ("", ()), name
    assert set(searched(outcome)) == {"kent"}


@pytest.mark.parametrize(
    ("name", "make", "error"),
    [
        ("no_tokens", BAD_CANDIDATES[0][1], ValidationError),
        ("epoch_not_in_use", BAD_CANDIDATES[4][1], PreconditionError),
        ("token_twice", BAD_CANDIDATES[5][1], ValidationError),
    ],
)
def test_single_check_of_a_bad_candidate_still_fails_the_call(
    tmp_path: Path,
    name: str,
    make: Make,
    error: type[Exception],
) -> None:
    with deployment(tmp_path) as net:
        publish(net, "kent", [JANE])
        with net.client("dbs", "vetting-officer") as c:
            bad = make(tokens(c, JANE, 1))
            with pytest.raises(error):
                check_one(c, bad)


def test_quota_is_charged_for_accepted_candidates_only_and_a_refusal_says_when_to_retry(
    tmp_path: Path,
) -> None:
    rate = 0.001  # one unit per 1000 s: the bucket never refills during the test
    units = sum(KEY_TYPES[kt].date_span for kt, _key in matchkeys.key_bytes(JANE))
    assert units > len(matchkeys.key_bytes(JANE))  # the sum of its tokens' date spans, not one per check
    burst = 4 * units
    settings = ServerSettings(
        limits=dataclasses.replace(DEFAULT_LIMITS, max_batch_candidates=4),
        quotas=QuotaSettings(
            org_rate_per_s=rate, org_burst=burst, officer_rate_per_s=rate, officer_burst=burst
        ),
    )
    with deployment(tmp_path, settings) as net:
        publish(net, "kent", OTHERS)
        with net.client("dbs", "vetting-officer") as c:
            good = tokens(c, JANE, 1)
            assert shape.cost(good) == units
            outcome = check_batch(c, [good, EMPTY, good, EMPTY])  # two accepted: two charged
            assert [r.error is None for r in outcome.results] == [True, False, True, False]
            check_batch(c, [good, good])  # the other two of the burst of 4
            with pytest.raises(QuotaExceededError, match=r"units.*retry after \d") as info:
                check_batch(c, [good])
    assert info.value.retry_after_s is not None
    assert (units - 10) / rate < info.value.retry_after_s <= units / rate


# ------------------------------------------------------------------ requests record what they matched
def test_request_records_the_holders_index_version_it_matched(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        publish(net, "kent", [JANE])
        latest = publish(net, "kent", [JANE, *OTHERS])
        with net.client("dbs", "vetting-officer") as c:
            hit = check_one(c, tokens(c, JANE, 1), open_requests=True).results[0].hits[0]
        with net.client("kent", "disclosure-officer") as desk:
            request = desk.get_request(hit.request_id)
        assert request.matched_indexes == (IndexRef(epoch=1, version=latest.version),)
        net.stop_server()
        net.start_server()
        with net.client("kent", "disclosure-officer") as desk:
            assert desk.get_request(hit.request_id).matched_indexes == request.matched_indexes


def test_request_matched_under_two_epochs_records_both_indexes(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        net.rotate_secret()
        publish(net, "humberside", OTHERS, epoch=1)  # keeps epoch 1 in use
        first = publish(net, "kent", [JANE], epoch=1)
        second = publish(net, "kent", [JANE], epoch=2)
        with net.client("dbs", "vetting-officer") as c:
            hit = check_one(c, tokens(c, JANE, 2, 1), open_requests=True).results[0].hits[0]
            assert c.get_request(hit.request_id).matched_indexes == (
                IndexRef(epoch=1, version=first.version),
                IndexRef(epoch=2, version=second.version),
            )


# ------------------------------------------------------------------ spec v2: probabilities
def test_a_hit_states_its_probability_and_label_and_its_request_keeps_them(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        publish(net, "kent", [JANE, *OTHERS])
        publish(net, "humberside", OTHERS)
        with net.client("dbs", "vetting-officer") as c:
            [hit] = check_one(c, tokens(c, JANE, 1), open_requests=True).results[0].hits
            request = c.get_request(hit.request_id)
    assert hit.org == "kent" and NAME_DOB in hit.key_types
    assert 0.5 <= hit.probability <= 1.0  # at or above the default report threshold
    assert hit.strength == scoring.label(hit.probability, scoring.Thresholds(report=0.5, request=0.5))
    assert request.probability == pytest.approx(hit.probability, abs=1e-6)  # kept in millionths


def test_a_hit_only_purpose_learns_only_that_a_force_may_hold_the_person(tmp_path: Path) -> None:
    with deployment(tmp_path) as net:
        publish(net, "kent", [JANE])
        with net.client("dbs", "vetting-officer") as c:
            hit_only = dataclasses.replace(WHY, purpose="hit-only-screening")
            [hit] = check_batch(c, [tokens(c, JANE, 1)], why=hit_only).results[0].hits
    assert (hit.org, hit.key_types, hit.probability, hit.strength, hit.request_id) == ("kent", (), 0.0, 0, "")


def test_a_hit_below_the_report_threshold_is_not_answered(tmp_path: Path) -> None:
    strict = ServerSettings(
        expected_forces=(),
        purposes={
            **ServerSettings().purposes,
            WHY.purpose: dataclasses.replace(
                ServerSettings().purpose(WHY.purpose), report_threshold=0.95, request_threshold=0.95
            ),
        },
    )
    name_only = dataclasses.replace(JANE, date_of_birth="")  # a name alone, at a force of millions
    with deployment(tmp_path, strict) as net:
        publish(net, "kent", [JANE], declared_records=5_000_000)
        with net.client("dbs", "vetting-officer") as c:
            outcome = check_batch(c, [tokens(c, name_only, 1), tokens(c, JANE, 1)], open_requests=True)
    weak, full = outcome.results
    assert weak.error is None and weak.hits == ()  # below 0.95: not answered, no request opened
    assert all(h.probability >= 0.95 for h in full.hits)
