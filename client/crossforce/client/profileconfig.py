"""A profile's defaults file, ``<profile>/config.toml``, and the one order in which defaults are taken.

A vetting officer runs many checks a day under the same purpose and legal basis; typing them on every
check is how a wrong one gets pasted. The file holds the few values that are the same from call to call
(``officer``, ``purpose``, ``legal_basis``, ``server``: one matcher address, or several separated by
commas, ``addresses``); each value is taken from, first to last:

    the command-line option > the environment (``CROSSFORCE_<KEY>``) > this file > the built-in default

(click applies the first two; ``resolve`` adds the file). The case reference is never a default: it
names one case. An unknown key is an error naming the key, not silently ignored: a typo such as
``legal-basis`` must not leave a check without the basis its writer thought it had.

The file is TOML (read with the standard library's ``tomllib``); it is written here only as flat
``key = "string"`` lines, whose JSON string escapes are valid TOML basic strings, so no TOML writer is
needed, and every write is parsed back before it replaces the old file.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from crossforce.errors import ValidationError
from crossforce.fsutil import atomic_write, read_limited

CONFIG_FILE = "config.toml"
MAX_CONFIG_BYTES = 64 * 1024
"""A defaults file is a handful of lines; anything larger is not one."""


@dataclass(frozen=True)
class Setting:
    """One key the file may hold: the option that overrides it and the environment variable."""

    key: str
    option: str
    envvar: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("officer", "--officer", "CROSSFORCE_OFFICER", "Your collar number or staff id."),
    Setting(
        "purpose", "--purpose", "CROSSFORCE_PURPOSE", "A configured purpose code, e.g. school-staff-vetting."
    ),
    Setting(
        "legal_basis",
        "--legal-basis",
        "CROSSFORCE_LEGAL_BASIS",
        "The legal basis, e.g. 'Police Act 1997 s113B'.",
    ),
    Setting(
        "server",
        "--server",
        "CROSSFORCE_SERVER",
        "The matcher's address, host:port; several matchers sharing one database: comma-separated.",
    ),
)
BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


ADDRESS_SEPARATOR = ","


def addresses(server: str) -> tuple[str, ...]:
    """The matcher addresses a server value names, in order: one ``host:port``, or several separated by
    commas (identical matchers on one database: the SDK moves to the next when one does not answer).
    ValidationError naming ``server`` for an empty entry, spaces inside one, or the same one twice."""
    found = tuple(part.strip() for part in server.split(ADDRESS_SEPARATOR))
    for part in found:
        if not part:
            raise ValidationError(
                "an address is empty (give host:port, or several separated by commas)", field="server"
            )
        if any(c.isspace() for c in part):
            raise ValidationError(f"address {part!r} contains a space", field="server")
    if len(set(found)) != len(found):
        raise ValidationError("the same address is given twice", field="server")
    return found


def config_path(profile_dir: Path) -> Path:
    return Path(profile_dir) / CONFIG_FILE


def _check_key(key: str, where: str) -> Setting:
    setting = BY_KEY.get(key)
    if setting is None:
        raise ValidationError(f"{where}: unknown key {key!r} (known keys: {', '.join(BY_KEY)})", field=key)
    return setting


def load_config(profile_dir: Path) -> dict[str, str]:
    """The profile's defaults; an absent file is no defaults. Names the file and key of any error."""
    path = config_path(profile_dir)
    try:
        raw = read_limited(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return {}
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"{path} is not valid TOML: {exc}") from None
    values: dict[str, str] = {}
    for key, value in doc.items():
        _check_key(key, str(path))
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{path}: {key} must be a non-empty string", field=key)
        try:
            _check_value(key, value)
        except ValidationError as exc:
            raise ValidationError(f"{path}: {exc}") from None
        values[key] = value
    return values


def _check_value(key: str, value: str) -> None:
    """Refuse a malformed value where it enters (``set``, or a hand-edited file as it is read), before
    any command tries to use it."""
    if key == "server":
        addresses(value)


def save_config(profile_dir: Path, values: Mapping[str, str]) -> None:
    """Replace the file with ``values`` (sorted keys), atomically; parsed back before it is written."""
    for key in values:
        _check_key(key, str(config_path(profile_dir)))
    text = "".join(f"{key} = {json.dumps(values[key], ensure_ascii=False)}\n" for key in sorted(values))
    if tomllib.loads(text) != dict(values):  # the JSON-escape-as-TOML claim above, checked every time
        raise ValidationError("config value cannot be written as TOML")
    atomic_write(config_path(profile_dir), text.encode("utf-8"), mode=0o600)


def set_value(profile_dir: Path, key: str, value: str) -> dict[str, str]:
    _check_key(key, "config")
    if not value.strip():
        raise ValidationError(f"{key} must not be empty; use `crossforce config unset {key}`", field=key)
    _check_value(key, value)
    values = load_config(profile_dir)
    values[key] = value
    save_config(profile_dir, values)
    return values


def unset_value(profile_dir: Path, key: str) -> dict[str, str]:
    _check_key(key, "config")
    values = load_config(profile_dir)
    values.pop(key, None)
    save_config(profile_dir, values)
    return values


def resolve(profile_dir: Path | None, key: str, given: str | None) -> str | None:
    """``given`` (the option, or the environment as click read it) if set, else the profile's file."""
    _check_key(key, "config")
    if given:
        return given
    if profile_dir is None:
        return None
    return load_config(profile_dir).get(key)


def missing_message(key: str) -> str:
    """What to say when a value has no source at all: every place it may come from."""
    s = BY_KEY[key]
    return (
        f"missing {s.option}: give the option, set {s.envvar}, "
        f"or run `crossforce config set {s.key} VALUE --profile PROFILE`"
    )
