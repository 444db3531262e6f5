"""``crossforce audit monitor``: follow the audit log, verify every new entry, and raise alarms.

Each pass: fetch the matcher's signed head and let the pure rules (``crossforce.client.monitor``) judge
it against the last head verified (a rollback or a fork is named as such, before anything is fetched);
then verify the new entries incrementally with the SDK (``Client.verify_log``: consistency with the head
verified before, the root recomputed from every leaf), and hand the verified entries the monitor has not
checked yet to the event rules (unannounced key events, key events for this organisation it did not
make, missing continuity proofs, unannounced or backward epochs). The monitor's own progress (entries
checked, the epoch, each organisation's newest keys) is kept in the profile, ``monitor-<role>.json``
(0600, atomic), so each alarm is raised once, by the pass that first sees its entry.

Output: one line per alarm on stdout (JSON Lines with ``--json``); exit status 7
(``VERIFICATION_FAILED``) at the end if any alarm was raised. Bounded: ``--once`` does one pass,
``--duration`` stops after that many seconds, ``--interval`` waits between passes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from crossforce.auditlog import treehead
from crossforce.cli.common import json_option, open_client, profile_option, role_option
from crossforce.cli.interrupts import INTERRUPTED_EXIT
from crossforce.cli.render import make_console, warn_line
from crossforce.cli.status import ExitStatus
from crossforce.client import monitor as rules
from crossforce.client import monitorfiles
from crossforce.client.registering import anchors_of
from crossforce.client.sdk import Client
from crossforce.client.verifiedlog import VerifiedLog, verified_log_path
from crossforce.domain import Role
from crossforce.errors import UnavailableError, ValidationError, VerificationError
from crossforce.fsutil import atomic_write_private, read_limited

DEFAULT_INTERVAL_S = 30.0
MAX_ANNOUNCEMENTS_BYTES = 4 * 1024 * 1024
MAX_STATE_BYTES = 64 * 1024 * 1024
MONITOR_ROLES = (
    Role.AUDITOR,
    Role.OPERATOR,
    Role.VETTING_OFFICER,
    Role.DISCLOSURE_OFFICER,
    Role.FORCE_SYSTEM,
)
"""Which of a profile's certificates follows the log, in order of preference (``audit``'s order): an
auditor reads every event; any other role reads the public ones (key and epoch events) and its own."""


def monitor_state_path(profile_dir: Path, role: str) -> Path:
    """Where a profile keeps what the monitor checked for one of its roles."""
    return Path(profile_dir) / f"monitor-{role}.json"


class Monitor:
    """One profile's monitor: its state on disk and one pass over what the log added since the last."""

    def __init__(self, client: Client, *, announcements: monitorfiles.Announcements | None) -> None:
        self.client = client
        self.path = monitor_state_path(client.profile.path, client.role)
        anchors = anchors_of(client.profile)  # the CA and local keys every key history is checked against
        own = anchors.own
        self.context = rules.Context(
            own_org=client.profile.org,
            own_keys=frozenset({(own.signing_key, own.box_key)} if own else ()),
            announcements=announcements,
            ca_pem=anchors.ca_pem,
        )
        self.verified_size = 0

    def _load(self) -> monitorfiles.MonitorState:
        if not self.path.exists():
            return monitorfiles.MonitorState()
        return monitorfiles.decode_state(read_limited(self.path, MAX_STATE_BYTES), source=str(self.path))

    def run_pass(self) -> list[rules.Alarm]:
        """Verify what the log added and check it; the state moves on only over verified entries."""
        key = self.client.log_key()
        state = monitorfiles.bind_log_key(self._load(), key, source=str(self.path))
        last = self.client.last_head()
        shown = self.client.shown_head()
        try:
            treehead.verify_tree_head(shown, key)
        except VerificationError as exc:
            return [rules.verification_alarm(str(exc))]
        alarms = rules.head_alarms(last=last.head if last else None, new=shown.head, checked=state.checked)
        if alarms:
            return alarms
        try:
            result = self.client.verify_log()
        except VerificationError as exc:
            return [rules.verification_alarm(str(exc))]
        self.verified_size = result.head.head.tree_size
        alarms = rules.head_alarms(last=None, new=result.head.head, checked=state.checked)
        if alarms:
            return alarms
        with VerifiedLog(verified_log_path(self.client.profile.path, self.client.role)) as store:
            rows = ((i, entry) for i, _leaf, entry in store.rows(state.checked))
            new, alarms = rules.check_entries(state, rows, self.context)
        if new != state:
            atomic_write_private(self.path, monitorfiles.encode_state(new))
        return alarms


@click.command("monitor")
@profile_option
@role_option("auditor (sees every event), else any (sees public events and its own)")
@click.option(
    "--announcements",
    "announcements_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Key versions and epochs organisations announced out of band: lines `org key_version "
    "[fingerprint]` and `epoch N`. Without it, only this organisation's own key events and backward "
    "epochs are checked.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_INTERVAL_S,
    show_default=True,
    help="Seconds between passes.",
)
@click.option("--once", is_flag=True, help="Do one pass and stop.")
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after this many seconds.")
@json_option
@click.pass_context
def audit_monitor(
    ctx: click.Context,
    *,
    profile_dir: Path,
    role: str | None,
    announcements_file: Path | None,
    interval: float,
    once: bool,
    duration: float | None,
    as_json: bool,
) -> None:
    """Follow the audit log: verify every new entry and alarm on what no organisation announced.

    Alarms (one line each; JSON Lines with --json; exit status 7 at the end if any): a key event for an
    organisation that did not announce it, or for this organisation with keys it did not make; a key
    event without a valid continuity proof; an epoch change not announced, or going backwards; a log
    rolled back, forked or inconsistent; entries missing or unreadable.

    \b
    Example:
      crossforce audit monitor --profile ./inspectorate --announcements announced.txt --once
      crossforce audit monitor --profile ./kent --interval 60 --json >> alarms.jsonl
    """
    if once and duration is not None:
        raise ValidationError("give --once or --duration, not both")
    announcements = None
    if announcements_file is not None:
        text = read_limited(announcements_file, MAX_ANNOUNCEMENTS_BYTES).decode("utf-8", errors="replace")
        announcements = monitorfiles.parse_announcements(text, source=str(announcements_file))
    raised: set[rules.Alarm] = set()
    passes = 0
    deadline = None if duration is None else time.monotonic() + duration
    interrupted = False
    with open_client(profile_dir, role, MONITOR_ROLES) as client:
        mon = Monitor(client, announcements=announcements)
        try:
            while True:
                try:
                    found = mon.run_pass()
                except UnavailableError as exc:
                    if once:
                        raise
                    warn_line(make_console(stderr=True), f"{exc}; trying again in {interval:g} s")
                    found = []
                passes += 1
                for alarm in found:
                    if alarm not in raised:  # the same finding once per run, however many passes see it
                        raised.add(alarm)
                        click.echo(json.dumps(alarm.to_json(), sort_keys=True) if as_json else alarm.line())
                if once:
                    break
                wait = interval
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                time.sleep(wait)
        except KeyboardInterrupt:
            interrupted = True
    if not as_json:
        make_console(stderr=True).print(
            f"monitor: {passes} pass{'es' if passes != 1 else ''}, log verified up to {mon.verified_size} "
            f"entries, {len(raised)} alarm{'s' if len(raised) != 1 else ''}"
        )
    if raised:
        ctx.exit(int(ExitStatus.VERIFICATION_FAILED))
    if interrupted:
        ctx.exit(int(INTERRUPTED_EXIT))
