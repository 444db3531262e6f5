"""The demo's world: its fictional people, and every force publishing a simulated index in parallel.

The person at the centre of the story is fictional: known to the vetting body by her married name,
held at Humberside under her previous (maiden) name and at Kent with her forename misspelt. Everyone
else is drawn by the seeded ``ForceSimulator``, so a run is the same on any machine.

Publishing runs one process per worker (``spawn``, never ``fork``: the calling process runs the
matcher's gRPC threads, which must not be forked); each worker builds the simulator once. The workers
are started ignoring Ctrl-C and are terminated when the publish ends for any reason, so a stopped demo
never leaves a worker publishing into a deployment whose folder is gone (issue 15, finding 12).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossforce.client.profile import Profile
from crossforce.client.sdk import Client
from crossforce.domain import Justification, PublishResult, Role
from crossforce.encoding.records import Record
from crossforce.forces import sizes_for_total
from crossforce.testkit.localnet import LocalNet

if TYPE_CHECKING:
    from crossforce.testkit.simulate import ForceSimulator

SEED = 20260301
VETTING_BODY = "dbs"
VETTING_NAME = "Disclosure and Barring Service"
FORCE_A = "humberside"
FORCE_B = "kent"
INDEX_EXPIRY_DAYS = 7
POLL_S = 0.2
"""How often the parent drains workers' progress while it waits for a force to finish."""
WORKER_EXIT_S = 10.0
"""Bound on waiting for each terminated worker to exit."""
PUBLISH_ALL_TIMEOUT_S = 30 * 60.0
"""Bounds the whole parallel publish (about a minute at the default size): a stuck worker fails the demo."""

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
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B (enhanced criminal record certificate)",
    case_reference="DBS-APP-2026-004417",
    officer_id="DBS-VO-2291",
)
OFFICER_A = "HUM-DO-0412"
OFFICER_B = "KEN-DO-1187"
PLAINTEXT_PROBES = (b"Pendleford", b"Gatcombe", b"Rowena", b"1986-04-09")
"""Bytes of the person's names and date of birth that must never appear in the matcher's files."""

Progress = Callable[[str, float], AbstractContextManager[Callable[[float], None]]]
"""``progress(description, total)`` opens a progress display and yields ``advance(amount)``."""


def make_simulator(total: int) -> ForceSimulator:
    """The seeded simulator with the story's person planted at two forces (one record each)."""
    from crossforce.testkit.simulate import ForceSimulator  # numpy: only when the demo runs

    sim = ForceSimulator(SEED, total)
    sim.plant(HELD_AT_A, [FORCE_A])
    sim.plant(HELD_AT_B, [FORCE_B])
    return sim


_WORKER_SIM: ForceSimulator | None = None
_WORKER_TICKS: SimpleQueue[int] | None = None


def _init_worker(total: int, ticks: SimpleQueue[int]) -> None:
    global _WORKER_SIM, _WORKER_TICKS  # noqa: PLW0603 - one simulator and queue per worker process
    _WORKER_SIM = make_simulator(total)
    _WORKER_TICKS = ticks


def _publish_in_worker(profile_dir: Path, code: str) -> PublishResult:
    return publish_force(profile_dir, code, None, _WORKER_TICKS)


def publish_force(
    profile_dir: Path, code: str, sim: ForceSimulator | None = None, ticks: Any = None
) -> PublishResult:
    """Simulate one force's records, encode them, keep the token store, publish the index.

    ``ticks`` (a queue, or None) receives how many more records have been encoded, for the progress bar.
    """
    source = sim if sim is not None else _WORKER_SIM
    if source is None:
        raise RuntimeError("publish_force in a worker needs _init_worker to have run")
    records = source.records_for(code)
    sent = 0

    def progress(done: int, _total: int) -> None:
        nonlocal sent
        if ticks is not None and done > sent:
            ticks.put(done - sent)
            sent = done

    with Client(Profile.load(profile_dir), role=Role.FORCE_SYSTEM) as client:
        return client.publish_records(records, expires_in_days=INDEX_EXPIRY_DAYS, progress=progress)


def publish_all(
    net: LocalNet, codes: Sequence[str], total: int, workers: int, progress: Progress
) -> list[PublishResult]:
    """Publish every force with a progress display; forces are independent, so use several processes.

    A record counts half when it is encoded and half when its force's index is stored and published
    (the token store and upload take about as long as encoding).
    """
    sizes = sizes_for_total(total)
    results: list[PublishResult] = []
    description = f"simulating, encoding and publishing {len(codes)} forces"
    with progress(description, float(sum(sizes.values()))) as advance:
        if workers <= 1:
            sim = make_simulator(total)
            for code in codes:
                result = publish_force(net.profiles[code].path, code, sim)
                results.append(result)
                advance(result.record_count)
            return results
        ctx = multiprocessing.get_context("spawn")
        ticks: SimpleQueue[int] = ctx.SimpleQueue()
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(total, ticks))
        try:
            # Largest first, so the slowest force never starts last. The first submit starts every worker.
            order = sorted(codes, key=lambda c: -sizes.get(c, 0))
            with _ctrl_c_held():
                pending = {pool.submit(_publish_in_worker, net.profiles[c].path, c) for c in order}
            deadline = time.monotonic() + PUBLISH_ALL_TIMEOUT_S
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(pending)} forces did not publish within {PUBLISH_ALL_TIMEOUT_S:.0f} s"
                    )
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                while not ticks.empty():
                    advance(ticks.get() / 2)
                for fut in done:
                    result = fut.result()
                    results.append(result)
                    advance(result.record_count / 2)
        finally:
            _terminate(pool)
    return results


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """SIGINT blocked in this thread while workers start, so they are born with it blocked.

    Why: a terminal's Ctrl-C reaches every process in the foreground group. Workers that took it would
    each print a traceback and die mid-publish; with SIGINT blocked from birth they never act on it,
    and stopping is left to the demo, which terminates them (``_terminate``). Blocked, not ignored: a
    Ctrl-C that lands while the workers start stays pending and reaches the demo when the block ends
    (ignoring it lost it, and the demo ran to the end). Only the main thread handles SIGINT; elsewhere
    the workers start as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now, whether the publish finished, failed or was interrupted.

    Why: ``shutdown`` (and leaving a ``with`` block) waits for every queued force to publish, so a
    stopped demo would first publish the rest into a deployment about to be deleted. The executor has
    no public way to end its workers before Python 3.14 (``terminate_workers``), so this reads its own
    process table.
    """
    processes = list(pool._processes.values()) if pool._processes else []
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(WORKER_EXIT_S)
