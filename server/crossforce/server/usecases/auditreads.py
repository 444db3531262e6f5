"""Audit reads: which stored log entries a caller is shown.

Invariant: auditors read every entry; any other organisation reads the entries its type says it may
(``AuditEvent.readers`` and ``PUBLIC``: registrations, key changes and epoch changes are public, since
every client checks pinned keys against them), and gets empty bytes for the rest, so the leaf is still
provable but its content stays hidden. An entry that does not parse as a typed event is shown to
auditors only.
"""

from __future__ import annotations

from crossforce.auditlog.events import parse_event
from crossforce.crypto.pki import Identity
from crossforce.errors import ValidationError
from crossforce.server.policy import roles


def readable_entry(who: Identity, entry: bytes) -> bytes:
    """``entry`` if the caller may read it, else ``b""``."""
    if roles.sees_all_audit_entries(who.role):
        return entry
    try:
        event = parse_event(entry)
    except ValidationError:
        return b""
    return entry if event.readable_by(who.org) else b""
