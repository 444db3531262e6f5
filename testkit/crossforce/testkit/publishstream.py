"""A real matcher that forces publish to through the Index servicer's publish stream, in process.

Why here: tests of what a publish costs and serves (memory at peak, segments, the batch path over
published indexes) and the republish benchmark need the whole receive a publish takes in production
(chunks into one buffer, verified, served) without a network, certificates or a second process. One
builder keeps how such a matcher is assembled (SQLite storage, its log key, registered forces, a signed
header, the chunked stream) in one place when any of them changes. ``InMemoryMatcher`` goes further, to
every RPC through the interceptors, for SDK tests; this one calls the stream handler directly.

What is not exercised: ``IndexServicer.Publish``'s stream slot (``_publish`` is called past it, and
publishes here run one at a time), identities from certificates, and gRPC's own message handling.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing
import numpy as np
from numpy.typing import NDArray

from crossforce.crypto import orgkeys
from crossforce.crypto.pki import Identity
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server.audit import AuditLog
from crossforce.server.matcher import Matcher
from crossforce.server.servicers.index import IndexServicer
from crossforce.server.servicers.streams import StreamSlots
from crossforce.server.settings import ServerSettings
from crossforce.server.store import SQLiteStorage
from crossforce.testkit.indexheaders import signed_index_header
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import index as wire


class _Caller:
    """The one thing ``_publish`` asks of a gRPC context: whether the caller is still there (a publish
    whose caller went away before the end is refused)."""

    def __init__(self, active: bool) -> None:
        self.active = active

    def is_active(self) -> bool:
        return self.active


class PublishStreamMatcher:
    """A Matcher on SQLite in ``folder`` whose registered forces publish through
    ``IndexServicer._publish``, ``chunk_bytes`` of bits a message."""

    def __init__(self, folder: Path, *, chunk_bytes: int, settings: ServerSettings | None = None) -> None:
        self.folder = folder
        self.chunk_bytes = chunk_bytes
        self.settings = ServerSettings() if settings is None else settings
        self.log_key = nacl.signing.SigningKey.generate()
        self.keys: dict[str, orgkeys.OrgKeys] = {}
        self.identities: dict[str, Identity] = {}
        self.matcher = self._open()
        self.servicer = IndexServicer(self.matcher, slots=StreamSlots("publish", 1))

    def _open(self) -> Matcher:
        storage = SQLiteStorage(self.folder)
        audit = AuditLog(storage=storage, key=self.log_key)
        return Matcher(storage=storage, settings=self.settings, audit=audit)

    def restart(self) -> None:
        """Close the matcher and open it again on the same storage and log key: it loads what it serves
        from storage (``IndexTable.load``), as after a restart."""
        self.matcher.close()
        self.matcher = self._open()
        self.servicer = IndexServicer(self.matcher, slots=StreamSlots("publish", 1))

    def close(self) -> None:
        self.matcher.close()

    def register(self, org: str) -> None:
        """Register ``org`` with fresh keys, as its force-system identity (``register_force``)."""
        self.keys[org], self.identities[org] = register_force(self.matcher, org)

    def chunks(
        self,
        org: str,
        bloom: PartitionedIndex,
        *,
        version: int,
        record_count: int,
        bits: bytes | memoryview | None = None,
    ) -> Iterator[pb.PublishChunk]:
        """The stream as the client sends it, one chunk made at a time: ``bloom``'s honest signed header,
        then ``bits`` (``bloom``'s own bytes unless given: a test's wrong bits, or a view that copies
        nothing before the chunks are made)."""
        signed = signed_index_header(
            org, bloom, self.keys[org].signing, version=version, record_count=record_count
        )
        payload = bloom.to_bytes() if bits is None else bits
        # publish_chunks only takes slices of its bits, which a memoryview gives as well as bytes.
        return wire.publish_chunks(
            signed.header,
            signed.signature,
            payload,  # type: ignore[arg-type]
            chunk_bytes=self.chunk_bytes,
        )

    def publish(
        self, org: str, chunks: Iterator[pb.PublishChunk], *, active: bool = True
    ) -> pb.PublishResponse:
        """Hand ``chunks`` to the stream handler as ``org``; ``active=False``: the caller went away."""
        return self.servicer._publish(self.identities[org], chunks, _Caller(active))  # type: ignore[arg-type]

    def served(self, epoch: int = 1) -> MatchSnapshot:
        """The snapshot the matcher checks ``epoch`` against now."""
        snapshot = self.matcher.publishing._table.snapshot(epoch)
        assert snapshot is not None, f"the matcher serves nothing for epoch {epoch}"
        return snapshot


def register_force(matcher: Matcher, org: str) -> tuple[orgkeys.OrgKeys, Identity]:
    """Register ``org`` on an in-process ``matcher`` with fresh keys and a proof signed by them, as its
    force-system identity (valid for a day): the keys (to sign its index headers) and the identity (to
    publish as)."""
    keys = orgkeys.OrgKeys.generate(org)
    who = Identity(
        org=org, role="force-system", fingerprint=org, not_after=datetime.now(UTC) + timedelta(days=1)
    )
    matcher.register(
        who,
        org=org,
        signing_key=keys.signing_public,
        box_key=keys.box_public,
        proof=orgkeys.sign_registration(keys),
        display_name=org,
    )
    return keys, who


def seeded_tokens(seed: int, count: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """``(key_types, tokens)``: ``count`` random 32-byte tokens of random v2 key types, drawn from
    ``seed`` (tokens first): a test can draw again what a force's ``seeded_index`` holds."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    types = np.array(sorted(KEY_TYPES), dtype=np.uint8)[rng.integers(0, len(KEY_TYPES), size=count)]
    return types, tokens


def seeded_index(seed: int, count: int) -> PartitionedIndex:
    """The index of ``seeded_tokens(seed, count)`` at the default false-positive rate."""
    return PartitionedIndex.build(*seeded_tokens(seed, count))
