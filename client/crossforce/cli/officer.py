"""``crossforce officer``: credentials: an organisation's signed word that a call acts for an officer.

The matcher takes the officer a check or a desk decision acts for from an officer assertion signed by the
organisation's registered signing key, never from free text (``crossforce.crypto.officer``), so the
per-officer quota cannot be reset by typing a new id. A system whose profile holds the organisation's
keys issues its own for every call; ``officer issue`` makes a file for an officer's workstation, which
holds a certificate but not the organisation's key, and passes it with ``--officer-credential FILE``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from crossforce.cli.common import json_option, load_profile, profile_option
from crossforce.cli.render import emit_json, make_console
from crossforce.client import officercreds
from crossforce.clock import SECOND_MS, now_ms
from crossforce.crypto import officer
from crossforce.errors import AlreadyExistsError, NotFoundError

MAX_HOURS = officer.MAX_LIFETIME_MS / (3600 * SECOND_MS)
DEFAULT_HOURS = officer.DEFAULT_LIFETIME_MS / (3600 * SECOND_MS)


@click.group(name="officer")
def officer_group() -> None:
    """Officer credentials: the organisation's signed, short-lived word that a call acts for one officer.

    The matcher keys each officer's quota on the id in the credential, never on free text.

    \b
    Example:
      crossforce officer issue --profile ./dbs --officer DBS-4411 --out dbs-4411.cred
      crossforce check --profile ./dbs-desk --officer-credential dbs-4411.cred --surname Thornbury ...
    """


@officer_group.command("issue")
@profile_option
@click.option("--officer", "officer_id", required=True, help="The officer's collar or staff number.")
@click.option(
    "--hours",
    default=DEFAULT_HOURS,
    show_default=True,
    type=click.FloatRange(min=0, max=MAX_HOURS, min_open=True),
    help=f"How long the credential is valid (at most {MAX_HOURS:g}).",
)
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@json_option
def officer_issue(
    profile_dir: Path, officer_id: str, hours: float, out_file: Path, force: bool, as_json: bool
) -> None:
    """Issue a credential for one officer, signed with the organisation's key (needs the profile's keys/).

    Whoever holds the file acts as that officer until it expires: it is written 0600; hand it over as
    you would a password. The matcher refuses it once the organisation rotates its signing key.

    \b
    Example:
      crossforce officer issue --profile ./dbs --officer DBS-4411 --hours 12 --out dbs-4411.cred
    """
    profile = load_profile(profile_dir)
    if out_file.exists() and not force:
        raise AlreadyExistsError(f"{out_file} already exists; pass --force to replace it")
    try:
        keys = profile.org_keys()
    except NotFoundError:
        raise NotFoundError(
            f"profile {profile.org} at {profile_dir} holds no organisation key; issue credentials from the "
            "profile that registered the organisation (its force-system profile)"
        ) from None
    issued = officer.issue(
        keys.signing,
        org=profile.org,
        officer_id=officer_id,
        now_ms=now_ms(),
        lifetime_ms=round(hours * 3600 * SECOND_MS),
    )
    officercreds.save(issued, out_file)
    until = datetime.fromtimestamp(issued.expires_at_ms / SECOND_MS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if as_json:
        emit_json(
            {"org": issued.org, "officer_id": issued.officer_id, "expires_at": until, "file": str(out_file)}
        )
    else:
        make_console().print(
            f"officer credential for {issued.officer_id} of {issued.org}, valid until {until}, written to "
            f"{out_file} (mode 0600); use it with --officer-credential {out_file}",
            soft_wrap=True,
        )
