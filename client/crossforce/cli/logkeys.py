"""The log key a command verifies against, from the operator's published file, never from the log itself.

``audit verify --offline`` and ``--data`` take the key from ``--log-key-file`` (the ``log-key.pub`` the
operator published), ``--log-key HEX`` or the key the profile pinned; ``org create --log-key-file`` and
``org pin-log-key`` pin it in a profile. A log checked against the key it names itself proves nothing.
"""

from __future__ import annotations

from pathlib import Path

import click

from crossforce.cli.common import F, load_profile
from crossforce.client.truststore import read_published_log_key
from crossforce.crypto import envelope
from crossforce.errors import ValidationError


def hex_log_key(log_key: str) -> bytes:
    try:
        key = bytes.fromhex(log_key)
    except ValueError:
        raise ValidationError("--log-key must be hex") from None
    if len(key) != envelope.PUBLIC_KEY_BYTES:
        raise ValidationError(f"--log-key must be {2 * envelope.PUBLIC_KEY_BYTES} hex digits")
    return key


NO_TRUSTED_KEY = (
    "{what} needs the log key from the operator's published file: --log-key-file log-key.pub "
    "(or --log-key HEX{profile}); the key a saved log names is never trusted"
)


def trusted_log_key(
    *, log_key: str | None, log_key_file: Path | None, profile_dir: Path | None, what: str
) -> bytes:
    """The log key to verify against: the operator's published file, the hex given, or the key the profile
    pinned; never one read from the log being verified."""
    if log_key and log_key_file is not None:
        raise ValidationError("give --log-key or --log-key-file, not both")
    if log_key_file is not None:
        return read_published_log_key(log_key_file)
    if log_key:
        return hex_log_key(log_key)
    if profile_dir is not None:
        pinned = load_profile(profile_dir).trust_store().load().log_key
        if pinned is not None:
            return pinned
        raise ValidationError(NO_TRUSTED_KEY.format(what=what, profile=": this profile has not pinned one"))
    raise ValidationError(NO_TRUSTED_KEY.format(what=what, profile=", or a --profile that pinned it"))


def log_key_file_option(f: F) -> F:
    return click.option(
        "--log-key-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="The log key file the operator published (log-key.pub in the matcher's data folder).",
    )(f)
