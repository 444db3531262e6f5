"""Which calls the SDK may send again after a failure, on which failures, and how long it pauses first.

A retry is only safe when the call cannot apply twice. Reads are safe by nature. A check or a disclosure
decision is safe when it carries an idempotency key (``new_idempotency_key``, chosen once per logical
call and sent unchanged every time): the matcher, or any other matcher sharing its database, answers a
repeat with the first answer and applies nothing again. Registration and publishing are never retried
here: a key change must not be sent twice blindly, and a publish is a stream whose answer, when lost,
the publisher settles itself (staged generations: ``publishing.Publisher.reconcile``).

A watch (a server stream) is reopened when it is lost (``watch_backoff_s``, ``desk.follow_watch``):
the matcher closes every connection at its maximum age, and restarts.

Only two failures mean "this matcher did not answer": UNAVAILABLE (nothing listening, a replica going
down, a replica that lost its database) and DEADLINE_EXCEEDED (no answer in time). Every other status is
an answer, and is passed on as it is.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

import grpc

SERVICE = "/crossforce.v2."
READS = frozenset(
    SERVICE + name
    for name in (
        "Registry/GetOrganisation",
        "Registry/ListOrganisations",
        "Registry/GetKeyHistory",
        "Index/Status",
        "Matcher/Ping",
        "Disclosure/ListRequests",
        "Disclosure/WatchRequests",
        "Disclosure/GetRequest",
        "Disclosure/OverdueReport",
        "Disclosure/FetchDisclosure",  # approved -> delivered once; a repeat fetch changes nothing
        "Audit/GetTreeHead",
        "Audit/GetConsistencyProof",
        "Audit/GetInclusionProof",
        "Audit/GetEntries",
        "Audit/GetLogKey",
        "Audit/GetCheckpoint",
        "Audit/AddCosignature",  # keeps (or replaces) one witness's line for one size
        "Operations/Report",
        "Operations/EpochStatus",
    )
)
"""Calls that change nothing, or nothing more when repeated: always safe to send again."""
KEYED_WRITES = frozenset(
    SERVICE + name
    for name in (
        "Matcher/Check",
        "Matcher/CheckBatch",
        "Disclosure/Resolve",
        "Disclosure/Approve",
        "Disclosure/Refuse",
    )
)
"""Writes that are safe to send again only when the request carries an idempotency key."""
NEVER_RETRIED = frozenset(
    SERVICE + name
    for name in ("Registry/Register", "Index/Publish", "Operations/ActivateEpoch", "Operations/RetireEpoch")
)
"""Writes with no key: a failure is passed on, and the caller decides (the publisher reconciles; the
operator reads ``crossforce epoch status`` before acting again)."""

RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
"""Failures that mean no answer came from that matcher."""
BACKOFF_S = (0.05, 0.2, 0.5)
"""Pause before the 2nd, 3rd and each later attempt: short, so a failover costs well under a second
plus the failed attempts themselves."""
SOLE_ADDRESS_ATTEMPTS = 2
"""A single configured address is tried twice: behind a DNS name with several addresses gRPC's resolver
connects to the next one, and a matcher restarted in place may be back."""
RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
"""gRPC's reconnect backoff, capped: a channel whose matcher was down fails every call at once, without
dialling, until its backoff ends (by default growing to two minutes), so a matcher restarted after a
crash would stay unreachable through it long after it is back. Capped at 2 s, a client finds it again
within about 2 s, while the other addresses carry its calls."""
KEY_BYTES = 16
"""An idempotency key is 32 hex characters: collisions within one organisation are out of reach."""


def new_idempotency_key() -> str:
    """A fresh key for one logical write (a check, a sub-batch, a decision), reused on every retry of it."""
    return secrets.token_hex(KEY_BYTES)


def may_retry(method: str, request: object) -> bool:
    """Whether ``request`` to ``method`` (a full gRPC method name) may be sent again after no answer."""
    if method in READS:
        return True
    return method in KEYED_WRITES and bool(getattr(request, "idempotency_key", ""))


def attempts_for(addresses: int) -> int:
    """How many attempts one call makes over ``addresses`` configured addresses: each once (one twice)."""
    return SOLE_ADDRESS_ATTEMPTS if addresses == 1 else addresses


def backoff_s(attempt: int) -> float:
    """The pause before attempt number ``attempt`` (0 for the first, 1 for the second, ...)."""
    if attempt <= 0:
        return 0.0
    return BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]


WATCH_BACKOFF_FIRST_S = 0.25
"""The longest pause before reopening a watch after its first failure; doubled after each further one."""
WATCH_BACKOFF_MAX_S = 10.0
"""The longest pause between two attempts to reopen a watch."""
WATCH_HELD_S = 2.0
"""A watch stream that lasted this long (or delivered a request) was connected: its failure is a lost
stream to reopen, and the count of failed attempts starts again."""
WATCH_GIVE_UP_S = 120.0
"""How long a watch keeps trying to reopen a lost stream before it ends with UnavailableError: a matcher
restarted by a deploy is back well within it; one down for longer is the operator's to report."""


def watch_backoff_s(failures: int, rand: Callable[[], float] = random.random) -> float:
    """The pause before reopening a watch after ``failures`` failed attempts in a row (1 for the first).

    Capped exponential with "equal jitter": at least half the step, plus a random share of the other
    half, so desks that lost the same matcher at the same moment do not all reconnect at once, and none
    reconnects in a tight loop."""
    step = min(WATCH_BACKOFF_MAX_S, WATCH_BACKOFF_FIRST_S * 2.0 ** min(max(0, failures - 1), 16))
    return step / 2 + rand() * step / 2
