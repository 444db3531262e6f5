"""The checking use case on its own (no sockets): per-candidate answers, and the work a batch does once.

Over real mTLS the same behaviour is tested in tests/integration/test_honest_server.py; these cover what
is only visible from inside: how often the epochs in use are computed, and that a batch of nothing but
refused candidates charges, logs and matches nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from crossforce.crypto.pki import Identity
from crossforce.domain import Justification, NotSearchedReason, QueryToken
from crossforce.errors import PreconditionError, ValidationError
from crossforce.server.audit import AuditLog
from crossforce.server.matcher import Matcher
from crossforce.server.policy import epochs
from crossforce.server.settings import ServerSettings
from crossforce.server.store import SQLiteStorage

WHO = Identity(
    org="dbs", role="vetting-officer", fingerprint="t", not_after=datetime.now(UTC) + timedelta(days=1)
)
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="C-1",
    officer_id="O-1",
)


def good() -> tuple[QueryToken, ...]:
    return (QueryToken(key_type=1, epoch=1, token=os.urandom(32)),)


@pytest.fixture
def matcher(tmp_path: Path) -> Iterator[Matcher]:
    storage = SQLiteStorage(tmp_path)
    audit = AuditLog(storage=storage, key=nacl.signing.SigningKey.generate())
    m = Matcher(storage=storage, settings=ServerSettings(expected_forces=("kent",)), audit=audit)
    try:
        yield m
    finally:
        m.close()


def test_epochs_in_use_are_computed_once_per_batch_not_once_per_candidate(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = epochs.epochs_in_use

    def counted(*args: Any, **kwargs: Any) -> tuple[int, ...]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(epochs, "epochs_in_use", counted)
    outcome = matcher.check(WHO, [good() for _ in range(300)], WHY, open_requests=False)
    assert len(outcome.results) == 300
    assert len(calls) <= 3  # a fixed number per batch (screening, matching, coverage), not 300


def test_a_batch_of_only_refused_candidates_charges_logs_and_matches_nothing(matcher: Matcher) -> None:
    before = matcher.log_size()
    outcome = matcher.check(WHO, [(), ()], WHY, open_requests=True)
    assert matcher.log_size() == before  # no CHECK event, no QUOTA_DENIED, no request
    assert [(r.check_id, r.hits, r.error and r.error.code) for r in outcome.results] == [
        ("", (), "INVALID_ARGUMENT"),
        ("", (), "INVALID_ARGUMENT"),
    ]
    assert outcome.forces_searched == 0
    assert [(f.org, f.reason) for f in outcome.coverage.not_searched] == [
        ("kent", NotSearchedReason.NEVER_PUBLISHED)
    ]


def test_refused_candidate_messages_carry_no_position_or_token(matcher: Matcher) -> None:
    secret = b"\xab" * 31
    outcome = matcher.check(WHO, [(QueryToken(key_type=1, epoch=1, token=secret),)], WHY, open_requests=False)
    error = outcome.results[0].error
    assert error is not None and error.code == "INVALID_ARGUMENT"
    assert error.message == "token 0 is 31 bytes; tokens are 32"  # the result's place says which candidate
    assert secret.hex() not in error.message


def test_a_single_check_of_a_refused_candidate_raises_its_own_error(matcher: Matcher) -> None:
    with pytest.raises(ValidationError, match="at least one token"):
        matcher.check_one(WHO, (), WHY, open_requests=False)
    before = matcher.log_size()
    matcher.check_one(WHO, good(), WHY, open_requests=False)
    assert matcher.log_size() == before + 1


def test_batch_level_problems_still_refuse_the_whole_call(matcher: Matcher) -> None:
    with pytest.raises(ValidationError, match="no candidates"):
        matcher.check(WHO, [], WHY, open_requests=False)
    hit_only = dataclasses.replace(WHY, purpose="hit-only-screening")
    with pytest.raises(PreconditionError, match="allows only a hit/no-hit answer"):
        matcher.check(WHO, [good(), ()], hit_only, open_requests=True)
