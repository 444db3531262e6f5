"""``desk.follow_watch``: a lost watch stream is reopened, boundedly, and nothing is yielded twice.

Scripted streams and a fake clock: each stream is a list of requests and how it ends (the deadline, the
matcher closing it, or an error), so every rule is checked without a matcher or a real pause."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from crossforce.client import retries
from crossforce.client.desk import follow_watch
from crossforce.domain import DisclosureRequest, Justification, RefusalReason, RequestState
from crossforce.errors import (
    AuthenticationError,
    CrossforceError,
    PermissionDeniedError,
    UnavailableError,
)

WHY = Justification(purpose="p", legal_basis="b", case_reference="C-1", officer_id="O-1")


def request(n: int, state: RequestState = RequestState.OPEN) -> DisclosureRequest:
    return DisclosureRequest(
        request_id=f"{n:064x}",
        check_id="",
        requester_org="dbs",
        holder_org="kent",
        justification=WHY,
        matched_tokens=(),
        key_types=(),
        strength=0,
        state=state,
        created_at_ms=0,
        deadline_ms=0,
        updated_at_ms=0,
        overdue=False,
        refusal_reason=RefusalReason.UNSPECIFIED,
        log_index=0,
    )


@dataclass
class Stream:
    """One opening of the watch: what it delivers, then how long it stays open and how it ends."""

    delivers: list[DisclosureRequest]
    lasts_s: float = 0.0
    ends: CrossforceError | None = None
    """None: ends quietly (its deadline, or the matcher finished it)."""


@dataclass
class Script:
    streams: list[Stream]
    now: float = 0.0
    opened_with: list[float | None] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    reopens: list[tuple[str, float]] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def open_stream(self, left: float | None) -> Iterator[DisclosureRequest]:
        self.opened_with.append(left)
        stream = self.streams.pop(0) if self.streams else Stream([], lasts_s=1e9)
        yield from stream.delivers
        self.now += stream.lasts_s if left is None else min(stream.lasts_s, left)
        if stream.ends is not None and (left is None or stream.lasts_s < left):
            raise stream.ends

    def follow(self, timeout: float | None) -> Iterator[DisclosureRequest]:
        return follow_watch(
            self.open_stream,
            timeout=timeout,
            on_reopen=lambda lost, pause: self.reopens.append((str(lost), pause)),
            clock=self.clock,
            sleep=self.sleep,
            rand=lambda: 0.5,
        )


def ids(requests: Iterator[DisclosureRequest]) -> list[tuple[int, RequestState]]:
    return [(int(r.request_id, 16), r.state) for r in requests]


def lost(why: str = "max connection age") -> UnavailableError:
    return UnavailableError(why)


def test_backlog_sent_again_after_a_reopen_is_not_yielded_twice() -> None:
    script = Script(
        [
            Stream([request(1), request(2)], lasts_s=30, ends=lost()),
            Stream([request(1), request(2), request(3), request(2, RequestState.CONFIRMED)], lasts_s=1e9),
        ]
    )
    got = ids(script.follow(timeout=100))
    assert got == [
        (1, RequestState.OPEN),
        (2, RequestState.OPEN),
        (3, RequestState.OPEN),
        (2, RequestState.CONFIRMED),  # a new state of a request already seen is news
    ]
    assert len(script.opened_with) == 2 and script.reopens == [("max connection age", pytest.approx(0.1875))]


def test_the_timeout_covers_every_reopening() -> None:
    script = Script([Stream([request(1)], lasts_s=9, ends=lost()), Stream([], lasts_s=1e9)])
    assert ids(script.follow(timeout=10)) == [(1, RequestState.OPEN)]
    first, second = script.opened_with
    assert first == 10
    assert second is not None and second < 1  # what was left, not a fresh 10 s
    assert script.now == pytest.approx(10)


def test_a_pause_never_runs_past_the_timeout() -> None:
    script = Script([Stream([request(1)], lasts_s=9.95, ends=lost())])
    assert ids(script.follow(timeout=10)) == [(1, RequestState.OPEN)]
    assert script.pauses == [pytest.approx(0.05)]  # the backoff was 0.1875 s, truncated
    assert len(script.opened_with) == 1


def test_a_watch_that_never_connected_fails_at_once() -> None:
    """Nothing listening when the watch starts is said now, not after two minutes of retrying."""
    script = Script([Stream([], lasts_s=0.01, ends=lost("nothing is listening at localhost:1"))])
    with pytest.raises(UnavailableError, match="nothing is listening"):
        list(script.follow(timeout=None))
    assert script.pauses == []


@pytest.mark.parametrize(
    "refusal",
    [AuthenticationError("certificate revoked"), PermissionDeniedError("revoked while this call was open")],
)
def test_refusals_end_the_watch_at_once(refusal: CrossforceError) -> None:
    script = Script([Stream([request(1)], lasts_s=30, ends=lost()), Stream([request(1)], ends=refusal)])
    got: list[DisclosureRequest] = []
    with pytest.raises(type(refusal), match=str(refusal)):
        for r in script.follow(timeout=None):
            got.append(r)
    assert len(got) == 1 and len(script.opened_with) == 2  # reopened once after the lost stream, no more


def test_a_matcher_that_stays_down_ends_the_watch_after_the_give_up_window() -> None:
    down = [Stream([], lasts_s=0.01, ends=lost("nothing is listening")) for _ in range(200)]
    script = Script([Stream([request(1)], lasts_s=60, ends=lost()), *down])
    with pytest.raises(UnavailableError, match=r"could not reopen it in 120 s .*nothing is listening"):
        list(script.follow(timeout=None))
    assert max(script.pauses) <= retries.WATCH_BACKOFF_MAX_S
    assert (
        retries.WATCH_GIVE_UP_S
        <= script.now - 60
        <= retries.WATCH_GIVE_UP_S + retries.WATCH_BACKOFF_MAX_S + 1
    )
    assert len(script.opened_with) < 40  # backed off, not a tight loop


def test_a_stream_ended_quietly_before_the_timeout_is_reopened() -> None:
    script = Script([Stream([request(1)], lasts_s=5), Stream([request(2)], lasts_s=1e9)])
    assert ids(script.follow(timeout=60)) == [(1, RequestState.OPEN), (2, RequestState.OPEN)]


def test_a_reconnected_stream_resets_the_backoff() -> None:
    script = Script(
        [
            Stream([request(1)], lasts_s=30, ends=lost()),
            Stream([], lasts_s=0.01, ends=lost()),
            Stream([], lasts_s=0.01, ends=lost()),
            Stream([request(2)], lasts_s=30, ends=lost()),  # connected again
            Stream([], lasts_s=1e9),
        ]
    )
    assert ids(script.follow(timeout=200)) == [(1, RequestState.OPEN), (2, RequestState.OPEN)]
    assert script.pauses[:4] == [retries.watch_backoff_s(n, lambda: 0.5) for n in (1, 2, 3, 1)]


@pytest.mark.parametrize("failures", [1, 2, 5, 10, 1000])
def test_watch_backoff_is_jittered_and_capped(failures: int) -> None:
    low = retries.watch_backoff_s(failures, lambda: 0.0)
    high = retries.watch_backoff_s(failures, lambda: 1.0)
    assert 0 < low < high <= retries.WATCH_BACKOFF_MAX_S
    assert high == pytest.approx(2 * low)
