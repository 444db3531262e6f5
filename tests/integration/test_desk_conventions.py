"""Issue 19, desks and requesters, over real mTLS: request-id prefixes as git takes them, deadline order
with urgent and overdue marked, and JSON Lines watch streams for both sides of a request.

Each failure is first the issue's complaint (ids typed in full, a list in creation order, no way for a
vetting officer to watch for decisions); the prefix tests are also attacks: a prefix must never tell a
caller that another organisation's request exists.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.clock import DAY_MS, now_ms
from crossforce.crypto import sealed
from crossforce.domain import Justification, RefusalReason, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import NotFoundError, PermissionDeniedError, ValidationError
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server import ServerSettings
from crossforce.testkit.localnet import LocalNet
from crossforce.testkit.matcherdb import MatcherDb

from .conftest import WHY

HELD = Record(record_id="HUM-42", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
HELD_AT_KENT = Record(
    record_id="KEN-9", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04"
)
CHILD_RISK = Record(record_id="HUM-77", given_names="Dorian", surname="Fenwick", date_of_birth="1966-02-11")
URGENT_WHY = Justification(
    purpose="safeguarding-referral",
    legal_basis="Children Act 2004 s11",
    case_reference="SG-2026-0042",
    officer_id="DBS-4411",
)


def run(args: Sequence[object], *, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"crossforce {' '.join(map(str, args))} failed:\n{result.output}"
    return result


def profile(net: LocalNet, org: str) -> Path:
    return net.profiles[org].path


def two_requests(net: LocalNet) -> tuple[str, str]:
    """One check by the vetting body that hits at Humberside and Kent: (humberside's id, kent's id)."""
    with net.client("humberside", Role.FORCE_SYSTEM) as c:
        c.publish_records([HELD, CHILD_RISK])
    with net.client("kent", Role.FORCE_SYSTEM) as c:
        c.publish_records([HELD_AT_KENT])
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        report = c.check(HELD, WHY, open_requests=True)
    ids = {h.org: h.request_id for h in report.hits}
    assert set(ids) == {"humberside", "kent"} and all(ids.values())
    return ids["humberside"], ids["kent"]


def rename_request(net: LocalNet, old: str, new: str) -> None:
    """Give a stored request another id (to make two ids share a prefix, which random ids rarely do)."""
    MatcherDb.of(net).execute("UPDATE requests SET request_id = ? WHERE request_id = ?", (new, old))


def decide(net: LocalNet, hum_id: str, kent_id: str) -> None:
    """Humberside approves its request; Kent refuses its own."""
    for org, rid in (("humberside", hum_id), ("kent", kent_id)):
        with net.client(org, Role.FORCE_SYSTEM) as system:
            assert system.resolve(rid).confirmed
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        payload = sealed.DisclosurePayload(summary="Caution 2011", records=(), point_of_contact="HUM DU")
        officer.approve(hum_id, payload, officer_id="HUM-DO-1")
    with net.client("kent", Role.DISCLOSURE_OFFICER) as officer:
        officer.refuse(kent_id, RefusalReason.LEGAL_RESTRICTION, officer_id="KEN-DO-7")


# ------------------------------------------------------------------ request-id prefixes
def test_typing_a_full_request_id_is_no_longer_needed(net: LocalNet) -> None:
    hum_id, _ = two_requests(net)
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        assert desk.get_request(hum_id[:6]).request_id == hum_id
        assert desk.get_request(hum_id[:12].upper()).request_id == hum_id
        resolved = desk.resolve(hum_id[:8])
        assert resolved.confirmed and resolved.request.request_id == hum_id
    # The CLI takes the 12 characters lists show, end to end through approval.
    hum = profile(net, "humberside")
    shown = json.loads(run(["desk", "show", hum_id[:12], "--profile", hum, "--json"]).stdout)
    assert shown["request"]["request_id"] == hum_id
    approved = run([
        "desk", "approve", hum_id[:12], "--profile", hum, "--officer", "HUM-DO-1",
        "--summary", "Caution 2011", "--contact", "HUM DU", "--json",
    ])  # fmt: skip
    assert json.loads(approved.stdout)["request"]["state"] == "approved"
    opened = json.loads(
        run(["disclosures", "open", hum_id[:7], "--profile", profile(net, "dbs"), "--json"]).stdout
    )
    assert opened["request_id"] == hum_id and opened["summary"] == "Caution 2011"
    shown = json.loads(
        run(["disclosures", "show", hum_id[:9], "--profile", profile(net, "dbs"), "--json"]).stdout
    )
    assert (shown["request_id"], shown["state"]) == (hum_id, "delivered")
    assert hum_id in run(["disclosures", "show", hum_id[:9], "--profile", profile(net, "dbs")]).output


def test_prefix_matching_no_request_is_not_found_and_names_the_prefix(net: LocalNet) -> None:
    hum_id, _ = two_requests(net)
    absent = next(p for p in ("000000", "ffffff", "123456") if not hum_id.startswith(p))
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk, pytest.raises(NotFoundError) as info:
        desk.get_request(absent)
    assert absent in str(info.value)
    result = run(["desk", "show", absent, "--profile", profile(net, "humberside")], ok=False)
    assert result.exit_code == ExitStatus.BAD_INPUT and absent in result.stderr


def test_too_short_prefix_is_refused_before_any_lookup(net: LocalNet) -> None:
    hum_id, _ = two_requests(net)
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk, pytest.raises(ValidationError) as info:
        desk.get_request(hum_id[:5])
    assert "at least 6 hex characters" in str(info.value)


def test_ambiguous_prefix_lists_the_candidates(net: LocalNet) -> None:
    hum_id, kent_id = two_requests(net)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        second = dbs.check(HELD, WHY, open_requests=True)
    hum_again = next(h.request_id for h in second.hits if h.org == "humberside")
    rename_request(net, hum_id, "abcdef01" + hum_id[8:])
    rename_request(net, hum_again, "abcdef02" + hum_again[8:])
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        with pytest.raises(ValidationError) as info:
            desk.get_request("abcdef")
        said = str(info.value)
        assert "ambiguous" in said and "abcdef01" in said and "abcdef02" in said
        assert desk.get_request("abcdef02").request_id == "abcdef02" + hum_again[8:]  # longer: unique
    result = run(["desk", "show", "abcdef", "--profile", profile(net, "humberside"), "--json"], ok=False)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "abcdef01" in json.loads(result.stdout)["error"]["message"]
    del kent_id


def test_prefix_never_reveals_another_organisations_request(net: LocalNet) -> None:
    hum_id, kent_id = two_requests(net)
    # Kent's request shares Humberside's prefix: Humberside still resolves it to its own, unambiguously,
    # and never hears of Kent's.
    rename_request(net, hum_id, "c0ffee01" + hum_id[8:])
    rename_request(net, kent_id, "c0ffee02" + kent_id[8:])
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        assert desk.get_request("c0ffee").request_id.startswith("c0ffee01")
    # A third force asking for either prefix hears exactly what it hears for a prefix nobody has.
    with net.client("dyfed-powys", Role.DISCLOSURE_OFFICER) as other:
        answers = []
        for prefix in ("c0ffee01", "c0ffee", "decade"):
            with pytest.raises(NotFoundError) as info:
                other.get_request(prefix)
            answers.append(str(info.value).replace(prefix, "<prefix>"))
        assert len(set(answers)) == 1, answers
        with pytest.raises(NotFoundError):
            other.refuse("c0ffee02", RefusalReason.OTHER, officer_id="DP-1")
    with net.client("kent", Role.DISCLOSURE_OFFICER) as desk:
        assert desk.get_request("c0ffee").holder_org == "kent"


# ------------------------------------------------------------------ deadline order and marks
def test_desk_list_is_in_deadline_order_with_urgent_and_overdue_marked(net: LocalNet) -> None:
    hum_id, _ = two_requests(net)  # school-staff-vetting: 14 days
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        report = dbs.check(CHILD_RISK, URGENT_WHY, open_requests=True)  # opened later, due in 2 days
    urgent_id = report.hits[0].request_id
    hum = profile(net, "humberside")

    listed = json.loads(run(["desk", "list", "--profile", hum, "--json"]).stdout)
    assert [r["request_id"] for r in listed] == [urgent_id, hum_id]  # not creation order
    assert [(r["urgent"], r["overdue"]) for r in listed] == [(True, False), (False, False)]
    assert listed[0]["deadline"].endswith("Z") and listed[0]["deadline"] < listed[1]["deadline"]
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        assert [r.request_id for r in desk.list_requests(as_holder=True)] == [urgent_id, hum_id]

    net.running_server.set_clock(lambda: now_ms() + 3 * DAY_MS)  # the urgent one is now overdue
    listed = json.loads(run(["desk", "list", "--profile", hum, "--json"]).stdout)
    assert [(r["urgent"], r["overdue"]) for r in listed] == [(True, True), (False, False)]
    table = run(["desk", "list", "--profile", hum]).output
    assert table.index(urgent_id[:12]) < table.index(hum_id[:12])
    assert "URGENT" in table and "OVERDUE" in table and "1 urgent, 1 overdue" in table

    mine = json.loads(run(["disclosures", "list", "--profile", profile(net, "dbs"), "--json"]).stdout)
    assert mine[0]["request_id"] == urgent_id and mine[0]["urgent"] is True
    assert [r["deadline"] for r in mine] == sorted(r["deadline"] for r in mine)


# ------------------------------------------------------------------ watch streams
def test_requester_watch_receives_each_decision_without_tokens(net: LocalNet) -> None:
    hum_id, kent_id = two_requests(net)
    decide(net, hum_id, kent_id)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        events = list(dbs.watch_requests(as_holder=False, timeout=1.5))
    states = {r.request_id: r.state for r in events}
    assert states == {hum_id: RequestState.APPROVED, kent_id: RequestState.REFUSED}
    assert all(r.matched_tokens == () for r in events)
    # A force that opened none of them watches as a requester and sees none of them.
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        assert list(kent.watch_requests(as_holder=False, timeout=1.0)) == []


def test_watching_as_a_party_the_role_cannot_be_is_refused(net: LocalNet) -> None:
    with net.client("dbs", Role.VETTING_OFFICER) as dbs, pytest.raises(PermissionDeniedError) as info:
        list(dbs.watch_requests(as_holder=True, timeout=5))
    assert "may not watch requests as holder" in str(info.value)
    with net.client("kent", Role.DISCLOSURE_OFFICER) as officer, pytest.raises(PermissionDeniedError):
        list(officer.watch_requests(as_holder=False, timeout=5))


def test_requester_watch_streams_decisions_as_json_lines_as_they_are_made(net: LocalNet) -> None:
    hum_id, kent_id = two_requests(net)
    for org, rid in (("humberside", hum_id), ("kent", kent_id)):
        with net.client(org, Role.FORCE_SYSTEM) as system:
            system.resolve(rid)
    exe = shutil.which("crossforce", path=str(Path(sys.executable).parent))
    assert exe is not None
    args = [exe, "disclosures", "watch", "--profile", str(profile(net, "dbs")), "--json"]
    args += ["--state", "approved", "--state", "refused", "--count", "2", "--duration", "120"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
                payload = sealed.DisclosurePayload(summary="x", records=(), point_of_contact="y")
                officer.approve(hum_id, payload, officer_id="HUM-DO-1")
            first = json.loads(proc.stdout.readline())  # written and flushed before Kent decides
            with net.client("kent", Role.DISCLOSURE_OFFICER) as officer:
                officer.refuse(kent_id, RefusalReason.LEGAL_RESTRICTION, officer_id="KEN-DO-7")
            second = json.loads(proc.stdout.readline())
            rest = proc.stdout.read()
            assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            proc.kill()
    assert (first["request_id"], first["state"], first["outcome"]) == (hum_id, "approved", "approved")
    assert (second["request_id"], second["state"]) == (kent_id, "refused")
    assert second["refusal_reason"] == "legal-restriction" and second["holder_org"] == "kent"
    assert {"urgent", "overdue", "deadline", "short_id"} <= set(first)
    assert rest == ""  # --count 2: nothing else, not even a summary line, on stdout


def test_desk_watch_json_is_one_object_per_request(net: LocalNet) -> None:
    hum_id, _ = two_requests(net)
    hum = profile(net, "humberside")
    out = run(["desk", "watch", "--profile", hum, "--json", "--count", "1", "--duration", "30", "--resolve"])
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["request_id"] == hum_id and event["state"] == "open" and event["resolved"] == "confirmed"
    assert event["deadline"].endswith("Z") and event["urgent"] is False
    human = run(
        ["desk", "watch", "--profile", hum, "--state", "confirmed", "--count", "1", "--duration", "30"]
    )
    assert hum_id[:12] in human.output and "1 request(s) seen" in human.output


def test_watch_backlog_larger_than_a_page_arrives_whole_and_once(net: LocalNet) -> None:
    """The feed pages through the backlog (a full page is followed at once) and re-reads its window
    without sending anything twice."""
    net.stop_server()
    small = dataclasses.replace(DEFAULT_LIMITS, max_list_results=2)
    net.start_server(settings=ServerSettings(expected_forces=(), limits=small))
    with net.client("humberside", Role.FORCE_SYSTEM) as c:
        c.publish_records([HELD])
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        opened = [dbs.check(HELD, WHY, open_requests=True).hits[0].request_id for _ in range(5)]
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        seen = [r.request_id for r in desk.watch_requests(timeout=2.5)]
    assert sorted(seen) == sorted(opened)  # all five, each once, though a page holds two
