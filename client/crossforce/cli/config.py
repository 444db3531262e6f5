"""``crossforce config``: the profile's defaults file (``<profile>/config.toml``), shown and changed.

What the keys mean and the order defaults are taken in is ``crossforce.client.profileconfig``; this
module is only the command line over it. ``show`` prints where each value in force comes from, so an
officer can see why a check carried the purpose it did.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from crossforce.cli.common import json_option, profile_option
from crossforce.cli.render import emit_json, make_console
from crossforce.client import profileconfig
from crossforce.client.profile import Profile

KEY_CHOICE = click.Choice([s.key for s in profileconfig.SETTINGS])


def effective(profile_dir: Path) -> dict[str, dict[str, str | None]]:
    """Each key's value in force when no option is given, and its source: env, config or unset."""
    values = profileconfig.load_config(profile_dir)
    out: dict[str, dict[str, str | None]] = {}
    for s in profileconfig.SETTINGS:
        env = os.environ.get(s.envvar)
        if env:
            out[s.key] = {"value": env, "source": f"env {s.envvar}"}
        elif s.key in values:
            out[s.key] = {"value": values[s.key], "source": "config"}
        else:
            out[s.key] = {"value": None, "source": "unset"}
    return out


def _print_values(profile_dir: Path, as_json: bool, *, changed: str | None = None) -> None:
    path = profileconfig.config_path(profile_dir)
    shown = effective(profile_dir)
    if as_json:
        doc: dict[str, object] = {
            "path": str(path),
            "config": profileconfig.load_config(profile_dir),
            "effective": shown,
        }
        if changed is not None:
            doc["changed"] = changed
        emit_json(doc)
        return
    console = make_console()
    if changed is not None:
        console.print(f"{changed} in {path}")
    table = Table(title=f"defaults for {profile_dir}", title_justify="left")
    for col in ("key", "option", "environment", "value in force", "from"):
        table.add_column(col)
    for s in profileconfig.SETTINGS:
        row = shown[s.key]
        table.add_row(s.key, s.option, s.envvar, row["value"] or "-", row["source"] or "")
    console.print(table)


@click.group(name="config")
def config_group() -> None:
    """A profile's defaults: officer, purpose, legal basis and server, in <profile>/config.toml.

    Each value is taken from the command-line option, else the environment (CROSSFORCE_OFFICER,
    CROSSFORCE_PURPOSE, CROSSFORCE_LEGAL_BASIS, CROSSFORCE_SERVER), else this file. --case-ref is
    never a default.

    \b
    Example:
      crossforce config set purpose school-staff-vetting --profile ./dbs
      crossforce config show --profile ./dbs
    """


@config_group.command("show")
@profile_option
@json_option
def config_show(profile_dir: Path, as_json: bool) -> None:
    """Show the profile's defaults file and, for each key, the value in force and where it comes from.

    \b
    Example:
      crossforce config show --profile ./dbs --json
    """
    _require_profile(profile_dir)
    _print_values(profile_dir, as_json)


@config_group.command("set")
@click.argument("key", type=KEY_CHOICE)
@click.argument("value")
@profile_option
@json_option
def config_set(key: str, value: str, profile_dir: Path, as_json: bool) -> None:
    """Set KEY to VALUE in the profile's defaults file.

    \b
    Example:
      crossforce config set legal_basis "Police Act 1997 s113B" --profile ./dbs
    """
    _require_profile(profile_dir)
    profileconfig.set_value(profile_dir, key, value)
    _print_values(profile_dir, as_json, changed=f"set {key}")


@config_group.command("unset")
@click.argument("key", type=KEY_CHOICE)
@profile_option
@json_option
def config_unset(key: str, profile_dir: Path, as_json: bool) -> None:
    """Remove KEY from the profile's defaults file (a key that is not set is left as it is).

    \b
    Example:
      crossforce config unset officer --profile ./dbs
    """
    _require_profile(profile_dir)
    profileconfig.unset_value(profile_dir, key)
    _print_values(profile_dir, as_json, changed=f"unset {key}")


def _require_profile(profile_dir: Path) -> None:
    """A defaults file is written only into a real profile, never a folder made by a typo (read without
    the defaults themselves, so a broken file can still be repaired)."""
    Profile.load(profile_dir)
