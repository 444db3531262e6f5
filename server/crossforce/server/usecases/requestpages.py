"""Page tokens for request lists: where the last row of a page sorts, opaque to the caller.

Why a cursor and not an offset: requests keep arriving while a desk pages through its list, and an
offset would then skip or repeat rows; a position in the sort order (urgency, deadline, created, id;
``store.protocols.RequestPosition``) does neither. The token is that position as base64 of a short JSON
array: it names no person, only times and a request id the caller was just shown.
"""

from __future__ import annotations

import base64
import binascii
import json

from crossforce.errors import ValidationError
from crossforce.server.store.protocols import RequestPosition
from crossforce.server.store.rows import RequestRow

MAX_TOKEN_CHARS = 256
"""A token the server issued is well under this; anything longer is refused unread."""


def position(row: RequestRow, *, urgent: bool) -> RequestPosition:
    """Where ``row`` sorts in a request list."""
    return (0 if urgent else 1, row.deadline_ms, row.created_at_ms, row.request_id)


def encode(at: RequestPosition) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(at), separators=(",", ":")).encode()).decode()


def decode(token: str) -> RequestPosition | None:
    """The position ``token`` encodes (None for an empty token: the first page); ValidationError if it is
    not a token the server issued."""
    if not token:
        return None
    refused = ValidationError("page_token is not one this server issued; ask for the first page again")
    if len(token) > MAX_TOKEN_CHARS:
        raise refused
    try:
        items = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise refused from None
    if (
        not isinstance(items, list)
        or len(items) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in items[:3])
        or not isinstance(items[3], str)
        or items[0] not in (0, 1)
        or not all(-(2**63) <= v < 2**63 for v in items[1:3])  # a database integer, or SQLite overflows
        or len(items[3]) > MAX_TOKEN_CHARS
    ):
        raise refused
    return (items[0], items[1], items[2], items[3])
