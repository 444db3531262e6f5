"""The force SDK: a typed Python API over the matcher's gRPC services.

One ``Client`` per organisation profile and role. It encodes candidates into tokens locally (raw data
never leaves this process), builds and publishes indexes, keeps the local token store, seals and opens
disclosures, pins other organisations' keys, and checks every signed tree head it is shown against the
last one it kept (an inconsistent head raises VerificationError, loudly).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import EventKind, decode_event
from crossforce.client.profile import Profile
from crossforce.client.tokenstore import TokenStore
from crossforce.crypto import envelope, orgkeys, sealed
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import (
    CrossforceError,
    PreconditionError,
    ValidationError,
    VerificationError,
    error_for_status,
)
from crossforce.index import bloom as index
from crossforce.limits import DEFAULT_LIMITS
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc

DEV_IDENTITY_HEADER = "x-crossforce-dev-identity"
CHUNK_BYTES = 1024 * 1024
DEFAULT_EXPIRY_DAYS = 30
EPOCH_CACHE_S = 30.0
Progress = Callable[[int, int], None]
T = TypeVar("T")

STRENGTH_NAMES = {0: "none", 1: "weak", 2: "medium", 3: "strong"}
STATE_NAMES = {v: k.lower() for k, v in pb.RequestState.items()}


@dataclass(frozen=True)
class Why:
    """The justification every check carries (all four fields are required by the matcher)."""

    purpose: str
    legal_basis: str
    case_reference: str
    officer_id: str

    def to_pb(self) -> pb.Justification:
        return pb.Justification(
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            case_reference=self.case_reference,
            officer_id=self.officer_id,
        )


@dataclass(frozen=True)
class Hit:
    org: str
    strength: int
    key_types: tuple[int, ...]
    request_id: str

    @property
    def strength_name(self) -> str:
        return STRENGTH_NAMES.get(self.strength, str(self.strength))


@dataclass(frozen=True)
class CheckReport:
    check_id: str
    hits: tuple[Hit, ...]
    forces_searched: int
    stale_orgs: tuple[str, ...]

    @property
    def no_trace(self) -> bool:
        return not self.hits


@dataclass(frozen=True)
class PublishResult:
    org: str
    epoch: int
    version: int
    record_count: int
    token_count: int
    index_bytes: int
    log_index: int
    seconds: float


@dataclass(frozen=True)
class Resolution:
    request: pb.DisclosureRequest
    confirmed: bool
    records: tuple[Record, ...]


def _raise_from(exc: grpc.RpcError) -> CrossforceError:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    err = error_for_status(name)(f"{details} [{name}]")
    return err


class Client:
    def __init__(self, profile: Profile, *, role: str, timeout: float = 60.0) -> None:
        self.profile = profile
        self.role = role
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = ()
        options = [
            ("grpc.max_receive_message_length", DEFAULT_LIMITS.max_message_bytes),
            ("grpc.max_send_message_length", DEFAULT_LIMITS.max_message_bytes),
        ]
        if profile.dev_plaintext:
            self.channel = grpc.insecure_channel(profile.server, options=options)
            self._metadata = ((DEV_IDENTITY_HEADER, f"{profile.org}:{role}"),)
        else:
            pair = profile.cert_pair(role)
            creds = grpc.ssl_channel_credentials(
                root_certificates=profile.ca_pem(), private_key=pair.key_pem, certificate_chain=pair.cert_pem
            )
            self.channel = grpc.secure_channel(profile.server, creds, options=options)
        self.registry = rpc.RegistryStub(self.channel)
        self.index = rpc.IndexStub(self.channel)
        self.matcher = rpc.MatcherStub(self.channel)
        self.disclosure = rpc.DisclosureStub(self.channel)
        self.audit = rpc.AuditStub(self.channel)
        self.operations = rpc.OperationsStub(self.channel)
        self._state_lock = threading.Lock()
        self._store: TokenStore | None = None
        self._epoch_cache: tuple[float, list[int]] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()
        if self._store is not None:
            self._store.close()

    def call(self, method: Callable[..., T], request: Any, *, timeout: float | None = None) -> T:
        """Invoke a unary RPC, turning gRPC errors into the project's exception tree."""
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _raise_from(exc) from None

    @property
    def store(self) -> TokenStore:
        if self._store is None:
            self._store = TokenStore(self.profile.token_store_path)
        return self._store

    # ------------------------------------------------------------------ registry
    def register(self) -> pb.Organisation:
        keys = self.profile.org_keys()
        resp = self.call(
            self.registry.Register,
            pb.RegisterRequest(
                org=keys.org,
                signing_key=keys.signing_public,
                box_key=keys.box_public,
                proof=orgkeys.sign_registration(keys),
                display_name=self.profile.display_name,
            ),
        )
        self.observe_head(resp.tree_head)
        return resp.organisation

    def organisation_keys(self, org: str) -> pb.Organisation:
        """Another organisation's public keys, pinned on first sight and checked against the audit log."""
        found = self.call(self.registry.GetOrganisation, pb.GetOrganisationRequest(org=org))
        with self._state_lock:
            state = self.profile.state()
            pins = state.setdefault("pins", {})
            pinned = pins.get(org)
        if (
            pinned
            and pinned["signing_key"] == found.signing_key.hex()
            and pinned["box_key"] == found.box_key.hex()
        ):
            return found
        self._verify_registration_logged(found)
        if pinned and found.key_version <= int(pinned["key_version"]):
            raise VerificationError(
                f"the matcher returned different keys for {org} without a newer logged key version"
            )
        with self._state_lock:
            state = self.profile.state()
            state.setdefault("pins", {})[org] = {
                "signing_key": found.signing_key.hex(),
                "box_key": found.box_key.hex(),
                "key_version": found.key_version,
            }
            self.profile.save_state(state)
        return found

    def _verify_registration_logged(self, org: pb.Organisation) -> None:
        head = self.tree_head()
        proof = self.call(
            self.audit.GetInclusionProof,
            pb.GetInclusionProofRequest(leaf_index=org.log_index, tree_size=head.head.tree_size),
        )
        if not proof.entry:
            raise VerificationError(f"the registration of {org.org} is not readable in the audit log")
        merkle.verify_inclusion(
            merkle.leaf_hash(proof.entry),
            org.log_index,
            head.head.tree_size,
            list(proof.hashes),
            head.head.root_hash,
        )
        event = decode_event(proof.entry)
        if event.kind not in (EventKind.REGISTRATION, EventKind.KEY_CHANGE) or (
            event.fields.get("org") != org.org
            or event.fields.get("signing_key") != org.signing_key.hex()
            or event.fields.get("box_key") != org.box_key.hex()
            or event.fields.get("key_version") != str(org.key_version)
        ):
            raise VerificationError(f"the keys the matcher returned for {org.org} are not the ones it logged")

    # ------------------------------------------------------------------ publishing
    def encode_records(
        self, records: Sequence[Record], *, epoch: int, progress: Progress | None = None
    ) -> list[tuple[str, int, bytes]]:
        tokeniser = Tokeniser(secret=self.profile.secret().secret_for(epoch), epoch=epoch)
        out: list[tuple[str, int, bytes]] = []
        step = max(1, len(records) // 100)
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
        secret = self.profile.secret()
        epoch = epoch or secret.current_epoch
        triples = self.encode_records(records, epoch=epoch, progress=progress)
        tokens = sorted({tok for _rid, _kt, tok in triples})
        if not tokens:
            raise ValidationError("no record produced a match key; nothing to publish")
        params = index.choose_params(len(tokens))
        bloom = index.BloomIndex.build(tokens, params)
        self.store.replace_epoch(epoch, records, triples)
        resp = self.publish_index(
            bloom,
            epoch=epoch,
            token_count=len(tokens),
            record_count=len(records),
            expires_in_days=expires_in_days,
        )
        return PublishResult(
            org=self.profile.org,
            epoch=epoch,
            version=resp.version,
            record_count=len(records),
            token_count=len(tokens),
            index_bytes=params.size_bytes,
            log_index=resp.log_index,
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
    ) -> pb.SignedIndexHeader:
        now = int(time.time() * 1000)
        with self._state_lock:
            state = self.profile.state()
            last = int(state.get("versions", {}).get(str(epoch), 0))
            version = version or max(last + 1, now)
            state.setdefault("versions", {})[str(epoch)] = version
            self.profile.save_state(state)
        header = pb.IndexHeader(
            format_version=index.INDEX_FORMAT_VERSION,
            org=self.profile.org,
            epoch=epoch,
            version=version,
            num_blocks=bloom.params.num_blocks,
            num_probes=bloom.params.num_probes,
            token_count=token_count,
            record_count=record_count,
            bits_sha256=bloom.sha256(),
            created_at_ms=now,
            expires_at_ms=now + int(expires_in_days * 86_400_000),
        ).SerializeToString()
        signature = envelope.sign(envelope.INDEX_HEADER_CONTEXT, header, self.profile.org_keys().signing)
        return pb.SignedIndexHeader(header=header, signature=signature)

    def publish_index(
        self,
        bloom: index.BloomIndex,
        *,
        epoch: int,
        token_count: int,
        record_count: int,
        expires_in_days: float = DEFAULT_EXPIRY_DAYS,
        version: int | None = None,
    ) -> pb.PublishResponse:
        signed = self.signed_header(
            bloom,
            epoch=epoch,
            token_count=token_count,
            record_count=record_count,
            expires_in_days=expires_in_days,
            version=version,
        )
        return self.publish_stream(signed, bloom.to_bytes())

    def publish_stream(self, signed: pb.SignedIndexHeader, bits: bytes) -> pb.PublishResponse:
        def chunks() -> Iterator[pb.PublishChunk]:
            yield pb.PublishChunk(header=signed)
            view = memoryview(bits)
            for start in range(0, len(bits), CHUNK_BYTES):
                yield pb.PublishChunk(bits=bytes(view[start : start + CHUNK_BYTES]))

        resp = self.call(self.index.Publish, chunks(), timeout=max(self.timeout, 600.0))
        self.observe_head(resp.tree_head)
        return resp

    def status(self) -> pb.StatusResponse:
        return self.call(self.index.Status, pb.StatusRequest())

    # ------------------------------------------------------------------ checks
    def candidate_tokens(self, candidate: Record, epochs: Iterable[int]) -> list[pb.QueryToken]:
        secret = self.profile.secret()
        out: list[pb.QueryToken] = []
        for epoch in epochs:
            if epoch not in secret.epochs:
                continue
            tokeniser = Tokeniser(secret=secret.secret_for(epoch), epoch=epoch)
            out.extend(
                pb.QueryToken(key_type=kt, epoch=epoch, token=tok)
                for kt, tok in tokeniser.record_tokens(candidate)
            )
        return out

    def _epochs(self, *, refresh: bool = False) -> list[int]:
        """Epochs to make tokens for: the matcher's epochs in use that this profile's secret holds.

        Cached for EPOCH_CACHE_S; a stale cache is safe, because tokens for a retired epoch are refused
        with FAILED_PRECONDITION and the caller refreshes and retries once.
        """
        cached = self._epoch_cache
        if cached is not None and not refresh and time.monotonic() - cached[0] < EPOCH_CACHE_S:
            return cached[1]
        usable = self._fetch_epochs()
        self._epoch_cache = (time.monotonic(), usable)
        return usable

    def _with_epochs(self, attempt: Callable[[list[int]], T]) -> T:
        try:
            return attempt(self._epochs())
        except PreconditionError:
            return attempt(self._epochs(refresh=True))

    def _fetch_epochs(self) -> list[int]:
        status = self.status()
        active = list(status.active_epochs)
        if not active:
            return [self.profile.secret().current_epoch]
        usable = [e for e in active if e in self.profile.secret().epochs]
        if not usable:
            raise ValidationError(
                "this profile's network secret holds none of the epochs in use ("
                + ", ".join(str(e) for e in active)
                + "); import the current secret with `crossforce keys import`"
            )
        return usable

    def check(self, candidate: Record, why: Why, *, open_requests: bool = True) -> CheckReport:
        return self._with_epochs(lambda epochs: self._check(candidate, why, open_requests, epochs))

    def _check(self, candidate: Record, why: Why, open_requests: bool, epochs: list[int]) -> CheckReport:
        tokens = self.candidate_tokens(candidate, epochs)
        if not tokens:
            raise ValidationError(
                "the candidate produced no match keys: give a surname with a forename or a date of birth, "
                "or an identifier"
            )
        resp = self.call(
            self.matcher.Check,
            pb.CheckRequest(
                candidate=pb.Candidate(tokens=tokens), justification=why.to_pb(), open_requests=open_requests
            ),
        )
        self.observe_head(resp.tree_head)
        return _report(resp.result, resp.forces_searched, tuple(resp.stale_orgs))

    def check_batch(
        self,
        candidates: Sequence[Record],
        why: Why,
        *,
        open_requests: bool = True,
        batch_size: int = 500,
        progress: Progress | None = None,
    ) -> list[CheckReport]:
        reports: list[CheckReport] = []
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]

            def attempt(epochs: list[int], chunk: Sequence[Record] = chunk) -> pb.CheckBatchResponse:
                cands = [pb.Candidate(tokens=self.candidate_tokens(c, epochs)) for c in chunk]
                request = pb.CheckBatchRequest(
                    candidates=cands, justification=why.to_pb(), open_requests=open_requests
                )
                return self.call(self.matcher.CheckBatch, request)

            resp = self._with_epochs(attempt)
            self.observe_head(resp.tree_head)
            reports.extend(_report(r, resp.forces_searched, tuple(resp.stale_orgs)) for r in resp.results)
            if progress:
                progress(len(reports), len(candidates))
        return reports

    def ping(self) -> None:
        self.call(self.matcher.Ping, pb.PingRequest())

    # ------------------------------------------------------------------ disclosure: holder
    def list_requests(
        self, *, as_holder: bool, states: Sequence[int] = (), limit: int = 0
    ) -> list[pb.DisclosureRequest]:
        """Requests against this force (``as_holder``) or opened by this organisation; 0: server maximum."""
        resp = self.call(
            self.disclosure.ListRequests,
            pb.ListRequestsRequest(
                party=pb.HOLDER if as_holder else pb.REQUESTER,
                states=[pb.RequestState.ValueType(s) for s in states],
                limit=limit,
            ),
        )
        return list(resp.requests)

    def watch_requests(self, *, timeout: float | None = None) -> Iterator[pb.DisclosureRequest]:
        try:
            yield from self.disclosure.WatchRequests(
                pb.WatchRequestsRequest(), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return
            raise _raise_from(exc) from None

    def get_request(self, request_id: str) -> pb.DisclosureRequest:
        return self.call(self.disclosure.GetRequest, pb.GetRequestRequest(request_id=request_id))

    def resolve(self, request_id: str) -> Resolution:
        """Resolve a request's tokens against the local store; confirm or clear it on the matcher."""
        req = self.get_request(request_id)
        found = self.store.resolve((t.key_type, t.epoch, bytes(t.token)) for t in req.matched_tokens)
        records = tuple(r for rid in sorted(found) if (r := self.store.record(rid)) is not None)
        updated = self.call(
            self.disclosure.Resolve, pb.ResolveRequest(request_id=request_id, confirmed=bool(records))
        )
        return Resolution(request=updated, confirmed=bool(records), records=records)

    def local_matches(self, request: pb.DisclosureRequest) -> tuple[Record, ...]:
        found = self.store.resolve((t.key_type, t.epoch, bytes(t.token)) for t in request.matched_tokens)
        return tuple(r for rid in sorted(found) if (r := self.store.record(rid)) is not None)

    def approve(
        self, request_id: str, payload: sealed.DisclosurePayload, *, officer_id: str
    ) -> pb.DisclosureRequest:
        req = self.get_request(request_id)
        requester = self.organisation_keys(req.requester_org)
        blob = sealed.seal(
            payload=payload,
            request_id=req.request_id,
            holder_org=req.holder_org,
            requester_org=req.requester_org,
            holder_signing=self.profile.org_keys().signing,
            requester_box_public=bytes(requester.box_key),
        )
        return self.call(
            self.disclosure.Approve,
            pb.ApproveRequest(request_id=request_id, sealed_payload=blob, officer_id=officer_id),
        )

    def refuse(self, request_id: str, reason: int, *, officer_id: str) -> pb.DisclosureRequest:
        return self.call(
            self.disclosure.Refuse,
            pb.RefuseRequest(
                request_id=request_id, reason=pb.RefusalReason.ValueType(reason), officer_id=officer_id
            ),
        )

    # ------------------------------------------------------------------ disclosure: requester
    def fetch_disclosure(self, request_id: str) -> sealed.DisclosurePayload:
        """Fetch, decrypt and verify an approved disclosure addressed to this organisation."""
        got = self.call(self.disclosure.FetchDisclosure, pb.FetchDisclosureRequest(request_id=request_id))
        if hashlib.sha256(got.sealed_payload).digest() != got.payload_sha256:
            raise VerificationError(
                "the disclosure's ciphertext does not match the digest the holder approved"
            )
        holder = self.organisation_keys(got.holder_org)
        return sealed.open_sealed(
            sealed=bytes(got.sealed_payload),
            request_id=request_id,
            holder_org=got.holder_org,
            requester_org=self.profile.org,
            requester_box=self.profile.org_keys().box,
            holder_signing_public=bytes(holder.signing_key),
        )

    def overdue_report(self) -> pb.OverdueReportResponse:
        return self.call(self.disclosure.OverdueReport, pb.OverdueReportRequest())

    # ------------------------------------------------------------------ audit
    def log_key(self) -> bytes:
        with self._state_lock:
            state = self.profile.state()
            if "log_key" in state:
                return bytes.fromhex(state["log_key"])
        key = bytes(self.call(self.audit.GetLogKey, pb.GetLogKeyRequest()).public_key)
        with self._state_lock:
            state = self.profile.state()
            state.setdefault("log_key", key.hex())
            self.profile.save_state(state)
            return bytes.fromhex(state["log_key"])

    def tree_head(self) -> treehead.SignedTreeHead:
        return self.observe_head(self.call(self.audit.GetTreeHead, pb.GetTreeHeadRequest()))

    def last_head(self) -> treehead.SignedTreeHead | None:
        hexed = self.profile.state().get("tree_head")
        return treehead.decode_signed_tree_head(bytes.fromhex(hexed)) if hexed else None

    def observe_head(self, msg: pb.SignedTreeHead) -> treehead.SignedTreeHead:
        """Verify a head the matcher showed us against the last one kept; keep the newer."""
        new = treehead.SignedTreeHead(
            head=treehead.TreeHead(
                tree_size=msg.tree_size, timestamp_ms=msg.timestamp_ms, root_hash=bytes(msg.root_hash)
            ),
            signature=bytes(msg.signature),
        )
        key = self.log_key()
        treehead.verify_tree_head(new, key)
        with self._state_lock:
            last = self.last_head()
            if last is not None and new.head.tree_size < last.head.tree_size:
                # A concurrent caller already showed us a newer head: check this one is its prefix.
                treehead.verify_tree_head(new, key)
                proof = self._consistency(new.head.tree_size, last.head.tree_size)
                merkle.verify_consistency(
                    new.head.tree_size, last.head.tree_size, new.head.root_hash, last.head.root_hash, proof
                )
                return last
            proof = self._consistency(last.head.tree_size, new.head.tree_size) if last else []
            kept = treehead.HeadTracker(log_public_key=key, last=last).accept(new, proof)
            state = self.profile.state()
            state["tree_head"] = treehead.encode_signed_tree_head(kept).hex()
            self.profile.save_state(state)
            return kept

    def _consistency(self, first: int, second: int) -> list[bytes]:
        if first in (second, 0):
            return []
        try:
            resp = self.call(
                self.audit.GetConsistencyProof, pb.GetConsistencyProofRequest(first=first, second=second)
            )
        except ValidationError as exc:
            raise VerificationError(
                f"the matcher signed a head of size {second} but cannot prove it consistent with size {first}"
            ) from exc
        return list(resp.hashes)

    def inclusion(self, leaf_index: int) -> pb.InclusionProof:
        """Fetch and verify the inclusion of one event in the latest head; returns the proof."""
        head = self.tree_head()
        proof = self.call(
            self.audit.GetInclusionProof,
            pb.GetInclusionProofRequest(leaf_index=leaf_index, tree_size=head.head.tree_size),
        )
        entries = self.call(self.audit.GetEntries, pb.GetEntriesRequest(start=leaf_index, end=leaf_index + 1))
        leaf = entries.entries[0].leaf_hash
        if proof.entry and merkle.leaf_hash(proof.entry) != leaf:
            raise VerificationError(f"event {leaf_index} does not hash to its leaf")
        merkle.verify_inclusion(
            leaf, leaf_index, head.head.tree_size, list(proof.hashes), head.head.root_hash
        )
        return proof

    def entries(self, start: int, end: int, *, page: int = 1000) -> Iterator[pb.LogEntry]:
        for lo in range(start, end, page):
            resp = self.call(self.audit.GetEntries, pb.GetEntriesRequest(start=lo, end=min(end, lo + page)))
            yield from resp.entries

    def report(self) -> pb.ReportResponse:
        return self.call(self.operations.Report, pb.ReportRequest())


def _report(result: pb.CheckResult, searched: int, stale: tuple[str, ...]) -> CheckReport:
    return CheckReport(
        check_id=result.check_id,
        hits=tuple(Hit(h.org, h.strength, tuple(h.key_types), h.request_id) for h in result.hits),
        forces_searched=searched,
        stale_orgs=stale,
    )
