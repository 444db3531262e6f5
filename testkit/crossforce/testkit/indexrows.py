"""Index table rows for tests of the matcher's serving and scoring rules, which read only a few fields.

Why here: several test modules need an ``IndexRow`` whose header, signature and digest do not matter;
one builder keeps the unused fields in one place when the row gains a field.
"""

from __future__ import annotations

from crossforce.server.store.rows import IndexRow


def index_row(
    org: str, epoch: int = 1, *, expires_at_ms: int = 1, record_count: int = 0, token_count: int = 0
) -> IndexRow:
    """A published index row of one block and one probe, with only the fields the rules read set."""
    return IndexRow(
        org=org,
        epoch=epoch,
        version=1,
        header=b"",
        signature=b"",
        bits_sha256="",
        num_blocks=1,
        num_probes=1,
        token_count=token_count,
        record_count=record_count,
        published_at_ms=0,
        expires_at_ms=expires_at_ms,
        log_index=0,
    )
