"""``crossforce epoch``: the operator's epoch acts (activate, retire) and the epoch state (status).

Why a group of its own: epochs change only by these acts (issue 15 item 3), each logged by the matcher
as an EPOCH_CHANGE event signed into the audit log under the operator's certificate; no publish moves
them. ``status`` is for anyone: it says which epochs a force may publish under and who still lags.
"""

from __future__ import annotations

from pathlib import Path

import click

from crossforce.cli.common import json_option, open_client, profile_option, reader_options
from crossforce.cli.render import emit_json, make_console
from crossforce.client.epochs import EpochOperator
from crossforce.domain import ROLES, Role
from crossforce.domain.epochs import EpochState

OPERATOR_ONLY = (Role.OPERATOR,)


def _as_json(state: EpochState) -> dict[str, object]:
    return {
        "current_epoch": state.current_epoch,
        "retired_through": state.retired_through,
        "live_epochs": list(state.live_epochs),
        "behind": list(state.behind),
        "log_index": state.log_index,
    }


def _show(state: EpochState, as_json: bool, done: str = "") -> None:
    if as_json:
        emit_json(_as_json(state))
        return
    console = make_console()
    if done:
        console.print(done)
    live = ", ".join(str(e) for e in state.live_epochs)
    console.print(
        f"current epoch {state.current_epoch}; live (a force may publish under): {live}; "
        f"retired through {state.retired_through}",
        soft_wrap=True,
    )
    if state.behind:
        console.print(
            f"only on an older epoch (a retirement would cut them off): {', '.join(state.behind)}",
            style="yellow",
            soft_wrap=True,
        )


@click.group(name="epoch")
def epoch_group() -> None:
    """The network-secret epochs: the operator activates and retires them; anyone reads the state.

    \b
    Example:
      crossforce epoch activate 2 --profile ./operator   # after distributing the rotated secret
      crossforce epoch status --profile ./operator       # who is still only on epoch 1
      crossforce epoch retire 1 --profile ./operator
    """


@epoch_group.command(name="status")
@reader_options("any held")
def epoch_status(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """The current epoch, the live epochs and the forces still only on an older one.

    \b
    Example:
      crossforce epoch status --profile ./kent
    """
    with open_client(profile_dir, role, ROLES) as client:
        _show(EpochOperator(client.connection).status(), as_json)


@epoch_group.command(name="activate")
@click.argument("epoch", type=click.IntRange(min=1))
@profile_option
@json_option
def activate(epoch: int, profile_dir: Path, as_json: bool) -> None:
    """Make EPOCH (the current epoch plus one) current: forces may publish under it from now on.

    Distribute the new network secret (``crossforce keys rotate``) to every force first. The previous
    epoch stays served until you retire it; at most two epochs are live.

    \b
    Example:
      crossforce epoch activate 2 --profile ./operator
    """
    with open_client(profile_dir, Role.OPERATOR, OPERATOR_ONLY) as client:
        state = EpochOperator(client.connection).activate(epoch)
    _show(state, as_json, f"epoch {epoch} activated (audit log entry {state.log_index})")


@epoch_group.command(name="retire")
@click.argument("epoch", type=click.IntRange(min=1))
@click.option(
    "--force-override",
    is_flag=True,
    help="Retire even though some forces serve an index only on EPOCH (they stop being searched; logged).",
)
@profile_option
@json_option
def retire(epoch: int, force_override: bool, profile_dir: Path, as_json: bool) -> None:
    """Retire EPOCH (the older live epoch) once every force has published under the current one.

    Refused, naming them, while a force still serves an index only on EPOCH, unless --force-override.

    \b
    Example:
      crossforce epoch retire 1 --profile ./operator
    """
    with open_client(profile_dir, Role.OPERATOR, OPERATOR_ONLY) as client:
        state = EpochOperator(client.connection).retire(epoch, force_override=force_override)
    forced = " by force-override" if force_override else ""
    _show(state, as_json, f"epoch {epoch} retired{forced} (audit log entry {state.log_index})")
