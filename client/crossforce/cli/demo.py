"""``crossforce demo``: the test kit's story, rendered with rich in this terminal.

The story itself (``crossforce.testkit.demo``) builds the deployment, drives the SDK and checks every
claim it makes; this module owns only the command line, the working folder and how each step looks.

The test kit (which brings the matcher, ``crossforce-server``) is imported only when the command runs:
a force installs ``crossforce-client`` without the matcher, and every other command must work there;
``crossforce demo`` then says what to install instead of failing at import.

A demo stopped by Ctrl-C or SIGTERM still removes its temporary folder (the CA key, the network secret,
every organisation's keys) and its worker processes: both signals raise in the main thread, so every
``finally`` on the way out runs (issue 15, finding 12).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from crossforce.auditlog.events import AuditEvent
from crossforce.cli.common import json_option
from crossforce.cli.interrupts import INTERRUPTED_EXIT
from crossforce.cli.render import (
    check_answer,
    emit_json,
    force_name,
    key_type_names,
    make_console,
    outcome_name,
    progress_bar,
    size,
    step_panel,
)
from crossforce.cli.tables import events_table, hits_table, records_table, requests_table
from crossforce.client.profile import Profile
from crossforce.errors import PreconditionError

DEFAULT_TOTAL = 200_000
"""Simulated records across the 43 forces unless ``--records-total`` says otherwise."""
MAX_DEFAULT_WORKERS = 4
MIN_RECORDS = 1000
NEEDS_TESTKIT = (
    "crossforce demo needs the test kit, which is not installed here: "
    "pip install crossforce-testkit (it brings the matcher, crossforce-server)"
)
"""The one line ``crossforce demo`` prints where only the client (the SDK and CLI) is installed."""
TESTKIT_PACKAGES = ("crossforce.testkit", "crossforce.server")
"""A missing module under these means the test kit (or the matcher it needs) is not installed."""


class RichDemoView:
    """The story's ``DemoView`` on a rich console: a rule per step, a panel per proof, the CLI's tables."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def begin(self, number: int, what: str) -> None:
        self.console.rule(f"[bold]{number}. {what}")

    def proved(self, number: int, title: str, lines: Sequence[str], seconds: float) -> None:
        self.console.print(step_panel(number, title, lines, seconds=seconds))

    def say(self, markup: str) -> None:
        self.console.print(markup)

    def hits(self, hits: Sequence[Any]) -> None:
        self.console.print(hits_table(hits))

    def requests(self, requests: Sequence[Any]) -> None:
        self.console.print(requests_table(requests, as_holder=False))

    def records(self, rows: Sequence[Mapping[str, str]], title: str) -> None:
        self.console.print(records_table(rows, title=title))

    def events(self, rows: Sequence[tuple[int, AuditEvent]]) -> None:
        self.console.print(events_table(rows))

    @contextlib.contextmanager
    def progress(self, description: str, total: float) -> Iterator[Callable[[float], None]]:
        with progress_bar(self.console) as bar:
            task = bar.add_task(description, total=total)
            yield lambda amount: bar.update(task, advance=amount)
            bar.update(task, completed=total)

    def force_name(self, code: str) -> str:
        return force_name(code)

    def key_type_names(self, codes: Sequence[int]) -> list[str]:
        return key_type_names(codes)

    def outcome_name(self, request: Any) -> str:
        return outcome_name(request)

    def size(self, n: int) -> str:
        return size(n)

    def answer(self, report: Any) -> Sequence[str]:
        return check_answer(report)


@click.command()
@click.option(
    "--records-total",
    default=DEFAULT_TOTAL,
    show_default=True,
    type=click.IntRange(MIN_RECORDS),
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
@json_option
def demo(records_total: int, keep_dir: Path | None, workers: int | None, as_json: bool) -> None:
    """Run the whole story on this machine in about a minute, proving each step as it goes.

    A certificate authority, a matcher on 127.0.0.1 with mutual TLS, the 43 forces of England and Wales
    and a national vetting body; simulated records published by every force; a vetting check that
    finds a (fictional) person at two forces; one disclosure approved and opened, one refused; and the
    audit log verified. Nothing needs to be running first.

    \b
    Example:
      crossforce demo
      crossforce demo --records-total 20000 --keep ./demo-net

    With --json the story goes to stderr and stdout gets one summary: {"complete", "seconds",
    "records", "workers", "kept_in", "restart", "then"} (the last three null without --keep).
    """
    try:  # here, not at the top: a client-only install has no test kit (see the module docstring)
        from crossforce.testkit.demo import run_demo
        from crossforce.testkit.demo_cast import VETTING_BODY, WHY
    except ModuleNotFoundError as exc:
        raise _testkit_missing(exc) from exc
    total = records_total
    console = make_console(stderr=as_json)
    workers = workers or max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))
    started = time.perf_counter()
    with _exit_cleanly_on_stop_signals(), _workspace(keep_dir) as root:
        run_demo(root, total=total, workers=workers, view=RichDemoView(console))
        seconds = time.perf_counter() - started
        kept: dict[str, str | None] = {"kept_in": None, "restart": None, "then": None}
        if keep_dir is not None:
            port = Profile.load(root / "orgs" / VETTING_BODY).server.rsplit(":", 1)[-1]
            kept = {
                "kept_in": str(root),
                "restart": f"crossforce serve --data {root / 'matcher'} --pki {root / 'matcher-pki'} "
                f"--port {port}",
                "then": f"crossforce audit report --profile {root / 'orgs' / VETTING_BODY} "
                f"--case-ref {WHY.case_reference}",
            }
        if as_json:
            emit_json(
                {"complete": True, "seconds": round(seconds, 1), "records": total, "workers": workers, **kept}
            )
            return
        summary = Table.grid(padding=(0, 2))
        summary.add_row(
            "[bold green]DEMO COMPLETE[/]", f"{seconds:.1f} s, {total:,} records, {workers} worker(s)"
        )
        for label, key in (("kept in", "kept_in"), ("restart", "restart"), ("then", "then")):
            if kept[key] is not None:
                summary.add_row(label, str(kept[key]))
        console.print(summary)


def _testkit_missing(exc: ModuleNotFoundError) -> PreconditionError:
    """The one-line error for a client-only install; any other missing module is a real bug, re-raised."""
    missing = exc.name or ""
    if not any(missing == p or missing.startswith(p + ".") for p in TESTKIT_PACKAGES):
        raise exc
    return PreconditionError(NEEDS_TESTKIT)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals whose default action would kill the demo before its ``finally`` blocks run."""


@contextlib.contextmanager
def _exit_cleanly_on_stop_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``SystemExit(128 + signal)``, and Ctrl-C into ``SystemExit(130)``.

    Why: their default action ends the process at once, leaving the temporary folder (which holds the
    CA key and the network secret) on disk and the workers running. An exception unwinds instead:
    the workers are terminated, the matcher stops and the folder is removed, in that order. A repeat of
    a signal while that runs is ignored with a Python handler, not ``SIG_IGN``, which a worker started
    meanwhile would inherit and so outlive ``terminate``. Only the main thread may install handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        del frame
        nonlocal stopping
        if stopping:
            return  # the clean-up under way is the answer
        stopping = True
        os.write(
            2, f"\nstopping: removing the demo's keys and workers ({signal.strsignal(signum)})\n".encode()
        )
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED_EXIT) from None  # everything inside has unwound by now
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
