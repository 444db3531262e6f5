"""Reading the matcher's settings file: the one place a ``ServerSettings`` comes from disk.

Why a module of its own: the settings values and their strict parsing are pure policy
(``crossforce.server.policy.settings``), read by the pure rules; reading a file is I/O, so it lives out
here in the server shell. The value classes are re-exported so ``from crossforce.server.settings import
ServerSettings`` keeps meaning the one settings type. Invariant: every error names the file and the key.
"""

from __future__ import annotations

from pathlib import Path

from crossforce.errors import ValidationError
from crossforce.server.policy.settings import PurposePolicy, QuotaSettings, ServerSettings, default_purposes

__all__ = ["PurposePolicy", "QuotaSettings", "ServerSettings", "default_purposes", "load_settings"]


def load_settings(path: str | Path) -> ServerSettings:
    """Read settings from a TOML file; every error names the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read settings: {exc.__class__.__name__}") from exc
    try:
        return ServerSettings.from_toml_text(text)
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}") from exc
