"""The checking use case on its own (no sockets): per-candidate answers, and the work a batch does once.

Over real mTLS the same behaviour is tested in tests/integration/test_honest_server.py; these cover what
is only visible from inside: how often the epochs in use are computed, that a batch of nothing but
refused candidates charges, logs and matches nothing, and the structure rules of a spec v2 candidate
(``policy.candidates``), each refusing the candidate alone.
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

from crossforce.auditlog.events import Check, parse_event
from crossforce.crypto.pki import Identity
from crossforce.domain import Candidate, Justification, NotSearchedReason, QueryToken, TokenBlock
from crossforce.errors import PreconditionError, ValidationError
from crossforce.server.audit import AuditLog
from crossforce.server.matcher import Matcher
from crossforce.server.policy import candidates as shape
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


def good() -> Candidate:
    return Candidate.of([QueryToken(key_type=1, epoch=1, token=os.urandom(32))])


EMPTY = Candidate(blocks=())


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
    outcome = matcher.check(WHO, [EMPTY, EMPTY], WHY, open_requests=True)
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
    secret = os.urandom(32)
    twice = Candidate(blocks=(TokenBlock(epoch=1, key_types=bytes([16, 16]), tokens=secret * 2),))
    outcome = matcher.check(WHO, [twice], WHY, open_requests=False)
    error = outcome.results[0].error
    assert error is not None and error.code == "INVALID_ARGUMENT"
    # the result's place says which candidate; the message names the block, never the token
    assert error.message == "block 0 (epoch 1): a token appears twice; each token is sent once"
    assert secret.hex() not in error.message


def test_a_single_check_of_a_refused_candidate_raises_its_own_error(matcher: Matcher) -> None:
    with pytest.raises(ValidationError, match="at least one token"):
        matcher.check_one(WHO, EMPTY, WHY, open_requests=False)
    before = matcher.log_size()
    matcher.check_one(WHO, good(), WHY, open_requests=False)
    assert matcher.log_size() == before + 1


def test_batch_level_problems_still_refuse_the_whole_call(matcher: Matcher) -> None:
    with pytest.raises(ValidationError, match="no candidates"):
        matcher.check(WHO, [], WHY, open_requests=False)
    hit_only = dataclasses.replace(WHY, purpose="hit-only-screening")
    with pytest.raises(PreconditionError, match="allows only a hit/no-hit answer"):
        matcher.check(WHO, [good(), EMPTY], hit_only, open_requests=True)


def block(types: list[int], epoch: int = 1) -> TokenBlock:
    return TokenBlock(epoch=epoch, key_types=bytes(types), tokens=os.urandom(32 * len(types)))


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        (Candidate(blocks=(block([]),)), "at least one token"),
        (
            Candidate(blocks=(block([16]), block([16]))),
            "block 1 (epoch 1): a second block for the same epoch",
        ),
        (Candidate(blocks=(block([16, 22]),)), "block 0 (epoch 1): token 1 has unknown key type 22"),
        (Candidate(blocks=(block([16, 99]),)), "token 1 has unknown key type 99"),
        (
            Candidate(blocks=(TokenBlock(epoch=1, key_types=bytes([16]), tokens=os.urandom(31)),)),
            "31 bytes of tokens for 1 key types",
        ),
        (Candidate(blocks=(block([16]),), forename_class=6), "forename class 6 is not a name class"),
        (Candidate(blocks=(block([16]),), surname_class=-1), "surname class -1 is not a name class"),
    ],
)
def test_a_candidate_not_made_from_one_record_is_refused_alone(
    matcher: Matcher, candidate: Candidate, message: str
) -> None:
    before = matcher.log_size()
    outcome = matcher.check(WHO, [good(), candidate, good()], WHY, open_requests=False)
    codes = [r.error.code if r.error else "" for r in outcome.results]
    assert codes == ["", "INVALID_ARGUMENT", ""]
    error = outcome.results[1].error
    assert error is not None and message in error.message
    assert matcher.log_size() == before + 2  # the two good candidates only


def test_more_tokens_of_a_type_than_the_worst_case_record_yields_is_refused(matcher: Matcher) -> None:
    per_type = shape.max_per_type(matcher.checking._limits)
    most = int(per_type[16])
    outcome = matcher.check(WHO, [Candidate(blocks=(block([16] * (most + 1)),))], WHY, open_requests=False)
    error = outcome.results[0].error
    assert error is not None and error.code in ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED")
    assert "key type 16" in error.message or "exceed the limit" in error.message
    fits = matcher.check(WHO, [Candidate(blocks=(block([16] * most),))], WHY, open_requests=False)
    assert fits.results[0].error is None


def test_a_check_is_charged_its_dearest_blocks_date_spans_in_units(matcher: Matcher) -> None:
    year, partial, exact = 27, 20, 16
    two_epochs = Candidate(blocks=(block([year, partial, exact]), block([exact], epoch=2)))
    assert shape.cost(two_epochs) == 366 + 100 + 1  # the other epoch's block repeats the same guesses
    assert shape.cost(Candidate(blocks=(block([exact]), block([year, year], epoch=2)))) == 2 * 366
    outcome = matcher.check(
        WHO, [Candidate(blocks=(block([year, partial, exact]),))], WHY, open_requests=False
    )
    assert outcome.results[0].error is None
    [(_index, entry, _sig)] = matcher._audit.entries(matcher.log_size() - 1, matcher.log_size())
    event = parse_event(entry)
    assert isinstance(event, Check) and event.cost == 467
