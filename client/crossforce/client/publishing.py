"""Publishing: a force's records -> tokens (kept in the local store) -> index -> signed header -> matcher.

Raw records never leave this process; the matcher receives the index bits and a header signed by the
force over its exact bytes (``envelope.INDEX_HEADER_CONTEXT``). Index versions only ever grow per epoch:
the next one is taken from the profile's trust state under its lock, so two publishers on one profile
never sign the same version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from crossforce import clock
from crossforce.client import trust
from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.profile import Profile
from crossforce.client.tokenstore import TokenStore
from crossforce.client.truststore import TrustStore
from crossforce.crypto import envelope
from crossforce.domain import (
    IndexHeaderFields,
    MatcherStatus,
    PublishReceipt,
    PublishResult,
    SignedIndexHeader,
)
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import ValidationError
from crossforce.index import bloom as index
from crossforce.wire import index as wire_index
from crossforce.wire.index_header import encode_index_header

CHUNK_BYTES = 1024 * 1024
"""Index bits per publish-stream message (well under the message size limit)."""
DEFAULT_EXPIRY_DAYS = 30
PUBLISH_TIMEOUT_S = 600.0
"""A publish streams up to hundreds of MB; it gets at least this long whatever the client's timeout."""
PROGRESS_STEPS = 100
"""How many progress callbacks an encode makes at most (plus the final one)."""
Progress = Callable[[int, int], None]
TokenTriple = tuple[str, int, bytes]
"""(record_id, key_type, token)."""


class Publisher:
    """Builds, signs and publishes this force's index; keeps the tokens it came from in the local store."""

    def __init__(
        self,
        *,
        connection: Connection,
        profile: Profile,
        trust_store: TrustStore,
        auditor: AuditReader,
        token_store: Callable[[], TokenStore],
    ) -> None:
        self._conn = connection
        self._profile = profile
        self._trust = trust_store
        self._auditor = auditor
        self._token_store = token_store

    def encode_records(
        self, records: Sequence[Record], *, epoch: int, progress: Progress | None = None
    ) -> list[TokenTriple]:
        """Every (record_id, key_type, token) of ``records`` under ``epoch``'s secret."""
        tokeniser = Tokeniser(secret=self._profile.secret().secret_for(epoch), epoch=epoch)
        out: list[TokenTriple] = []
        step = max(1, len(records) // PROGRESS_STEPS)
        for i, record in enumerate(records):
            out.extend((record.record_id, kt, tok) for kt, tok in tokeniser.record_tokens(record))
            if progress and (i + 1) % step == 0:
                progress(i + 1, len(records))
        if progress:
            progress(len(records), len(records))
        return out

    def publish_records(
        self,
        records: Sequence[Record],
        *,
        epoch: int | None = None,
        expires_in_days: float = DEFAULT_EXPIRY_DAYS,
        progress: Progress | None = None,
    ) -> PublishResult:
        """Encode ``records``, keep their tokens in the local store, build the index and publish it."""
        started = time.perf_counter()
        secret = self._profile.secret()
        epoch = epoch or secret.current_epoch
        triples = self.encode_records(records, epoch=epoch, progress=progress)
        tokens = sorted({tok for _rid, _kt, tok in triples})
        if not tokens:
            raise ValidationError("no record produced a match key; nothing to publish")
        params = index.choose_params(len(tokens))
        bloom = index.BloomIndex.build(tokens, params)
        self._token_store().replace_epoch(epoch, records, triples)
        receipt = self.publish_index(
            bloom,
            epoch=epoch,
            token_count=len(tokens),
            record_count=len(records),
            expires_in_days=expires_in_days,
        )
        return PublishResult(
            org=self._profile.org,
            epoch=epoch,
            version=receipt.version,
            record_count=len(records),
            token_count=len(tokens),
            index_bytes=params.size_bytes,
            log_index=receipt.log_index,
            seconds=time.perf_counter() - started,
        )

    def signed_header(
        self,
        bloom: index.BloomIndex,
        *,
        epoch: int,
        token_count: int,
        record_count: int,
        expires_in_days: float,
        version: int | None = None,
    ) -> SignedIndexHeader:
        """Sign a header for ``bloom``; the version is ``version`` or the next one for ``epoch``."""
        now = clock.now_ms()
        with self._trust.transaction() as txn:
            txn.state = trust.next_index_version(txn.state, epoch, now_ms=now, asked=version)
            version = txn.state.index_versions[epoch]
        header = encode_index_header(
            IndexHeaderFields(
                format_version=index.INDEX_FORMAT_VERSION,
                org=self._profile.org,
                epoch=epoch,
                version=version,
                num_blocks=bloom.params.num_blocks,
                num_probes=bloom.params.num_probes,
                token_count=token_count,
                record_count=record_count,
                bits_sha256=bloom.sha256(),
                created_at_ms=now,
                expires_at_ms=now + int(expires_in_days * clock.DAY_MS),
            )
        )
        signature = envelope.sign(envelope.INDEX_HEADER_CONTEXT, header, self._profile.org_keys().signing)
        return SignedIndexHeader(header=header, signature=signature)

    def publish_index(
        self,
        bloom: index.BloomIndex,
        *,
        epoch: int,
        token_count: int,
        record_count: int,
        expires_in_days: float = DEFAULT_EXPIRY_DAYS,
        version: int | None = None,
    ) -> PublishReceipt:
        signed = self.signed_header(
            bloom,
            epoch=epoch,
            token_count=token_count,
            record_count=record_count,
            expires_in_days=expires_in_days,
            version=version,
        )
        return self.publish_stream(signed, bloom.to_bytes())

    def publish_stream(self, signed: SignedIndexHeader, bits: bytes) -> PublishReceipt:
        """Stream a signed header and its bits; the receipt's head is checked like every other."""
        chunks = wire_index.publish_chunks(signed.header, signed.signature, bits, chunk_bytes=CHUNK_BYTES)
        msg = self._conn.call(
            self._conn.index.Publish, chunks, timeout=max(self._conn.timeout, PUBLISH_TIMEOUT_S)
        )
        receipt = wire_index.publish_receipt_from_pb(msg)
        self._auditor.observe_head(receipt.tree_head)
        return receipt

    def status(self) -> MatcherStatus:
        """Every force's index and the epochs in use."""
        msg = self._conn.call(self._conn.index.Status, wire_index.status_request())
        return wire_index.matcher_status_from_pb(msg)
