"""Checks every use case applies to caller-supplied text, before any rule or store is consulted."""

from __future__ import annotations

from crossforce.errors import TooLargeError, ValidationError

CONTROL_CHARS_BELOW = 32
DELETE_CHAR = 127


def check_text(name: str, value: str, max_chars: int, *, required: bool) -> None:
    """Refuse missing (if ``required``), over-long or control-character text; the message names the field
    and never quotes the value (it may be personal data)."""
    if required and not value.strip():
        raise ValidationError(f"{name} is required")
    if len(value) > max_chars:
        raise TooLargeError(f"{name} is longer than {max_chars} characters")
    if any(ord(c) < CONTROL_CHARS_BELOW or ord(c) == DELETE_CHAR for c in value):
        raise ValidationError(f"{name} contains control characters")
