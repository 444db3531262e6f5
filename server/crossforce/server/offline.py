"""Verify a matcher's stored audit log without starting the matcher (``crossforce audit verify --data``).

This is the thin I/O shell around the pure verifier (``crossforce.auditlog.verify``): it opens a data
folder read-only (``crossforce.server.store.open_stored_log``), reads the stored log rows and signed
heads as plain values, a page at a time, and hands them over. It decides nothing itself (every rule
is the pure verifier's) and it writes nothing: no row, no schema, no head.

The log key is the caller's, never one read from the data folder: an attacker who can rewrite the
database can also replace a key stored beside it.
"""

from __future__ import annotations

from pathlib import Path

from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.auditlog.verify import StoredHead, verify_stored_log
from crossforce.server.store import open_stored_log


def verify_data_dir(data_dir: Path, log_key: bytes) -> SignedTreeHead | None:
    """Check every stored event, leaf and signed head in ``data_dir`` against ``log_key``.

    Returns the last signed head (None for a matcher that has logged nothing); raises
    ``VerificationError`` naming the first problem, ``UnavailableError`` when the folder holds no
    readable matcher database.
    """
    with open_stored_log(data_dir) as log:
        heads = [
            StoredHead(tree_size=size, timestamp_ms=ts, root=root, signature=sig)
            for size, ts, root, sig in log.heads()
        ]
        return verify_stored_log(log.entries(), heads, log_key)
