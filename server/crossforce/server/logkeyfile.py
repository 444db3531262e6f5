"""Publish the matcher's log public key as a file beside its data (``<data>/log-key.pub``).

The operator hands this file to every organisation and auditor, who pin the key from it instead of
trusting whatever key the matcher first shows them (``crossforce.auditlog.logkey`` has the format). It is
rewritten at every start only when it differs, so a deleted or edited copy is put right and an unchanged
one is left alone (its mtime keeps saying when the key was made).
"""

from __future__ import annotations

from pathlib import Path

from crossforce.auditlog.logkey import PUBLISHED_LOG_KEY_FILE, WitnessPolicy, encode_log_key_file
from crossforce.fsutil import atomic_write

PUBLIC_FILE_MODE = 0o644
"""A public key: anyone may read it."""


def publish_log_key(data_dir: Path, public_key: bytes, policy: WitnessPolicy | None = None) -> Path:
    """Write ``<data_dir>/log-key.pub`` for ``public_key`` (and the witnesses and quorum of ``policy``,
    which clients then require) unless it already says exactly that."""
    path = Path(data_dir) / PUBLISHED_LOG_KEY_FILE
    text = encode_log_key_file(public_key, policy)
    try:
        if path.read_bytes() == text:
            return path
    except FileNotFoundError:
        pass
    atomic_write(path, text, mode=PUBLIC_FILE_MODE)
    return path
