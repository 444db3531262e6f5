"""Publishing: a force's records -> tokens (kept in the local store) -> index -> signed header -> matcher.

Raw records never leave this process; the matcher receives the index bits and a header signed by the
force over its exact bytes (``envelope.INDEX_HEADER_CONTEXT``). Index versions only ever grow per epoch:
the next one is taken from the profile's trust state under its lock, so two publishers on one profile
never sign the same version.

A publish is a sequence of named steps (``STEPS``), each durable before the next starts:

1. ``encode``: records -> (key type, token) pairs and the format-2 index, a Bloom filter per key type
   (nothing stored yet);
2. ``stage``: reserve the next version, keep the records and tokens as a *staged* generation of the
   token store (``tokenstore``), the current generation untouched;
3. ``sign``: sign the header over the bits;
4. ``send``: stream header and bits; the matcher answers with a receipt once committed;
5. ``promote``: the receipt's version becomes the current generation, then generations no open or
   confirmed request refers to are pruned.

The ``checkpoint`` callable the Publisher takes is called with each step's name once that step is
done (a no-op by default), so a test can kill the process between any two steps. Wherever a publish
stops, the previous current generation stays current until the matcher is known to hold the new one:
a staged generation whose fate is unknown (no receipt) is settled by ``reconcile`` on the next publish
or desk action, from the matcher's Status (promoted if it serves that version, else dropped). So the
store never holds "current" tokens the matcher does not serve, and the desk never calls a true hit a
false positive (issue 13, item 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from crossforce import clock
from crossforce.client import trust
from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.profile import Profile
from crossforce.client.publishplan import check_shrink, diff_records
from crossforce.client.tokenstore import Generation, TokenStore
from crossforce.client.truststore import TrustStore
from crossforce.crypto import envelope
from crossforce.domain import (
    DisclosureRequest,
    IndexRef,
    MatcherStatus,
    PublishReceipt,
    PublishResult,
    SignedIndexHeader,
)
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import CrossforceError, UnavailableError, ValidationError
from crossforce.index.partitioned import PartitionedIndex
from crossforce.wire import index as wire_index
from crossforce.wire.index_header import header_for_index

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
Checkpoint = Callable[[str], None]
"""Called with a step's name once that step is done."""
STEPS = ("encode", "stage", "sign", "send", "promote")
"""The steps of a publish, in order; the names a ``Checkpoint`` is called with."""
OpenRequests = Callable[[], Sequence[DisclosureRequest]]
"""The open and confirmed requests against this force (what still needs its generations)."""
LIST_LIMIT = 1000
"""How many open or confirmed requests the pruning asks for; a full page means there may be more, and
then nothing is pruned (a generation kept too long costs disk, one pruned too early a wrong answer)."""


def no_checkpoint(step: str) -> None:
    """The default ``Checkpoint``: a publish that nobody watches."""
    del step


def build_index(triples: Sequence[TokenTriple]) -> PartitionedIndex:
    """The format-2 index of every (key type, token) in ``triples``, each partition at the default FPR."""
    key_types = np.fromiter((kt for _rid, kt, _tok in triples), dtype=np.uint8, count=len(triples))
    return PartitionedIndex.build(key_types, b"".join(tok for _rid, _kt, tok in triples))


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
        open_requests: OpenRequests | None = None,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        """``open_requests``: the requests whose generations must be kept (None: never prune);
        ``checkpoint``: called after each step of a publish (``STEPS``)."""
        self._conn = connection
        self._profile = profile
        self._trust = trust_store
        self._auditor = auditor
        self._token_store = token_store
        self._open_requests = open_requests
        self._checkpoint = checkpoint

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
        max_shrink: float | None = None,
    ) -> PublishResult:
        """Encode ``records``, stage their tokens, publish the index, and make it current once acknowledged.

        ``max_shrink``: refuse (ValidationError, before anything is stored or sent) if the publish would
        drop more than this share of the records the current generation holds; None: no bound.
        """
        started = time.perf_counter()
        self.reconcile()
        secret = self._profile.secret()
        epoch = epoch or secret.current_epoch
        store = self._token_store()
        if max_shrink is not None:
            self._check_shrink(store, records, epoch=epoch, max_share=max_shrink)
        triples = self.encode_records(records, epoch=epoch, progress=progress)
        if not triples:
            raise ValidationError("no record produced a match key; nothing to publish")
        built = build_index(triples)
        self._checkpoint("encode")

        version = self._reserve_version(epoch)
        store.stage(epoch, version, records, triples, now_ms=clock.now_ms())
        self._checkpoint("stage")

        signed = self.signed_header(
            built,
            epoch=epoch,
            token_count=built.token_count,
            record_count=len(records),
            expires_in_days=expires_in_days,
            version=version,
        )
        self._checkpoint("sign")

        try:
            receipt = self.publish_stream(signed, built.to_bytes())
        except UnavailableError:
            raise  # the matcher may or may not hold it: the staged generation waits for reconcile
        except CrossforceError:
            store.drop(epoch, version)  # the matcher answered, and refused: it never held this version
            raise
        self._checkpoint("send")

        store.promote(receipt.epoch, receipt.version, now_ms=clock.now_ms())
        self._checkpoint("promote")
        self.prune()
        return PublishResult(
            org=self._profile.org,
            epoch=epoch,
            version=receipt.version,
            record_count=len(records),
            token_count=built.token_count,
            index_bytes=built.size_bytes,
            log_index=receipt.log_index,
            seconds=time.perf_counter() - started,
        )

    def reconcile(self) -> list[Generation]:
        """Settle every staged generation from the matcher's Status: promote the one the matcher serves
        (its acknowledgement was lost), drop the others (never sent, refused, or superseded).

        Asks the matcher only when something is staged; returns the generations promoted.
        """
        store = self._token_store()
        staged = store.staged()
        if not staged:
            return []
        serving = {s.epoch: s.version for s in self.status().indexes if s.org == self._profile.org}
        promoted = []
        for gen in staged:
            if serving.get(gen.epoch) == gen.version:
                promoted.append(store.promote(gen.epoch, gen.version, now_ms=clock.now_ms()))
            else:
                store.drop(gen.epoch, gen.version)
        return promoted

    def prune(self) -> list[Generation]:
        """Drop previous generations no open or confirmed request refers to; returns what was dropped.

        Best effort: if the requests cannot be listed (no role for it, matcher gone) or there may be more
        than one page of them, nothing is dropped.
        """
        if self._open_requests is None:
            return []
        try:
            requests = self._open_requests()
        except CrossforceError:
            return []
        if len(requests) >= LIST_LIMIT:
            return []
        store = self._token_store()
        keep: list[IndexRef] = []
        for req in requests:
            if req.matched_indexes:
                keep.extend(req.matched_indexes)
            else:
                # Opened before the matcher recorded versions: it may refer to any generation of the
                # epochs its tokens were under.
                epochs = {t.epoch for t in req.matched_tokens}
                keep.extend(g.ref for g in store.generations() if g.epoch in epochs)
        return store.prune(keep)

    def _check_shrink(
        self, store: TokenStore, records: Sequence[Record], *, epoch: int, max_share: float
    ) -> None:
        previous = store.current(epoch) or store.latest_current()
        if previous is None:
            return
        check_shrink(
            diff_records(store.bodies(previous), records),
            max_share=max_share,
            against=f"index {previous.label}, epoch {previous.epoch}",
        )

    def _reserve_version(self, epoch: int) -> int:
        """The next index version for ``epoch``, recorded in the trust state before anything is staged,
        so a version once staged is never signed for different bits."""
        with self._trust.transaction() as txn:
            txn.state = trust.next_index_version(txn.state, epoch, now_ms=clock.now_ms())
            return txn.state.index_versions[epoch]

    def signed_header(
        self,
        built: PartitionedIndex,
        *,
        epoch: int,
        token_count: int,
        record_count: int,
        expires_in_days: float,
        version: int | None = None,
    ) -> SignedIndexHeader:
        """Sign a header for ``built``; the version is ``version`` or the next one for ``epoch``.

        ``token_count`` is the total the header declares: ``built.token_count`` for an honest header (the
        matcher refuses any other, as the partitions' sum is what it checks against)."""
        now = clock.now_ms()
        with self._trust.transaction() as txn:
            txn.state = trust.next_index_version(txn.state, epoch, now_ms=now, asked=version)
            version = txn.state.index_versions[epoch]
        header = header_for_index(
            built,
            org=self._profile.org,
            epoch=epoch,
            version=version,
            token_count=token_count,
            record_count=record_count,
            created_at_ms=now,
            expires_at_ms=now + int(expires_in_days * clock.DAY_MS),
        )
        signature = envelope.sign(envelope.INDEX_HEADER_CONTEXT, header, self._profile.org_keys().signing)
        return SignedIndexHeader(header=header, signature=signature)

    def publish_index(
        self,
        built: PartitionedIndex,
        *,
        epoch: int,
        token_count: int,
        record_count: int,
        expires_in_days: float = DEFAULT_EXPIRY_DAYS,
        version: int | None = None,
    ) -> PublishReceipt:
        signed = self.signed_header(
            built,
            epoch=epoch,
            token_count=token_count,
            record_count=record_count,
            expires_in_days=expires_in_days,
            version=version,
        )
        return self.publish_stream(signed, built.to_bytes())

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
