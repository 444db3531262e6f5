"""``crossforce doctor``: is this profile ready to use, and if not, what is wrong (``gh auth status``).

One line per check, each OK, WARN or FAIL: every role's certificate (and whether the matcher accepts
it), the CA, whether the matcher answers, the pinned log key against the matcher's, the network secret's
epochs against the epochs in use, this organisation's registration, and whether the profile's folders
are private. The facts are gathered by ``crossforce.client.selfcheck`` and judged by
``crossforce.client.health``; this module only prints them and picks the exit status: SUCCESS when
nothing FAILs (warnings included), else the status of the worst failure, through the CLI's one table.
It changes nothing in the profile.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from crossforce.cli.common import json_option, load_profile, profile_option
from crossforce.cli.render import emit_json, make_console
from crossforce.cli.status import ExitStatus, exit_status_for
from crossforce.client.health import Finding, Level, worst
from crossforce.client.selfcheck import PING_TIMEOUT_S, examine

LEVEL_STYLES = {Level.OK: "green", Level.WARN: "yellow", Level.FAIL: "bold red"}


def _status(findings: tuple[Finding, ...]) -> ExitStatus:
    failed = worst(findings)
    if failed is None:
        return ExitStatus.SUCCESS
    if failed.failure is None:
        return ExitStatus.INTERNAL
    return exit_status_for(failed.failure(failed.detail))


@click.command()
@profile_option
@click.option(
    "--timeout",
    default=PING_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(min=0.1, max=120.0),
    help="Seconds to wait for each answer from the matcher.",
)
@json_option
@click.pass_context
def doctor(ctx: click.Context, profile_dir: Path, timeout: float, as_json: bool) -> None:
    """Check a profile: certificates, CA, matcher, log key, secret epochs, registration, folder privacy.

    Exits 0 when every check is OK or WARN, else with the exit status of the worst failure
    (e.g. 5 for an expired or revoked certificate, 4 when the matcher cannot be reached).

    \b
    Example:
      crossforce doctor --profile ./kent
      crossforce doctor --profile ./kent --json
    """
    profile = load_profile(profile_dir)
    findings = examine(profile, timeout=timeout)
    status = _status(findings)
    verdict = max((f.level for f in findings), default=Level.OK)
    if as_json:
        emit_json(
            {
                "org": profile.org,
                "display_name": profile.display_name,
                "server": profile.server,
                "profile": str(profile.path),
                "checks": [
                    {
                        "check": f.check,
                        "subject": f.subject,
                        "level": f.level.name,
                        "detail": f.detail,
                        **f.facts,
                    }
                    for f in findings
                ],
                "verdict": verdict.name,
                "exit_status": int(status),
            }
        )
        ctx.exit(int(status))
    console = make_console()
    console.print(Text(f"{profile.display_name} ({profile.org}) at {profile.server}, profile {profile.path}"))
    width = max((len(f"{f.check} {f.subject}") for f in findings), default=0)
    for f in findings:
        line = Text("  ")
        line.append(f"{f.level.name:<5}", style=LEVEL_STYLES[f.level])
        line.append(f" {f'{f.check} {f.subject}':<{width}}  {f.detail}")
        console.print(line, soft_wrap=True)
    failed = [f for f in findings if f.level is Level.FAIL]
    warned = sum(f.level is Level.WARN for f in findings)
    summary = (
        f"{len(failed)} of {len(findings)} checks failed (exit status {int(status)}, {status.name})"
        if failed
        else f"all {len(findings)} checks passed" + (f" ({warned} with a warning)" if warned else "")
    )
    console.print(Text(summary, style=LEVEL_STYLES[verdict]))
    ctx.exit(int(status))
