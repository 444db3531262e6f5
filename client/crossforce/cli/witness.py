"""``crossforce witness``: cosign the matcher's checkpoints after checking the log only grew (issue 16).

``crossforce witness keygen`` makes the witness's Ed25519 key (a 0600 file) and prints its verifier key
for the operator, who lists it under ``witnesses`` in the matcher's settings (and so in log-key.pub).
``crossforce witness --key K --state S --log-key-file log-key.pub --profile P`` then runs rounds
(``crossforce.client.witness``): ``--once`` for one (cron), ``--duration S`` for a bounded run, neither
to run until Ctrl-C. A rolled-back or forked checkpoint stops it with exit status 7 and nothing cosigned.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from crossforce.cli.common import json_option, open_client, role_option
from crossforce.cli.logkeys import log_key_file_option
from crossforce.cli.render import emit_json, make_console, warn_line
from crossforce.client.trust import Witnessed
from crossforce.client.truststore import read_published_log_key
from crossforce.client.witness import Round, Witness, WitnessKey
from crossforce.domain import Role
from crossforce.errors import ValidationError

WITNESS_ROLES = (Role.AUDITOR, Role.FORCE_SYSTEM)
"""The roles that may send a cosignature (docs/roles.md: Audit/AddCosignature)."""
DEFAULT_INTERVAL_S = 30.0


@click.group(name="witness", invoke_without_command=True)
@click.option(
    "--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), help="The witness key file."
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the witness keeps what it cosigned last (made on the first run; back it up).",
)
@log_key_file_option
@click.option(
    "--profile",
    "profile_dir",
    envvar="CROSSFORCE_PROFILE",
    type=click.Path(file_okay=False, path_type=Path),
    help="The organisation's profile folder the witness connects with (env CROSSFORCE_PROFILE).",
)  # not profile_option: ``witness keygen`` needs no profile
@role_option("auditor, else force-system")
@click.option("--once", is_flag=True, help="One round, then exit.")
@click.option(
    "--duration", type=click.FloatRange(min=0), default=None, help="Run rounds for this many seconds."
)
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=DEFAULT_INTERVAL_S, show_default=True,
    help="Seconds between rounds.",
)  # fmt: skip
@json_option
@click.pass_context
def witness_group(
    ctx: click.Context,
    key_file: Path | None,
    state_file: Path | None,
    log_key_file: Path | None,
    profile_dir: Path | None,
    role: str | None,
    once: bool,
    duration: float | None,
    interval: float,
    as_json: bool,
) -> None:
    """Witness the matcher's log: verify each new checkpoint is consistent with the last one cosigned,
    then cosign it (C2SP tlog-cosignature). Exit status 7 on a rollback or fork (nothing is cosigned).

    \b
    Example:
      crossforce witness keygen --key witness.key --name witness.kent.police.uk/1
      crossforce witness --key witness.key --state witness.state --log-key-file log-key.pub \\
          --profile ./kent --once
    """
    if ctx.invoked_subcommand is not None:
        return
    given = (
        ("--key", key_file),
        ("--state", state_file),
        ("--log-key-file", log_key_file),
        ("--profile", profile_dir),
    )
    if missing := [name for name, value in given if value is None]:
        raise ValidationError(
            f"crossforce witness needs {', '.join(missing)} (see crossforce witness --help)"
        )
    if once and duration is not None:
        raise ValidationError("give --once or --duration, not both")
    assert key_file and state_file and log_key_file and profile_dir  # checked above, for the type checker
    key = WitnessKey.load(key_file)
    log_key = read_published_log_key(log_key_file)
    with open_client(profile_dir, role, WITNESS_ROLES) as client:
        witness = Witness(connection=client.connection, key=key, log_key=log_key, state_path=state_file)
        deadline = None if once or duration is None else time.monotonic() + duration
        while True:
            _report(witness.round(), key.verifier.name, as_json=as_json)
            if once or (deadline is not None and time.monotonic() + interval > deadline):
                return
            time.sleep(interval)


def _report(done: Round, name: str, *, as_json: bool) -> None:
    cp = done.checkpoint
    if as_json:
        emit_json(
            {
                "witness": name,
                "origin": cp.origin,
                "tree_size": cp.tree_size,
                "root_hash": cp.root_hash.hex(),
                "previous_tree_size": done.previous_size,
                "cosignatures": done.cosignatures,
            }
        )
        return
    if done.cosignatures == 0:
        make_console().print(f"{cp.origin}: empty log, nothing to cosign")
        return
    make_console().print(
        f"{cp.origin}: {cp.tree_size} entries, consistent with the {done.previous_size} cosigned before "
        f"[green](proof verified)[/]; cosigned as {name} ({done.cosignatures} cosignatures held)"
    )


@witness_group.command("keygen")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The witness's name, a schema-less URL (e.g. witness.kent/1).")
@json_option
def witness_keygen(key_file: Path, name: str, as_json: bool) -> None:
    """Make a witness key (a 0600 file; never overwritten) and print its verifier key for the operator.

    \b
    Example:
      crossforce witness keygen --key witness.key --name witness.kent.police.uk/1
    """
    key = WitnessKey.generate(name)
    key.save(key_file)
    if as_json:
        emit_json({"name": name, "vkey": key.verifier.vkey, "key_file": str(key_file)})
        return
    make_console().print(
        f"witness key written to {key_file} (keep it secret)\n"
        f"verifier key (give it to the operator for the matcher's settings `witnesses`):\n{key.verifier.vkey}"
    )


def witnessed_doc(witnessed: Witnessed | None) -> dict[str, Any] | None:
    """What ``audit verify`` reports of the witness quorum (None: no witnesses are configured)."""
    if witnessed is None:
        return None
    return {
        "tree_size": witnessed.checkpoint.tree_size,
        "cosigners": list(witnessed.cosigners),
        "quorum": witnessed.quorum,
    }


def print_witnessed(console: Console, doc: dict[str, Any]) -> None:
    """The quorum line of ``audit verify`` (a warning when no witnesses are configured)."""
    if "witnessed" not in doc:  # an offline or --data verification: no checkpoint was fetched
        return
    witnessed = doc["witnessed"]
    if witnessed is None:
        warn_line(
            console,
            "not witnessed: this profile has no witnesses, so a log shown only to it (a split view) "
            "would verify too; pin the operator's log-key.pub naming witnesses (org pin-log-key)",
        )
        return
    console.print(
        f"  [green]✔[/] witnessed by {len(witnessed['cosigners'])} of {witnessed['quorum']} required "
        f"({', '.join(witnessed['cosigners'])}) on the checkpoint of {witnessed['tree_size']} entries, "
        "which the verified head is a prefix of"
    )
