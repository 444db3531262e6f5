"""The demo's story: the whole service on one machine, with real certificates, mTLS and storage.

It stands on ``LocalNet`` (PKI, a matcher on 127.0.0.1, profile folders) and the ``ForceSimulator``
(synthetic records for the 43 forces; no real person's data; the cast is in ``demo_cast``) and drives
the same SDK the CLI commands use. Each step shows what it proved, and checks it: a step that does not
prove what it claims raises ``VerificationError``, so ``crossforce demo`` exits non-zero rather than
tell a story that did not happen.

The story knows nothing of terminals: it reports through a ``DemoView`` that the caller supplies (the
CLI's ``demo`` command renders it with rich), so the test kit imports nothing from the CLI.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from crossforce.auditlog import merkle
from crossforce.auditlog.events import (
    AuditEvent,
    DisclosureTransition,
    EventKind,
    PublishAccepted,
    Registration,
)
from crossforce.auditlog.logkey import PUBLISHED_LOG_KEY_FILE
from crossforce.auditlog.verify import LogSnapshot, filter_events, verify_snapshot
from crossforce.client.sdk import Client
from crossforce.client.truststore import pin_published_log_key, read_published_log_key
from crossforce.client.witness import Witness, WitnessKey
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.domain import RefusalReason, RequestState, Role, SignedTreeHead
from crossforce.encoding.records import payload_fields
from crossforce.errors import CrossforceError, VerificationError
from crossforce.forces import all_forces
from crossforce.testkit.demo_cast import (
    CANDIDATE,
    FORCE_A,
    FORCE_B,
    NOBODY,
    OFFICER_A,
    OFFICER_B,
    PLAINTEXT_PROBES,
    VETTING_BODY,
    VETTING_NAME,
    WHY,
    publish_all,
)
from crossforce.testkit.localnet import FORCE_ROLES, OVERSEER, VETTING_ROLES, LocalNet

MIN_TRANSITIONS_LOGGED = 7
"""The story's two requests: opened, confirmed, approved, delivered at one force (4 transitions);
opened, confirmed, refused at the other (3)."""


class DemoView(Protocol):
    """How the story shows itself. Markup in ``say`` and ``proved`` lines is rich console markup."""

    def begin(self, number: int, what: str) -> None: ...
    def proved(self, number: int, title: str, lines: Sequence[str], seconds: float) -> None: ...
    def say(self, markup: str) -> None: ...
    def hits(self, hits: Sequence[Any]) -> None: ...
    def requests(self, requests: Sequence[Any]) -> None: ...
    def records(self, rows: Sequence[Mapping[str, str]], title: str) -> None: ...
    def events(self, rows: Sequence[tuple[int, AuditEvent]]) -> None: ...
    def progress(self, description: str, total: float) -> AbstractContextManager[Callable[[float], None]]: ...
    def force_name(self, code: str) -> str: ...
    def key_type_names(self, codes: Sequence[int]) -> list[str]: ...
    def outcome_name(self, request: Any) -> str: ...
    def answer(self, report: Any) -> Sequence[str]:
        """A check's answer as markup lines, worded by the CLI's one function for it (``check_answer``):
        the story never spells "nothing known" itself, so it can never say it of an incomplete search."""
        ...

    def size(self, n: int) -> str: ...


@dataclass
class Story:
    view: DemoView
    started: float
    step_no: int = 0
    step_started: float = 0.0

    def begin(self, what: str) -> None:
        self.step_no += 1
        self.step_started = time.perf_counter()
        self.view.begin(self.step_no, what)

    def proved(self, title: str, lines: Sequence[str]) -> None:
        self.view.proved(self.step_no, title, lines, time.perf_counter() - self.step_started)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationError(f"demo check failed: {message}")


def _scan_for_plaintext(folder: Path) -> int:
    """How many times any of the person's name or date bytes occur in the matcher's files."""
    found = 0
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += sum(data.count(p) for p in PLAINTEXT_PROBES)
    return found


def run_demo(root: Path, *, total: int, workers: int, view: DemoView) -> None:
    """Build a deployment in ``root`` (kept afterwards: the caller owns the folder) and tell the story."""
    story = Story(view=view, started=time.perf_counter())
    forces = all_forces()

    # 1 ---------------------------------------------------------------------------------------
    story.begin("Stand up a deployment")
    net = LocalNet.create(root, name="crossforce-demo")
    from crossforce.server import ServerSettings  # imported only where a matcher runs (as LocalNet does)

    witness = WitnessKey.generate(f"witness.{FORCE_B}.example/1")  # one witness, run by a force
    net.start_server(settings=ServerSettings(expected_forces=(), witnesses=(witness.verifier.vkey,)))
    try:
        _story(story, net, forces=[f.code for f in forces], total=total, workers=workers, witness=witness)
    finally:
        net.stop_server()


def _story(
    story: Story, net: LocalNet, *, forces: list[str], total: int, workers: int, witness: WitnessKey
) -> None:
    view = story.view
    story.proved(
        "A deployment: certificate authority, matcher, network secret",
        [
            f"a certificate authority and a server certificate were made in {net.pki.path}; the "
            f"matcher serves from {net.server_pki_dir}, which holds no CA key (`pki export-server`)",
            f"the matcher listens on {net.address} and accepts only mutual TLS "
            "from that CA's client certificates",
            "a network secret (epoch 1) was made for the forces; the matcher never receives it",
        ],
    )

    # 2 ---------------------------------------------------------------------------------------
    story.begin("Enrol 43 forces and a national vetting body")
    names = {f.code: f.name for f in all_forces()}
    for code in forces:
        net.add_org(code, display_name=names[code], roles=FORCE_ROLES)
    net.add_org(VETTING_BODY, display_name=VETTING_NAME, roles=VETTING_ROLES)
    net.add_overseer()  # the operator's own auditor: the only one that reads every organisation's entries
    net.register_all()
    with net.client(VETTING_BODY, Role.FORCE_SYSTEM) as dbs_sys:
        first_head = dbs_sys.tree_head()
        a_keys = dbs_sys.organisation_keys(FORCE_A)
        b_keys = dbs_sys.organisation_keys(FORCE_B)
        st = dbs_sys.status()
    certs = len(net.pki.issued())
    _require(len(st.registered_orgs) == len(forces) + 1, "every organisation is registered")
    story.proved(
        "Enrolled with real certificates; public keys logged",
        [
            f"{len(forces)} forces (from {names[forces[0]]} to {names[forces[-1]]}) and the {VETTING_NAME} "
            f"enrolled: {certs} client certificates, one per organisation and role",
            f"{len(st.registered_orgs)} organisations registered their Ed25519 signing and X25519 box keys; "
            f"each registration is an audit log entry (e.g. {FORCE_A} at entry {a_keys.log_index}, "
            f"{FORCE_B} at {b_keys.log_index}), verified by inclusion proof when {VETTING_BODY} pinned them",
            f"{VETTING_BODY} kept the signed tree head of size {first_head.head.tree_size} "
            "to hold the matcher to later",
        ],
    )

    # 3 ---------------------------------------------------------------------------------------
    story.begin(f"Every force publishes its index ({total:,} simulated records)")
    results = publish_all(net, forces, total, workers, view.progress)
    by_org = {r.org: r for r in results}
    records = sum(r.record_count for r in results)
    tokens = sum(r.token_count for r in results)
    index_bytes = sum(r.index_bytes for r in results)
    with net.client(VETTING_BODY, Role.VETTING_OFFICER) as vo:
        st = vo.status()
    live = [s for s in st.indexes if not s.stale]
    _require(len(live) == len(forces), f"all {len(forces)} indexes are live (got {len(live)})")
    biggest = max(results, key=lambda r: r.record_count)
    story.proved(
        "43 indexes published; raw records stayed at each force",
        [
            f"{records:,} records became {tokens:,} keyed-hash tokens "
            f"and {view.size(index_bytes)} of Bloom filters",
            f"largest: {view.force_name(biggest.org)} {biggest.record_count:,} records; "
            f"{view.force_name(FORCE_A)} {by_org[FORCE_A].record_count:,}; "
            f"{view.force_name(FORCE_B)} {by_org[FORCE_B].record_count:,}",
            "each index header was signed by its force and checked by the matcher "
            "(version, digest, fill ratio)",
            "each force kept a local token store mapping tokens back to its own records",
        ],
    )

    # 4 ---------------------------------------------------------------------------------------
    story.begin("A vetting check for a school post")
    view.say(
        f"{VETTING_NAME} officer {WHY.officer_id} checks applicant "
        f"[bold]{CANDIDATE.given_names} {CANDIDATE.surname}[/], born {CANDIDATE.date_of_birth}, "
        f"previously [bold]{CANDIDATE.previous_names[0]}[/] (a fictional person), purpose {WHY.purpose}"
    )
    with net.client(VETTING_BODY, Role.VETTING_OFFICER) as vo:
        report = vo.check(CANDIDATE, WHY, open_requests=True)
        clear = vo.check(
            NOBODY, dataclasses.replace(WHY, case_reference="DBS-APP-2026-004418"), open_requests=True
        )
    for line in view.answer(report):
        view.say(line)
    view.hits(report.hits)
    view.say(f"second applicant {NOBODY.given_names} {NOBODY.surname}: " + " ".join(view.answer(clear)))
    hits = {h.org: h for h in report.hits}
    _require(FORCE_A in hits and FORCE_B in hits, f"the applicant is found at {FORCE_A} and {FORCE_B}")
    _require(report.complete, f"the applicant's check searched all {len(forces)} forces")
    _require(clear.complete and clear.no_trace, "the second applicant has no trace at any expected force")
    req_a, req_b = hits[FORCE_A].request_id, hits[FORCE_B].request_id
    _require(bool(req_a and req_b), "disclosure requests were opened for both hits")
    leaked = _scan_for_plaintext(net.root / "matcher")
    _require(leaked == 0, "no name or date of birth is in the matcher's storage")
    story.proved(
        "Found at both forces from tokens alone; a clean applicant shows no trace",
        [
            f"{view.force_name(FORCE_A)}: {hits[FORCE_A].strength_name} hit (probability "
            f"{hits[FORCE_A].probability:.4f}) on {', '.join(view.key_type_names(hits[FORCE_A].key_types))} "
            "(held under her previous name)",
            f"{view.force_name(FORCE_B)}: {hits[FORCE_B].strength_name} hit (probability "
            f"{hits[FORCE_B].probability:.4f}) on {', '.join(view.key_type_names(hits[FORCE_B].key_types))} "
            "(forename misspelt at the force)",
            f"disclosure requests opened: {req_a} ({FORCE_A}), {req_b} ({FORCE_B})",
            f"the other applicant: {' '.join(view.answer(clear))}",
            "the matcher's storage was searched for the applicant's names and date of birth: 0 occurrences",
        ],
    )

    # 5 ---------------------------------------------------------------------------------------
    story.begin(f"{view.force_name(FORCE_A)}: confirm locally, approve a disclosure")
    with net.client(FORCE_A, Role.DISCLOSURE_OFFICER) as do_a:
        mine = do_a.list_requests(as_holder=True, states=[RequestState.OPEN])
        _require(any(r.request_id == req_a for r in mine), f"{FORCE_A} sees the open request")
        resolution = do_a.resolve(req_a)
        _require(resolution.confirmed, f"{FORCE_A}'s token store resolves the request to a record")
        rows = [payload_fields(r) for r in resolution.records]
        view.records(rows, f"{FORCE_A}'s own record(s) the matched tokens resolve to")
        payload = DisclosurePayload(
            summary=(
                "Held under a previous name. Caution 2009 for an offence relevant to work with children; "
                "disclosed for an enhanced certificate at the chief officer's discretion."
            ),
            records=tuple(rows),
            point_of_contact="Humberside Police Disclosure Unit (fictional contact, demo only)",
        )
        approved = do_a.approve(req_a, payload, officer_id=OFFICER_A)
    _require(approved.state == RequestState.APPROVED, "the request is approved")
    story.proved(
        "Confirmed against the force's own records and approved",
        [
            f"the request carried only tokens; {FORCE_A}'s token store resolved them to "
            f"{', '.join(r.record_id for r in resolution.records)} (open -> confirmed)",
            f"disclosure officer {OFFICER_A} approved: the payload was signed "
            f"with {FORCE_A}'s Ed25519 key and "
            f"encrypted to {VETTING_BODY}'s registered box key (confirmed -> approved)",
            "the matcher stores and relays only the ciphertext and its digest",
        ],
    )

    # 6 ---------------------------------------------------------------------------------------
    story.begin(f"{view.force_name(FORCE_B)}: confirm locally, refuse with a reason")
    with net.client(FORCE_B, Role.DISCLOSURE_OFFICER) as do_b:
        resolution_b = do_b.resolve(req_b)
        _require(resolution_b.confirmed, f"{FORCE_B}'s token store resolves the request to a record")
        refused = do_b.refuse(req_b, RefusalReason.LEGAL_RESTRICTION, officer_id=OFFICER_B)
    _require(refused.state == RequestState.REFUSED, "the request is refused")
    story.proved(
        "Refused: nothing disclosed, reason recorded",
        [
            f"{FORCE_B} resolved the tokens to {', '.join(r.record_id for r in resolution_b.records)} "
            "(open -> confirmed)",
            f"disclosure officer {OFFICER_B} refused: legal-restriction (e.g. a live prosecution); "
            "no payload was ever produced (confirmed -> refused)",
        ],
    )

    # 7 ---------------------------------------------------------------------------------------
    story.begin(f"{VETTING_NAME}: collect the outcomes")
    with net.client(VETTING_BODY, Role.VETTING_OFFICER) as vo:
        outcomes = [
            r
            for r in vo.list_requests(as_holder=False)
            if r.justification.case_reference == WHY.case_reference
        ]
        view.requests(outcomes)
        opened = vo.fetch_disclosure(req_a)
        refused_view = vo.get_request(req_b)
        try:
            vo.fetch_disclosure(req_b)
            refused_fetch = "fetched (unexpected)"
        except CrossforceError as exc:
            refused_fetch = f"refused by the matcher ({type(exc).__name__})"
    view.records(opened.records, f"disclosure from {view.force_name(FORCE_A)} (decrypted locally)")
    view.say(f"summary: {opened.summary}\ncontact: {opened.point_of_contact}")
    _require(
        len(opened.records) == 1 and opened.records[0].get("surname") == "Gatcombe", "the disclosure opens"
    )
    _require(refused_view.state == RequestState.REFUSED, "the requester sees the refusal")
    story.proved(
        "One approved disclosure opened and verified; one refusal",
        [
            f"{FORCE_A}: approved -> fetched, decrypted with {VETTING_BODY}'s box key, "
            "signature checked against "
            f"{FORCE_A}'s pinned signing key, bound to this request and both parties (approved -> delivered)",
            f"{FORCE_B}: {view.outcome_name(refused_view)}; fetching a disclosure for it is {refused_fetch}",
        ],
    )

    # 8 ---------------------------------------------------------------------------------------
    story.begin("Audit: the log holds every step and has not been rewritten")
    with net.client(OVERSEER, Role.AUDITOR) as aud:
        snap = _snapshot(aud, previous=first_head)
        proved = verify_snapshot(snap, aud.log_key())
        proof = aud.consistency_proof(first_head.head.tree_size, snap.head.head.tree_size)
        merkle.verify_consistency(
            first_head.head.tree_size,
            snap.head.head.tree_size,
            first_head.head.root_hash,
            snap.head.head.root_hash,
            list(proof.hashes),
        )
        events = snap.events()
        story_events = filter_events(events, case_ref=WHY.case_reference)
        story_events += filter_events(events, request_id=req_a) + filter_events(events, request_id=req_b)
        story_events += [
            (i, e)
            for i, e in events
            if isinstance(e, Registration | PublishAccepted)
            and e.kind in (EventKind.REGISTRATION, EventKind.PUBLISH_ACCEPTED)
            and e.org in (FORCE_A, FORCE_B, VETTING_BODY)
        ]
        story_events = sorted(dict(story_events).items())
        for i, _e in story_events:
            aud.inclusion(i)
    witnessed = _witness_and_check_quorum(net, witness)
    view.events(story_events)
    transitions = [e for _i, e in story_events if isinstance(e, DisclosureTransition)]
    _require(len(transitions) >= MIN_TRANSITIONS_LOGGED, "every disclosure state change is logged")
    story.proved(
        "The audit log verifies",
        [
            *proved[:3],
            f"consistency proof from the head kept at enrolment (size {first_head.head.tree_size}) to "
            f"size {snap.head.head.tree_size} verified, and the first {first_head.head.tree_size} leaves "
            "still hash to that head",
            f"inclusion proofs verified for all {len(story_events)} events of the story: registrations, "
            f"publishes, the check and {len(transitions)} disclosure state changes",
            f"`crossforce audit report --case-ref {WHY.case_reference}` "
            "answers who checked this applicant and why",
            witnessed,
        ],
    )


def _witness_and_check_quorum(net: LocalNet, witness: WitnessKey) -> str:
    """One witness round (run by a force), then the vetting body's auditor pins the operator's published
    file (log key, witness, quorum) and accepts the verified head only with the witness's cosignature."""
    published = net.root / "matcher" / PUBLISHED_LOG_KEY_FILE
    log_key = read_published_log_key(published)
    with net.client(FORCE_B, Role.FORCE_SYSTEM) as host:
        done = Witness(
            connection=host.connection, key=witness, log_key=log_key, state_path=net.root / "witness.state"
        ).round()
    pin_published_log_key(net.profiles[VETTING_BODY].trust_store(), published)
    with net.client(VETTING_BODY, Role.AUDITOR) as aud:
        result = aud.verify_log()
    got = result.witnessed
    _require(got is not None and got.cosigners == (witness.verifier.name,), "the head is witnessed")
    return (
        f"witness {witness.verifier.name} (run by {FORCE_B}) verified the C2SP checkpoint of "
        f"{done.checkpoint.tree_size} entries and cosigned it; {VETTING_BODY} accepted its head only with "
        "that quorum (1 of 1), so a history shown only to it would have raised the alarm"
    )


def _snapshot(aud: Client, *, previous: SignedTreeHead) -> LogSnapshot:
    """The whole log as the auditor may read it, under a freshly fetched (and checked) signed head, with
    ``previous`` (a head seen earlier) to check it against."""
    head = aud.tree_head()
    rows = ((int(e.index), bytes(e.leaf_hash), bytes(e.entry)) for e in aud.entries(0, head.head.tree_size))
    return LogSnapshot.collect(head=head, log_key=aud.log_key(), entries=rows, previous=previous)
