"""``crossforce keys``: the network secret every force makes its tokens with, in numbered epochs.

The matcher never holds it; these commands print epoch numbers, never a secret byte.
"""

from __future__ import annotations

from pathlib import Path

import click

from crossforce.cli.common import (
    F,
    json_option,
    load_profile,
    profile_option,
)
from crossforce.cli.render import emit_json, make_console
from crossforce.crypto.secrets import NetworkSecret
from crossforce.errors import AlreadyExistsError, ValidationError
from crossforce.keystore import load_network_secret, save_network_secret


def allow_older_option(f: F) -> F:
    """``export`` and ``import`` both install a secret into a profile, and both refuse a step back."""
    return click.option(
        "--allow-older", is_flag=True, help="Install even if the profile holds a newer epoch."
    )(f)


@click.group(name="keys")
def keys_group() -> None:
    """The network secret every force makes its tokens with, in numbered epochs.

    The matcher never holds it. Distribute the file out of band; `show` prints epochs, never bytes.

    \b
    Example:
      crossforce keys create ./network-secret.json
      crossforce keys export ./network-secret.json --to ./humberside
    """


def _describe(secret: NetworkSecret) -> str:
    return f"epochs {', '.join(str(e) for e in secret.active_epochs)} (current {secret.current_epoch})"


def _epochs(secret: NetworkSecret | None) -> dict[str, object] | None:
    """A secret as JSON: its epochs, never a byte of it."""
    if secret is None:
        return None
    return {"current_epoch": secret.current_epoch, "epochs": list(secret.active_epochs)}


def _report(as_json: bool, text: str, doc: dict[str, object]) -> None:
    """One line for a person, or ``doc`` for a script: what changed and the epochs now held."""
    if as_json:
        emit_json(doc)
    else:
        make_console().print(text)


@keys_group.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def keys_create(file: Path, as_json: bool) -> None:
    """Make a new network secret with epoch 1 (refuses to overwrite an existing file).

    \b
    Example:
      crossforce keys create ./network-secret.json
    """
    if file.exists():
        raise AlreadyExistsError(f"{file} already exists; rotate it instead of replacing it")
    secret = NetworkSecret.create()
    save_network_secret(secret, file)
    _report(
        as_json,
        f"network secret written to {file} (mode 0600): {_describe(secret)}",
        {"action": "created", "file": str(file), "secret": _epochs(secret)},
    )


@keys_group.command("rotate")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@json_option
def keys_rotate(file: Path, as_json: bool) -> None:
    """Add a new epoch and make it current; earlier epochs keep matching until retired.

    \b
    Example:
      crossforce keys rotate ./network-secret.json
    """
    secret = load_network_secret(file).rotate()
    save_network_secret(secret, file)
    _report(
        as_json,
        f"rotated {file}: {_describe(secret)}. Distribute it, have every force republish, "
        "then retire the old epoch.",
        {"action": "rotated", "file": str(file), "secret": _epochs(secret)},
    )


@keys_group.command("retire")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("epoch", type=int)
@json_option
def keys_retire(file: Path, epoch: int, as_json: bool) -> None:
    """Drop EPOCH from the secret: tokens made under it stop matching.

    \b
    Example:
      crossforce keys retire ./network-secret.json 1
    """
    secret = load_network_secret(file).retire(epoch)
    save_network_secret(secret, file)
    _report(
        as_json,
        f"retired epoch {epoch} in {file}: {_describe(secret)}",
        {"action": "retired", "file": str(file), "retired_epoch": epoch, "secret": _epochs(secret)},
    )


def _install_secret(
    secret: NetworkSecret, profile_dir: Path, *, allow_older: bool
) -> tuple[str, dict[str, object]]:
    """Install ``secret`` into the profile unless it steps back; what changed, as text and as JSON."""
    profile = load_profile(profile_dir)
    try:
        held: NetworkSecret | None = profile.secret()
    except Exception:  # no secret yet (or an unreadable one, which we replace)
        held = None
    if held is not None and not allow_older and secret.current_epoch < held.current_epoch:
        raise ValidationError(
            f"the file's current epoch {secret.current_epoch} is older than "
            f"the profile's {held.current_epoch}; "
            "pass --allow-older to install it anyway"
        )
    profile.save_secret(secret)
    before = _describe(held) if held is not None else "no secret"
    text = f"profile {profile.org}: {before} -> {_describe(secret)}"
    return text, {
        "profile": str(profile.path),
        "org": profile.org,
        "before": _epochs(held),
        "secret": _epochs(secret),
    }


@keys_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--to",
    "profile_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The profile folder to install the secret into.",
)
@allow_older_option
@json_option
def keys_export(file: Path, profile_dir: Path, allow_older: bool, as_json: bool) -> None:
    """Install the network secret FILE into a force's profile.

    \b
    Example:
      crossforce keys export ./network-secret.json --to ./humberside
    """
    text, doc = _install_secret(load_network_secret(file), profile_dir, allow_older=allow_older)
    _report(as_json, f"installed {file}: {text}", {"action": "installed", "file": str(file), **doc})


@keys_group.command("import")
@profile_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@allow_older_option
@json_option
def keys_import(profile_dir: Path, file: Path, allow_older: bool, as_json: bool) -> None:
    """Import a network secret FILE you received into your profile.

    \b
    Example:
      crossforce keys import --profile ./kent ./network-secret-epoch2.json
    """
    text, doc = _install_secret(load_network_secret(file), profile_dir, allow_older=allow_older)
    _report(as_json, f"imported {file}: {text}", {"action": "imported", "file": str(file), **doc})


@keys_group.command("show")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Show the secret held by this profile instead of FILE.",
)
@json_option
def keys_show(file: Path | None, profile_dir: Path | None, as_json: bool) -> None:
    """Show a network secret's epochs (never the secret bytes).

    \b
    Example:
      crossforce keys show ./network-secret.json
    """
    if file is not None:
        secret = load_network_secret(file)
    elif profile_dir is not None:
        secret = load_profile(profile_dir).secret()
    else:
        raise ValidationError("give a FILE or --profile")
    if as_json:
        emit_json({"current_epoch": secret.current_epoch, "epochs": list(secret.active_epochs)})
        return
    make_console().print(f"network secret: {_describe(secret)}")
