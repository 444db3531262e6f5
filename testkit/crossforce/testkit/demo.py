"""``crossforce demo``: the whole story on one machine, with real certificates, real mTLS and real storage.

It stands on ``LocalNet`` (PKI, a matcher on 127.0.0.1, profile folders) and the ``ForceSimulator``
(synthetic records for the 43 forces; no real person's data) and drives the same SDK the CLI commands
use. Each step prints a numbered panel saying what it proved, and checks it: a step that does not
prove what it claims raises, so the demo exits non-zero rather than tell a story that did not happen.

The person at the centre of the story is fictional.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from crossforce.auditlog import merkle
from crossforce.auditlog.events import EventKind
from crossforce.cli.audit import fetch_snapshot, filter_events, verify_snapshot
from crossforce.cli.render import (
    events_table,
    force_name,
    hits_table,
    key_type_names,
    make_console,
    outcome_name,
    progress_bar,
    record_fields,
    records_table,
    requests_table,
    size,
    step_panel,
)
from crossforce.client.profile import Profile
from crossforce.client.sdk import Client, PublishResult, Why
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.encoding.records import Record
from crossforce.errors import CrossforceError, VerificationError
from crossforce.forces import all_forces
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.v1 import crossforce_pb2 as pb

DEFAULT_TOTAL = 200_000
SEED = 20260301
VETTING_BODY = "dbs"
VETTING_NAME = "Disclosure and Barring Service"
FORCE_A = "humberside"
FORCE_B = "kent"

# A fictional person: known to the vetting body by her married name, held at Humberside under her
# previous (maiden) name and at Kent with her forename misspelt.
CANDIDATE = Record(
    record_id="APPLICANT-1",
    given_names="Rowena Alys",
    surname="Pendleford",
    date_of_birth="1986-04-09",
    sex="F",
    previous_names=("Rowena Gatcombe",),
)
HELD_AT_A = Record(
    record_id="planted",
    given_names="Rowena",
    surname="Gatcombe",
    date_of_birth="1986-04-09",
    sex="F",
    postcode="HU5 3QT",
)
HELD_AT_B = Record(
    record_id="planted",
    given_names="Rowenna",
    surname="Pendleford",
    date_of_birth="1986-04-09",
    sex="F",
    postcode="CT1 2NB",
)
NOBODY = Record(
    record_id="APPLICANT-2", given_names="Peregrine", surname="Quillfeather", date_of_birth="1990-02-14"
)
WHY = Why(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B (enhanced criminal record certificate)",
    case_reference="DBS-APP-2026-004417",
    officer_id="DBS-VO-2291",
)
OFFICER_A = "HUM-DO-0412"
OFFICER_B = "KEN-DO-1187"
PLAINTEXT_PROBES = (b"Pendleford", b"Gatcombe", b"Rowena", b"1986-04-09")


# ------------------------------------------------------------------------------------------ simulation


def make_simulator(total: int) -> object:
    """The seeded simulator with the story's person planted at two forces (one record each)."""
    from crossforce.testkit.simulate import ForceSimulator

    sim = ForceSimulator(SEED, total)
    sim.plant(HELD_AT_A, [FORCE_A])
    sim.plant(HELD_AT_B, [FORCE_B])
    return sim


_WORKER_SIM: object | None = None


def _init_worker(total: int) -> None:
    global _WORKER_SIM  # noqa: PLW0603 - one simulator per worker process, built once
    _WORKER_SIM = make_simulator(total)


def _records_for(sim: object, code: str) -> list[Record]:
    records: list[Record] = sim.records_for(code)  # type: ignore[attr-defined]
    return records


def publish_force(
    profile_dir: Path, code: str, sim: object | None = None, ticks: Any = None
) -> PublishResult:
    """Simulate one force's records, encode them, keep the token store, publish the index.

    ``ticks`` (a queue, or None) receives how many more records have been encoded, for the progress bar.
    """
    records = _records_for(sim if sim is not None else _WORKER_SIM, code)
    sent = 0

    def progress(done: int, _total: int) -> None:
        nonlocal sent
        if ticks is not None and done > sent:
            ticks.put(done - sent)
            sent = done

    with Client(Profile.load(profile_dir), role="force-system") as client:
        return client.publish_records(records, expires_in_days=7, progress=progress)


def publish_all(
    net: LocalNet, codes: Sequence[str], total: int, workers: int, console: Console
) -> list[PublishResult]:
    """Publish every force with a progress bar; forces are independent, so use several processes.

    A record counts half when it is encoded and half when its force's index is stored and published
    (the token store and upload take about as long as encoding).
    """
    from crossforce.forces import sizes_for_total

    sizes = sizes_for_total(total)
    results: list[PublishResult] = []
    with progress_bar(console) as bar:
        task = bar.add_task(
            f"simulating, encoding and publishing {len(codes)} forces", total=sum(sizes.values())
        )
        if workers <= 1:
            sim = make_simulator(total)
            for code in codes:
                result = publish_force(net.profiles[code].path, code, sim)
                results.append(result)
                bar.update(task, advance=result.record_count)
        else:
            # spawn, not fork: this process runs the matcher's gRPC threads, which must not be forked.
            ctx = multiprocessing.get_context("spawn")
            with (
                ctx.Manager() as manager,
                ProcessPoolExecutor(
                    workers, mp_context=ctx, initializer=_init_worker, initargs=(total,)
                ) as pool,
            ):
                ticks = manager.Queue()
                # Largest first, so the slowest force never starts last.
                order = sorted(codes, key=lambda c: -sizes.get(c, 0))
                pending = {pool.submit(publish_force, net.profiles[c].path, c, None, ticks) for c in order}
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    while not ticks.empty():
                        bar.update(task, advance=ticks.get() / 2)
                    for fut in done:
                        result = fut.result()
                        results.append(result)
                        bar.update(task, advance=result.record_count / 2)
        bar.update(task, completed=bar.tasks[0].total)
    return results


# ------------------------------------------------------------------------------------------ the story


@dataclass
class Story:
    console: Console
    started: float
    step_no: int = 0
    step_started: float = 0.0

    def begin(self, what: str) -> None:
        self.step_no += 1
        self.step_started = time.perf_counter()
        self.console.rule(f"[bold]{self.step_no}. {what}")

    def proved(self, title: str, lines: Sequence[str]) -> None:
        self.console.print(
            step_panel(self.step_no, title, lines, seconds=time.perf_counter() - self.step_started)
        )


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


def run_demo(root: Path, *, total: int, workers: int, console: Console) -> None:
    story = Story(console=console, started=time.perf_counter())
    forces = all_forces()

    # 1 ---------------------------------------------------------------------------------------
    story.begin("Stand up a deployment")
    net = LocalNet.create(root, name="crossforce-demo")
    net.start_server()
    try:
        _story(story, net, forces=[f.code for f in forces], total=total, workers=workers)
    finally:
        net.stop_server()


def _story(story: Story, net: LocalNet, *, forces: list[str], total: int, workers: int) -> None:
    console = story.console
    story.proved(
        "A deployment: certificate authority, matcher, network secret",
        [
            f"a certificate authority and a server certificate were made in {net.pki.path}",
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
    net.register_all()
    with net.client(VETTING_BODY, "force-system") as dbs_sys:
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
    results = publish_all(net, forces, total, workers, console)
    by_org = {r.org: r for r in results}
    records = sum(r.record_count for r in results)
    tokens = sum(r.token_count for r in results)
    index_bytes = sum(r.index_bytes for r in results)
    with net.client(VETTING_BODY, "vetting-officer") as vo:
        st = vo.status()
    live = [s for s in st.indexes if not s.stale]
    _require(len(live) == len(forces), f"all {len(forces)} indexes are live (got {len(live)})")
    biggest = max(results, key=lambda r: r.record_count)
    story.proved(
        "43 indexes published; raw records stayed at each force",
        [
            f"{records:,} records became {tokens:,} keyed-hash tokens "
            f"and {size(index_bytes)} of Bloom filters",
            f"largest: {force_name(biggest.org)} {biggest.record_count:,} records; "
            f"{force_name(FORCE_A)} {by_org[FORCE_A].record_count:,}; "
            f"{force_name(FORCE_B)} {by_org[FORCE_B].record_count:,}",
            "each index header was signed by its force and checked by the matcher "
            "(version, digest, fill ratio)",
            "each force kept a local token store mapping tokens back to its own records",
        ],
    )

    # 4 ---------------------------------------------------------------------------------------
    story.begin("A vetting check for a school post")
    console.print(
        f"{VETTING_NAME} officer {WHY.officer_id} checks applicant "
        f"[bold]{CANDIDATE.given_names} {CANDIDATE.surname}[/], born {CANDIDATE.date_of_birth}, "
        f"previously [bold]{CANDIDATE.previous_names[0]}[/] (a fictional person), purpose {WHY.purpose}"
    )
    with net.client(VETTING_BODY, "vetting-officer") as vo:
        report = vo.check(CANDIDATE, WHY, open_requests=True)
        clear = vo.check(
            NOBODY, dataclasses.replace(WHY, case_reference="DBS-APP-2026-004418"), open_requests=True
        )
    console.print(f"[bold red]POSSIBLE TRACE at {len(report.hits)} of {report.forces_searched} forces[/]")
    console.print(hits_table(report.hits))
    console.print(
        f"second applicant {NOBODY.given_names} {NOBODY.surname}: "
        + (
            f"[bold green]NO TRACE at {clear.forces_searched} forces[/]"
            if clear.no_trace
            else f"{len(clear.hits)} hits"
        )
    )
    hits = {h.org: h for h in report.hits}
    _require(FORCE_A in hits and FORCE_B in hits, f"the applicant is found at {FORCE_A} and {FORCE_B}")
    _require(clear.no_trace, "the second applicant has no trace")
    req_a, req_b = hits[FORCE_A].request_id, hits[FORCE_B].request_id
    _require(bool(req_a and req_b), "disclosure requests were opened for both hits")
    leaked = _scan_for_plaintext(net.root / "matcher")
    _require(leaked == 0, "no name or date of birth is in the matcher's storage")
    story.proved(
        "Found at both forces from tokens alone; a clean applicant shows no trace",
        [
            f"{force_name(FORCE_A)}: {hits[FORCE_A].strength_name} hit on "
            f"{', '.join(key_type_names(hits[FORCE_A].key_types))} (held under her previous name)",
            f"{force_name(FORCE_B)}: {hits[FORCE_B].strength_name} hit on "
            f"{', '.join(key_type_names(hits[FORCE_B].key_types))} (forename misspelt at the force)",
            f"disclosure requests opened: {req_a} ({FORCE_A}), {req_b} ({FORCE_B})",
            f"the other applicant: NO TRACE at {clear.forces_searched} forces",
            "the matcher's storage was searched for the applicant's names and date of birth: 0 occurrences",
        ],
    )

    # 5 ---------------------------------------------------------------------------------------
    story.begin(f"{force_name(FORCE_A)}: confirm locally, approve a disclosure")
    with net.client(FORCE_A, "disclosure-officer") as do_a:
        mine = do_a.list_requests(as_holder=True, states=[pb.OPEN])
        _require(any(r.request_id == req_a for r in mine), f"{FORCE_A} sees the open request")
        resolution = do_a.resolve(req_a)
        _require(resolution.confirmed, f"{FORCE_A}'s token store resolves the request to a record")
        rows = [record_fields(r) for r in resolution.records]
        console.print(records_table(rows, title=f"{FORCE_A}'s own record(s) the matched tokens resolve to"))
        payload = DisclosurePayload(
            summary=(
                "Held under a previous name. Caution 2009 for an offence relevant to work with children; "
                "disclosed for an enhanced certificate at the chief officer's discretion."
            ),
            records=tuple(rows),
            point_of_contact="Humberside Police Disclosure Unit (fictional contact, demo only)",
        )
        approved = do_a.approve(req_a, payload, officer_id=OFFICER_A)
    _require(approved.state == pb.APPROVED, "the request is approved")
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
    story.begin(f"{force_name(FORCE_B)}: confirm locally, refuse with a reason")
    with net.client(FORCE_B, "disclosure-officer") as do_b:
        resolution_b = do_b.resolve(req_b)
        _require(resolution_b.confirmed, f"{FORCE_B}'s token store resolves the request to a record")
        refused = do_b.refuse(req_b, pb.LEGAL_RESTRICTION, officer_id=OFFICER_B)
    _require(refused.state == pb.REFUSED, "the request is refused")
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
    with net.client(VETTING_BODY, "vetting-officer") as vo:
        outcomes = [
            r
            for r in vo.list_requests(as_holder=False)
            if r.justification.case_reference == WHY.case_reference
        ]
        console.print(requests_table(outcomes, as_holder=False))
        opened = vo.fetch_disclosure(req_a)
        refused_view = vo.get_request(req_b)
        try:
            vo.fetch_disclosure(req_b)
            refused_fetch = "fetched (unexpected)"
        except CrossforceError as exc:
            refused_fetch = f"refused by the matcher ({type(exc).__name__})"
    console.print(
        records_table(opened.records, title=f"disclosure from {force_name(FORCE_A)} (decrypted locally)")
    )
    console.print(f"summary: {opened.summary}\ncontact: {opened.point_of_contact}")
    _require(
        len(opened.records) == 1 and opened.records[0].get("surname") == "Gatcombe", "the disclosure opens"
    )
    _require(refused_view.state == pb.REFUSED, "the requester sees the refusal")
    story.proved(
        "One approved disclosure opened and verified; one refusal",
        [
            f"{FORCE_A}: approved -> fetched, decrypted with {VETTING_BODY}'s box key, "
            "signature checked against "
            f"{FORCE_A}'s pinned signing key, bound to this request and both parties (approved -> delivered)",
            f"{FORCE_B}: {outcome_name(refused_view)}; fetching a disclosure for it is {refused_fetch}",
        ],
    )

    # 8 ---------------------------------------------------------------------------------------
    story.begin("Audit: the log holds every step and has not been rewritten")
    with net.client(VETTING_BODY, "auditor") as aud:
        snap = fetch_snapshot(aud)
        snap.previous = first_head
        proved = verify_snapshot(snap, aud.log_key())
        proof = aud.call(
            aud.audit.GetConsistencyProof,
            pb.GetConsistencyProofRequest(first=first_head.head.tree_size, second=snap.head.head.tree_size),
        )
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
            if e.fields.get("org") in (FORCE_A, FORCE_B, VETTING_BODY)
            and e.kind in (EventKind.REGISTRATION, EventKind.PUBLISH_ACCEPTED)
        ]
        story_events = sorted(dict(story_events).items())
        for i, _e in story_events:
            aud.inclusion(i)
    console.print(events_table(story_events))
    transitions = [e for _i, e in story_events if "state_to" in e.fields]
    _require(len(transitions) >= 7, "every disclosure state change is logged")
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
        ],
    )


@click.command()
@click.option(
    "--records-total",
    default=DEFAULT_TOTAL,
    show_default=True,
    type=click.IntRange(1000),
    help="Simulated records across the 43 forces.",
)
@click.option(
    "--keep",
    "keep_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the deployment in this (new or empty) folder and keep it afterwards.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 32),
    help="Processes for encoding and publishing (default: CPU count, at most 4).",
)
def demo(records_total: int, keep_dir: Path | None, workers: int | None) -> None:
    """Run the whole story on this machine in about a minute, proving each step as it goes.

    A certificate authority, a matcher on 127.0.0.1 with mutual TLS, the 43 forces of England and Wales
    and a national vetting body; simulated records published by every force; a vetting check that
    finds a (fictional) person at two forces; one disclosure approved and opened, one refused; and the
    audit log verified. Nothing needs to be running first.

    \b
    Example:
      crossforce demo
      crossforce demo --records-total 20000 --keep ./demo-net
    """
    console = make_console()
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    started = time.perf_counter()
    with _workspace(keep_dir) as root:
        run_demo(root, total=records_total, workers=workers, console=console)
        seconds = time.perf_counter() - started
        summary = Table.grid(padding=(0, 2))
        summary.add_row(
            "[bold green]DEMO COMPLETE[/]", f"{seconds:.1f} s, {records_total:,} records, {workers} worker(s)"
        )
        if keep_dir is not None:
            summary.add_row("kept in", str(root))
            port = Profile.load(root / "orgs" / VETTING_BODY).server.rsplit(":", 1)[-1]
            summary.add_row(
                "restart", f"crossforce serve --data {root / 'matcher'} --pki {root / 'pki'} --port {port}"
            )
            summary.add_row(
                "then",
                f"crossforce audit report --profile {root / 'orgs' / VETTING_BODY} "
                f"--case-ref {WHY.case_reference}",
            )
        console.print(summary)


@contextlib.contextmanager
def _workspace(keep_dir: Path | None) -> Iterator[Path]:
    if keep_dir is not None:
        if keep_dir.exists() and any(keep_dir.iterdir()):
            raise click.UsageError(f"{keep_dir} is not empty; give a new or empty folder to --keep")
        keep_dir.mkdir(parents=True, exist_ok=True)
        yield keep_dir.resolve()
        return
    tmp = Path(tempfile.mkdtemp(prefix="crossforce-demo-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
