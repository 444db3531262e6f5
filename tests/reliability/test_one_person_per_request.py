"""Issue 15 finding 6, the holder's side: a disclosure request and its approval cover one person.

The matcher already refuses a candidate that no single record could have produced
(``policy.candidates``), but a requester can still fit two people into one candidate's structure: one
person's strong keys beside another's weaker ones. And an honest name-only check can touch every
namesake a force holds. Before the fix the desk confirmed every record any token touched and ``desk
approve`` disclosed all of them by default. Now it discloses the one person the strongest agreement
names, and leaves the request open for the officer to choose when the tokens name nobody in particular.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.domain import Candidate, CheckQuery, Justification, QueryToken, RequestState, Role
from crossforce.encoding import matchkeys
from crossforce.encoding.keytypes import NAME_NODATE
from crossforce.encoding.nameclasses import name_classes
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import PreconditionError
from crossforce.testkit.localnet import LocalNet
from crossforce.wire import matching as wire_matching

pytestmark = pytest.mark.backends("sqlite")  # the holder's side: the matcher's storage plays no part

HOLDER, REQUESTER = "humberside", "dbs"
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
PERSON_A = Record(record_id="HUM-A1", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
PERSON_B = Record(record_id="HUM-B7", given_names="Oliver", surname="Pemberton", date_of_birth="1990-06-02")
NAMESAKES = tuple(
    Record(
        record_id=f"HUM-Q{i:02d}",
        given_names="Rowan",
        surname="Quennell",
        date_of_birth=f"{1960 + i}-05-0{1 + i % 9}",
    )
    for i in range(20)
)


def run(args: Sequence[object], *, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"crossforce {' '.join(map(str, args))} failed:\n{result.output}"
    return result


def _mixed_candidate(net: LocalNet) -> Candidate:
    """Every key of person A, plus person B's name-without-date keys: no key type over the structure
    limit and no token twice, so the matcher takes it as one person."""
    tokeniser = Tokeniser(secret=net.secret.secret_for(1), epoch=1)
    keys = list(matchkeys.derive_keys(PERSON_A))
    keys += [k for k in matchkeys.derive_keys(PERSON_B) if k.key_type == NAME_NODATE]
    tokens = [QueryToken(key_type=k.key_type, epoch=1, token=tokeniser.token(k)) for k in keys]
    forename_class, surname_class = name_classes(PERSON_A)
    return Candidate.of(tokens, forename_class=forename_class, surname_class=surname_class)


def _request_from(net: LocalNet, candidate: Candidate) -> str:
    with net.client(REQUESTER, Role.VETTING_OFFICER) as c:
        query = CheckQuery(candidates=(candidate,), justification=WHY, open_requests=True)
        msg = c.connection.call(
            c.connection.matcher.CheckBatch, wire_matching.check_batch_request_to_pb(query)
        )
    [result] = wire_matching.check_outcome_from_pb(msg).results
    assert result.error is None, result.error
    ids = [h.request_id for h in result.hits if h.org == HOLDER]
    assert ids and ids[0], "the mixed candidate was taken as one person and opened a request"
    return ids[0]


def _disclosed(net: LocalNet, request_id: str) -> list[str]:
    with net.client(REQUESTER, Role.VETTING_OFFICER) as c:
        payload = c.fetch_disclosure(request_id)
    return [r["record_id"] for r in payload.records]


def test_request_built_from_two_peoples_tokens_discloses_only_one_person(net: LocalNet) -> None:
    with net.client(HOLDER, Role.FORCE_SYSTEM) as c:
        c.publish_records([PERSON_A, PERSON_B])
    request_id = _request_from(net, _mixed_candidate(net))
    hum = net.profiles[HOLDER].path

    resolved = json.loads(run(["desk", "resolve", request_id, "--profile", hum, "--json"]).stdout)
    assert resolved["confirmed"] is True
    assert resolved["record_ids"] == [PERSON_A.record_id]  # B's name alone touched B: not disclosed
    approved = json.loads(
        run([
            "desk", "approve", request_id, "--profile", hum, "--officer", "HUM-DO-1",
            "--summary", "Caution 2011", "--contact", "HUM DU", "--json",
        ]).stdout
    )  # fmt: skip
    assert approved["records_disclosed"] == [PERSON_A.record_id]
    assert _disclosed(net, request_id) == [PERSON_A.record_id]


def test_tokens_that_touch_many_records_only_weakly_do_not_confirm_a_match(net: LocalNet) -> None:
    """A name without a date of birth agrees with 20 namesakes: the desk confirms none of them, discloses
    nothing by default and leaves the request open; an officer who knows which one it is chooses it, and
    then exactly that one record is disclosed."""
    with net.client(HOLDER, Role.FORCE_SYSTEM) as c:
        c.publish_records(list(NAMESAKES))
    with net.client(REQUESTER, Role.VETTING_OFFICER) as c:
        report = c.check(Record(record_id="cand", given_names="Rowan", surname="Quennell"), WHY)
    [request_id] = [h.request_id for h in report.hits if h.org == HOLDER]
    assert request_id
    hum = net.profiles[HOLDER].path

    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        with pytest.raises(PreconditionError, match="ambiguous"):
            desk.resolve(request_id)
        assert desk.get_request(request_id).state is RequestState.OPEN
    refused = run([
        "desk", "approve", request_id, "--profile", hum, "--officer", "HUM-DO-1",
        "--summary", "s", "--contact", "c",
    ], ok=False)  # fmt: skip
    assert refused.exit_code == ExitStatus.BAD_INPUT, refused.output
    assert "ambiguous" in refused.output
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        assert desk.get_request(request_id).state is RequestState.OPEN  # nothing confirmed, nothing sent

    chosen = NAMESAKES[5].record_id
    approved = json.loads(
        run([
            "desk", "approve", request_id, "--profile", hum, "--officer", "HUM-DO-1",
            "--summary", "s", "--contact", "c", "--record", chosen, "--json",
        ]).stdout
    )  # fmt: skip
    assert approved["records_disclosed"] == [chosen]
    assert _disclosed(net, request_id) == [chosen]
