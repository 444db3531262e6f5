"""The disclosure state machine: only legal moves by the right party succeed, denials are uniform,
overdue requests are flagged and never lost."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from crossforce.domain.enums import OrgKind
from crossforce.errors import PermissionDeniedError, PreconditionError, ValidationError
from crossforce.server.policy import disclosure
from crossforce.server.policy.disclosure import (
    DENIED_TEXT,
    TRANSITIONS,
    Action,
    RefusalReason,
    RequestView,
    State,
    apply,
    authorise,
    deadline_for,
    is_overdue,
    next_state,
    open_request,
    overdue_requests,
)
from crossforce.server.settings import ServerSettings
from crossforce.v2 import crossforce_pb2 as pb

DAY_MS = 86_400_000
SEALED = b"\x01" * 32
"""Stands in for an approval's ciphertext (the policy checks only that there is one)."""
ORGS = ("kent", "essex", "dbs", "humberside")
ROLES = ("force-system", "vetting-officer", "disclosure-officer", "auditor", "operator", "intruder")

# Written out independently of the module under test.
EXPECTED_ROLES = {
    Action.RESOLVE_CONFIRMED: {"force-system", "disclosure-officer"},
    Action.RESOLVE_NO_MATCH: {"force-system", "disclosure-officer"},
    Action.APPROVE: {"disclosure-officer"},
    Action.REFUSE: {"disclosure-officer"},
    Action.FETCH: {"vetting-officer", "force-system"},
    Action.VIEW: {"force-system", "vetting-officer", "disclosure-officer", "auditor", "operator"},
}
LEGAL = {
    (Action.RESOLVE_CONFIRMED, State.OPEN): State.CONFIRMED,
    (Action.RESOLVE_NO_MATCH, State.OPEN): State.NO_MATCH,
    (Action.APPROVE, State.CONFIRMED): State.APPROVED,
    (Action.REFUSE, State.CONFIRMED): State.REFUSED,
    (Action.FETCH, State.APPROVED): State.DELIVERED,
    (Action.FETCH, State.DELIVERED): State.DELIVERED,
    **{(Action.VIEW, s): s for s in State},
}


def _party_ok(action: Action, view: RequestView, org: str, role: str) -> bool:
    if action in (Action.RESOLVE_CONFIRMED, Action.RESOLVE_NO_MATCH, Action.APPROVE, Action.REFUSE):
        return org == view.holder_org
    if action is Action.FETCH:
        return org == view.requester_org
    # No caller here is of the operator's kind: an auditor or operator of another organisation sees only
    # its own organisation's requests (issue 15 item 9; the operator's own: tests/unit/test_roles.py).
    return org in (view.holder_org, view.requester_org)


def _view(state: State = State.OPEN, **kw: object) -> RequestView:
    base: dict[str, object] = {
        "request_id": "r1",
        "requester_org": "dbs",
        "holder_org": "kent",
        "state": state,
        "created_at_ms": 0,
        "deadline_ms": 14 * DAY_MS,
        "purpose": "school-staff-vetting",
    }
    base.update(kw)
    return RequestView(**base)  # type: ignore[arg-type]


def _denial(action: Action, view: RequestView | None, org: str, role: str) -> str:
    with pytest.raises(PermissionDeniedError) as info:
        authorise(action, view, caller_org=org, caller_role=role)
    return str(info.value)


# --- the stateful model ------------------------------------------------------------------------------


class DisclosureMachine(RuleBasedStateMachine):
    """A toy broker: a dict of views driven only through ``apply``, against an independent model."""

    requests = Bundle("requests")

    @initialize()
    def start(self) -> None:
        self.now = 1_000_000
        self.store: dict[str, RequestView] = {}
        self.history: dict[str, list[State]] = {}
        self.opened = 0
        self.reached: set[State] = set()

    @rule(
        target=requests,
        orgs=st.lists(st.sampled_from(ORGS), min_size=2, max_size=2, unique=True),
        purpose=st.sampled_from(
            sorted(c for c, p in ServerSettings().purposes.items() if p.allows_disclosure)
        ),
    )
    def open(self, orgs: list[str], purpose: str) -> str:
        self.opened += 1
        request_id = f"req-{self.opened}"
        view = open_request(
            request_id=request_id,
            requester_org=orgs[0],
            holder_org=orgs[1],
            purpose=purpose,
            created_at_ms=self.now,
            settings=ServerSettings(),
        )
        assert view.state is State.OPEN
        assert view.deadline_ms == self.now + ServerSettings().purpose(purpose).deadline_ms
        self.store[request_id] = view
        self.history[request_id] = [State.OPEN]
        return request_id

    @rule(
        request_id=st.one_of(requests, st.just("req-missing")),
        action=st.sampled_from(list(Action)),
        org=st.sampled_from(ORGS),
        role=st.sampled_from(ROLES),
        reason=st.sampled_from(list(RefusalReason)[1:]),
    )
    def act_as_anyone(
        self, request_id: str, action: Action, org: str, role: str, reason: RefusalReason
    ) -> None:
        self.act(request_id, action, org, role, reason)

    def act(self, request_id: str, action: Action, org: str, role: str, reason: RefusalReason) -> None:
        before = self.store.get(request_id)
        refusal = reason if action is Action.REFUSE else None
        sealed = SEALED if action is Action.APPROVE else None
        try:
            after = apply(
                action,
                before,
                caller_org=org,
                caller_role=role,
                now_ms=self.now,
                refusal_reason=refusal,
                sealed=sealed,
            )
        except PermissionDeniedError as exc:
            text = str(exc)
            if role not in EXPECTED_ROLES[action]:
                # Refused for the role alone: names the role, and reads the same whatever the request.
                assert role[:20] in text and text != DENIED_TEXT
                assert text == _denial(action, None, org, role)
            else:
                assert before is None or not _party_ok(action, before, org, role)
                assert text == DENIED_TEXT
                assert text == _denial(action, None, org, role)  # as if the request did not exist
            assert self.store.get(request_id) == before
            return
        except PreconditionError as exc:
            assert before is not None
            assert (action, before.state) not in LEGAL
            assert before.state.name in str(exc)
            assert self.store[request_id] == before
            return
        assert before is not None, "an unknown request must never be acted on"
        assert role in EXPECTED_ROLES[action] and _party_ok(action, before, org, role)
        assert after.state is LEGAL[(action, before.state)]
        assert (after.request_id, after.holder_org, after.requester_org) == (
            before.request_id,
            before.holder_org,
            before.requester_org,
        )
        assert after.deadline_ms == before.deadline_ms and after.created_at_ms == before.created_at_ms
        if action is Action.REFUSE:
            assert after.refusal_reason is reason
        if after.state is not before.state:
            assert after.updated_at_ms == self.now
            self.history[request_id].append(after.state)
        self.store[request_id] = after

    @rule(
        request_id=requests,
        action=st.sampled_from(list(Action)),
        as_holder=st.booleans(),
        data=st.data(),
        reason=st.sampled_from(list(RefusalReason)[1:]),
    )
    def act_as_party(
        self, request_id: str, action: Action, as_holder: bool, data: st.DataObject, reason: RefusalReason
    ) -> None:
        """Random strangers rarely get anywhere; parties with plausible roles drive requests deep."""
        role = data.draw(st.one_of(st.sampled_from(sorted(EXPECTED_ROLES[action])), st.sampled_from(ROLES)))
        view = self.store[request_id]
        org = view.holder_org if as_holder else view.requester_org
        self.act(request_id, action, org, role, reason)
        self.reached.add(self.store[request_id].state)

    @rule(request_id=requests, data=st.data(), reason=st.sampled_from(list(RefusalReason)[1:]))
    def advance(self, request_id: str, data: st.DataObject, reason: RefusalReason) -> None:
        """The right party with the right role takes a legal step, so deep states are reached often."""
        view = self.store[request_id]
        moves = sorted(
            (a for (a, s) in LEGAL if s is view.state and a is not Action.VIEW), key=lambda a: a.value
        )
        if not moves:
            return
        action = data.draw(st.sampled_from(moves))
        role = data.draw(st.sampled_from(sorted(EXPECTED_ROLES[action])))
        org = view.requester_org if action is Action.FETCH else view.holder_org
        self.act(request_id, action, org, role, reason)
        assert self.store[request_id].state is LEGAL[(action, view.state)]
        self.reached.add(self.store[request_id].state)

    @rule(days=st.floats(min_value=0, max_value=10))
    def tick(self, days: float) -> None:
        self.now += int(days * DAY_MS)

    @invariant()
    def nothing_lost(self) -> None:
        assert len(self.store) == self.opened == len(self.history)

    @invariant()
    def histories_follow_transitions(self) -> None:
        for request_id, path in self.history.items():
            for a, b in itertools.pairwise(path):
                assert b in TRANSITIONS[a]
            assert self.store[request_id].state is path[-1]

    @invariant()
    def overdue_is_flagged_not_dropped(self) -> None:
        report = overdue_requests(self.store.values(), self.now)
        expected = {
            r.request_id
            for r in self.store.values()
            if r.state in (State.OPEN, State.CONFIRMED) and self.now > r.deadline_ms
        }
        assert {r.request_id for r in report} == expected
        assert all(r.request_id in self.store for r in report)
        assert [r.deadline_ms for r in report] == sorted(r.deadline_ms for r in report)


DisclosureMachine.TestCase.settings = hsettings(max_examples=80, stateful_step_count=50, deadline=None)
test_disclosure_state_machine = DisclosureMachine.TestCase


# --- tables ------------------------------------------------------------------------------------------


def test_state_numbers_match_proto() -> None:
    for state in State:
        assert pb.RequestState.Value(state.name) == state.value
    assert {s.name for s in State} == set(pb.RequestState.DESCRIPTOR.values_by_name) - {
        "REQUEST_STATE_UNSPECIFIED"
    }


def test_refusal_reasons_match_proto() -> None:
    for reason in RefusalReason:
        if reason is not RefusalReason.UNSPECIFIED:
            assert pb.RefusalReason.Value(reason.name) == reason.value
    assert len(RefusalReason) == len(pb.RefusalReason.keys())


def test_transitions_are_exactly_the_design() -> None:
    assert {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt} == {
        (State.OPEN, State.CONFIRMED),
        (State.OPEN, State.NO_MATCH),
        (State.CONFIRMED, State.APPROVED),
        (State.CONFIRMED, State.REFUSED),
        (State.APPROVED, State.DELIVERED),
    }


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("state", list(State))
def test_next_state_cell_by_cell(action: Action, state: State) -> None:
    if (action, state) in LEGAL:
        assert next_state(action, state) is LEGAL[(action, state)]
    else:
        with pytest.raises(PreconditionError, match=state.name):
            next_state(action, state)


# --- the attacks -------------------------------------------------------------------------------------


def test_probing_request_ids_gets_the_same_answer_as_not_yours() -> None:
    view = _view()
    for action in Action:
        for role in EXPECTED_ROLES[action]:
            if action is Action.VIEW and role in ("auditor", "operator"):
                continue
            assert _denial(action, view, "essex", role) == _denial(action, None, "essex", role) == DENIED_TEXT


def test_requester_cannot_approve_its_own_request() -> None:
    assert _denial(Action.APPROVE, _view(State.CONFIRMED), "dbs", "disclosure-officer") == DENIED_TEXT


def test_holder_cannot_fetch_the_disclosure_it_made() -> None:
    assert _denial(Action.FETCH, _view(State.APPROVED), "kent", "force-system") == DENIED_TEXT


def test_force_system_cannot_approve_even_its_own_force_requests() -> None:
    text = _denial(Action.APPROVE, _view(State.CONFIRMED), "kent", "force-system")
    assert "force-system" in text and text != DENIED_TEXT


def test_refused_request_cannot_be_fetched() -> None:
    view = _view(State.REFUSED)
    with pytest.raises(PreconditionError, match="REFUSED"):
        apply(Action.FETCH, view, caller_org="dbs", caller_role="vetting-officer", now_ms=1)


def test_refusal_needs_a_reason_and_only_refusals_carry_one() -> None:
    view = _view(State.CONFIRMED)
    for reason in (None, RefusalReason.UNSPECIFIED):
        with pytest.raises(ValidationError):
            apply(
                Action.REFUSE,
                view,
                caller_org="kent",
                caller_role="disclosure-officer",
                now_ms=1,
                refusal_reason=reason,
            )
    with pytest.raises(ValidationError, match="only a refusal"):
        apply(
            Action.APPROVE,
            view,
            caller_org="kent",
            caller_role="disclosure-officer",
            now_ms=1,
            refusal_reason=RefusalReason.OTHER,
            sealed=SEALED,
        )


def test_approval_needs_a_sealed_payload_and_only_approvals_carry_one() -> None:
    view = _view(State.CONFIRMED)
    for sealed in (None, b""):
        with pytest.raises(ValidationError) as caught:
            apply(
                Action.APPROVE,
                view,
                caller_org="kent",
                caller_role="disclosure-officer",
                now_ms=1,
                sealed=sealed,
            )
        assert str(caught.value) == "sealed_payload is required to approve"
    approved = apply(
        Action.APPROVE, view, caller_org="kent", caller_role="disclosure-officer", now_ms=1, sealed=SEALED
    )
    assert approved.state is State.APPROVED
    with pytest.raises(ValidationError, match="only an approval"):
        apply(
            Action.REFUSE,
            view,
            caller_org="kent",
            caller_role="disclosure-officer",
            now_ms=1,
            refusal_reason=RefusalReason.OTHER,
            sealed=SEALED,
        )
    with pytest.raises(ValidationError, match="only an approval"):
        apply(
            Action.FETCH,
            _view(State.APPROVED),
            caller_org="dbs",
            caller_role="vetting-officer",
            now_ms=1,
            sealed=SEALED,
        )
    # A caller who may not approve is denied before the payload is looked at.
    with pytest.raises(PermissionDeniedError):
        apply(Action.APPROVE, view, caller_org="dbs", caller_role="disclosure-officer", now_ms=1)


def test_refetch_of_delivered_changes_nothing() -> None:
    view = _view(State.DELIVERED, updated_at_ms=5)
    assert apply(Action.FETCH, view, caller_org="dbs", caller_role="vetting-officer", now_ms=99) == view


def test_only_holder_systems_see_matched_tokens() -> None:
    view = _view()
    assert disclosure.sees_matched_tokens(view, caller_org="kent", caller_role="disclosure-officer")
    assert disclosure.sees_matched_tokens(view, caller_org="kent", caller_role="force-system")
    assert not disclosure.sees_matched_tokens(view, caller_org="kent", caller_role="vetting-officer")
    assert not disclosure.sees_matched_tokens(view, caller_org="dbs", caller_role="force-system")


def test_may_view() -> None:
    view = _view()
    assert disclosure.may_view(view, caller_org="dbs", caller_role="vetting-officer")
    assert disclosure.may_view(view, caller_org="ops", caller_role="operator", caller_kind=OrgKind.OPERATOR)
    assert not disclosure.may_view(
        view, caller_org="essex", caller_role="operator"
    )  # another kind's operator
    assert not disclosure.may_view(
        view, caller_org="essex", caller_role="auditor", caller_kind=OrgKind.VETTING_BODY
    )
    assert not disclosure.may_view(view, caller_org="essex", caller_role="vetting-officer")


# --- deadlines and overdue ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "days"),
    [("school-staff-vetting", 14), ("safeguarding-referral", 2), ("childcare-vetting", 14)],
)
def test_deadline_for(purpose: str, days: int) -> None:
    assert deadline_for(purpose, 1000, ServerSettings()) == 1000 + days * DAY_MS


def test_hit_only_purpose_never_opens_a_request() -> None:
    with pytest.raises(PreconditionError, match="hit-only-screening"):
        deadline_for("hit-only-screening", 0, ServerSettings())


def test_unknown_purpose_lists_the_allowed_ones() -> None:
    with pytest.raises(ValidationError, match="school-staff-vetting"):
        deadline_for("fishing-expedition", 0, ServerSettings())


@pytest.mark.parametrize("state", list(State))
def test_overdue_only_while_waiting_on_the_holder(state: State) -> None:
    view = _view(state, deadline_ms=100)
    assert not is_overdue(view, 100)
    assert is_overdue(view, 101) is (state in (State.OPEN, State.CONFIRMED))
    assert view.overdue(101) is is_overdue(view, 101)


def test_overdue_report_most_overdue_first() -> None:
    views = [dataclasses.replace(_view(), request_id=f"r{d}", deadline_ms=d) for d in (30, 10, 20)]
    assert [v.request_id for v in overdue_requests(views, 1000)] == ["r10", "r20", "r30"]
