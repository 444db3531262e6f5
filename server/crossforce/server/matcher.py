"""The matcher's behaviour, apart from gRPC: registration, publishing, checks, disclosure, audit reads.

Servicers translate protobuf to calls on ``Matcher`` and back. Everything acknowledged here has been
committed (with its audit event, in the same transaction) before the method returns. The matcher holds
only keyed-hash tokens, Bloom filters, routing metadata and ciphertext: no method here receives a raw
name, date or identifier, and no log line or error text quotes request content.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from crossforce.auditlog.events import Event, EventKind, decode_event
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.crypto import orgkeys
from crossforce.crypto.pki import Identity
from crossforce.encoding import matchkeys
from crossforce.errors import (
    PermissionDeniedError,
    PreconditionError,
    QuotaExceededError,
    TooLargeError,
    ValidationError,
)
from crossforce.index import bloom as index
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server import disclosure, epochs, publish_rules, roles
from crossforce.server.audit import AuditLog
from crossforce.server.quotas import QuotaBook
from crossforce.server.settings import ServerSettings
from crossforce.server.storage import IndexRow, OrgRow, RequestRow, Storage

log = logging.getLogger("crossforce.server")

RETIRED_THROUGH = "retired_through"
QUOTA_REPLAY_PAGE = 10_000
DAY_MS = 86_400_000

PUBLIC_EVENT_KINDS = frozenset({EventKind.REGISTRATION, EventKind.KEY_CHANGE, EventKind.EPOCH_CHANGE})

TOKEN_RECORD = np.dtype([("key_type", ">u2"), ("epoch", ">u4"), ("token", "S32")])
"""How matched tokens are packed into a disclosure request row (fixed width, no raw data)."""


@dataclass(frozen=True)
class QueryToken:
    key_type: int
    epoch: int
    token: bytes


@dataclass(frozen=True)
class Justification:
    purpose: str
    legal_basis: str
    case_reference: str
    officer_id: str


@dataclass(frozen=True)
class ForceHit:
    org: str
    strength: int
    key_types: tuple[int, ...]
    request_id: str = ""


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    hits: tuple[ForceHit, ...]


@dataclass(frozen=True)
class CheckOutcome:
    results: tuple[CheckResult, ...]
    forces_searched: int
    stale_orgs: tuple[str, ...]
    tree_head: SignedTreeHead


@dataclass(frozen=True)
class IndexStatus:
    org: str
    epoch: int
    version: int
    record_count: int
    token_count: int
    size_bytes: int
    published_at_ms: int
    expires_at_ms: int
    stale: bool
    stale_reason: str


def now_ms() -> int:
    return int(time.time() * 1000)


class Matcher:
    def __init__(
        self,
        *,
        storage: Storage,
        settings: ServerSettings,
        audit: AuditLog,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.limits = settings.limits
        self.audit = audit
        self.clock = clock
        self.quotas = QuotaBook(settings.quotas, settings.purposes)
        self._write_lock = threading.RLock()
        self._publish_lock = threading.Lock()
        """Serialises publishes, so the next snapshot is built before the write lock is taken."""
        self._orgs: dict[str, OrgRow] = {o.org: o for o in storage.orgs()}
        self._retired_through = int(storage.meta(RETIRED_THROUGH) or 0)
        self._index_rows: dict[tuple[str, int], IndexRow] = {}
        loaded: dict[int, dict[str, index.BloomIndex]] = {}
        for row in storage.indexes():
            self._index_rows[(row.org, row.epoch)] = row
            if row.epoch > self._retired_through:
                bits = storage.read_bits(row.bits_sha256)
                params = index.IndexParams(num_blocks=row.num_blocks, num_probes=row.num_probes)
                loaded.setdefault(row.epoch, {})[row.org] = index.BloomIndex.from_bytes(params, bits)
        # One copy of each filter, inside its epoch's snapshot (the loaded BloomIndex objects are freed).
        self._snapshots: dict[int, MatchSnapshot] = {
            epoch: MatchSnapshot.build(blooms) for epoch, blooms in loaded.items()
        }
        del loaded
        storage.prune_bits()  # files of superseded versions, or of publishes a crash cut short
        self.request_opened = threading.Condition()
        self._replay_quotas()

    def _replay_quotas(self) -> None:
        """Quotas survive a restart: re-charge the checks the audit log recorded since the start of the
        UTC day, or within the longest bucket refill time if that reaches further back, so a crash or
        restart never hands anyone a fresh allowance (each logged CHECK is one candidate)."""
        now = self.clock()
        q = self.settings.quotas
        refill_ms = int(1000 * max(q.org_burst / q.org_rate_per_s, q.officer_burst / q.officer_rate_per_s))
        since = min(now - now % DAY_MS, now - refill_ms)
        checks: list[Event] = []
        end = self.audit.size
        while end > 0:
            start = max(0, end - QUOTA_REPLAY_PAGE)
            page = [decode_event(entry) for _i, entry, _leaf in self.storage.log_entries(start, end)]
            checks[:0] = [e for e in page if e.kind == EventKind.CHECK and e.at_ms >= since]
            if page and max(e.at_ms for e in page) < since:
                break
            end = start
        for event in checks:
            with contextlib.suppress(QuotaExceededError, ValidationError):
                self.quotas.charge(
                    org=event.actor_org,
                    officer=event.fields.get("officer_id", ""),
                    purpose=event.fields.get("purpose", ""),
                    cost=1,
                    now_ms=event.at_ms,
                )
        self.quotas.drain_alerts()
        if checks:
            log.info("quotas restored from %d logged checks", len(checks))

    # ------------------------------------------------------------------ epochs and status
    def active_epochs(self) -> tuple[int, ...]:
        """The epochs checks are answered for, newest first (see ``epochs``)."""
        return epochs.epochs_in_use(list(self._index_rows), self._retired_through)

    def current_epoch(self) -> int:
        active = self.active_epochs()
        return active[0] if active else 1

    def status(self) -> list[IndexStatus]:
        now = self.clock()
        rows_by_key = dict(self._index_rows)
        active = epochs.epochs_in_use(list(rows_by_key), self._retired_through)
        out = []
        for (org, epoch), row in sorted(rows_by_key.items()):
            reason = ""
            if epoch not in active and any(o == org and e in active for (o, e) in rows_by_key):
                continue  # superseded by the same force's index under a newer epoch
            if row.expires_at_ms <= now:
                reason = "expired"
            elif epoch not in active:
                reason = f"retired epoch {epoch}; republish under epoch {self.current_epoch()}"
            elif now - row.published_at_ms > self.settings.index_max_age_s * 1000:
                reason = (
                    f"not republished for {(now - row.published_at_ms) // 86_400_000} days (still matching)"
                )
            elif epoch != self.current_epoch():
                reason = f"on previous epoch {epoch}; republish under epoch {self.current_epoch()}"
            out.append(
                IndexStatus(
                    org=org,
                    epoch=epoch,
                    version=row.version,
                    record_count=row.record_count,
                    token_count=row.token_count,
                    size_bytes=row.num_blocks * index.BLOCK_BITS // 8,
                    published_at_ms=row.published_at_ms,
                    expires_at_ms=row.expires_at_ms,
                    stale=bool(reason),
                    stale_reason=reason,
                )
            )
        return out

    def registered_orgs(self) -> list[str]:
        return sorted(self._orgs)

    # ------------------------------------------------------------------ registration
    def organisation(self, org: str) -> OrgRow:
        row = self._orgs.get(org)
        if row is None:
            raise PermissionDeniedError("organisation not found")
        return row

    def organisations(self) -> list[OrgRow]:
        return [self._orgs[o] for o in sorted(self._orgs)]

    def register(
        self,
        who: Identity,
        *,
        org: str,
        signing_key: bytes,
        box_key: bytes,
        proof: bytes,
        display_name: str,
    ) -> tuple[OrgRow, SignedTreeHead]:
        if org != who.org:
            raise PermissionDeniedError(
                f"certificate is for {who.org}; an organisation may only register its own keys"
            )
        _check_text("display_name", display_name, self.limits.max_text_chars, required=False)
        if len(signing_key) != 32 or len(box_key) != 32:
            raise ValidationError("signing_key and box_key must be 32-byte public keys")
        orgkeys.verify_registration(org, signing_key, box_key, proof)
        now = self.clock()
        with self._write_lock, self.audit.transaction(now) as tx:
            existing = self._orgs.get(org)
            if existing and existing.signing_key == signing_key and existing.box_key == box_key:
                return existing, self.audit.head
            kind = EventKind.KEY_CHANGE if existing else EventKind.REGISTRATION
            idx = self.audit.append(
                tx,
                _event(
                    kind,
                    who,
                    now,
                    {
                        "org": org,
                        "signing_key": signing_key.hex(),
                        "box_key": box_key.hex(),
                        "key_version": str((existing.key_version + 1) if existing else 1),
                    },
                ),
            )
            row = OrgRow(
                org=org,
                display_name=display_name or (existing.display_name if existing else org),
                signing_key=signing_key,
                box_key=box_key,
                key_version=(existing.key_version + 1) if existing else 1,
                registered_at_ms=now,
                log_index=idx,
            )
            tx.put_org(row)
        self._orgs[org] = row
        log.info("registered keys for %s (key version %d)", org, row.key_version)
        return row, self.audit.head

    # ------------------------------------------------------------------ publishing
    def begin_publish(
        self, who: Identity, header_bytes: bytes, signature: bytes
    ) -> publish_rules.AcceptedHeader:
        """Everything decidable from the header, before any chunk is read."""
        if len(header_bytes) > 4096:
            raise TooLargeError("index header is larger than 4096 bytes")
        registered = self._orgs.get(who.org)
        try:
            return publish_rules.verify_header(
                header_bytes=header_bytes,
                signature=signature,
                caller_org=who.org,
                registered_signing_key=registered.signing_key if registered else None,
                current_version=self._current_version(who.org, header_bytes),
                now_ms=self.clock(),
                limits=self.limits,
                max_epoch=self.current_epoch() + 1 if self._index_rows else None,
            )
        except Exception as exc:
            self._log_refused_publish(who, type(exc).__name__)
            raise

    def _current_version(self, org: str, header_bytes: bytes) -> int | None:
        from crossforce.v1 import crossforce_pb2 as pb

        header = pb.IndexHeader()
        try:
            header.ParseFromString(header_bytes)
        except Exception:
            return None
        row = self._index_rows.get((org, header.epoch))
        return row.version if row else None

    def finish_publish(
        self, who: Identity, header: publish_rules.AcceptedHeader, bits: bytes
    ) -> tuple[IndexRow, SignedTreeHead]:
        try:
            bloom = publish_rules.verify_bits(header, bits, self.limits)
        except Exception as exc:
            self._log_refused_publish(who, type(exc).__name__)
            raise
        sha_hex = header.bits_sha256.hex()
        with self._publish_lock:
            # Bits are written and superseded files pruned under one lock, so a prune can never remove
            # the file of a publish still in flight.
            self.storage.write_bits(sha_hex, bits)
            # Copying the shared table takes seconds at 10M records: build the next snapshot before the
            # write lock, so disclosure transitions never wait for the copy.
            snapshot = self._snapshots.get(header.epoch)
            fresh = (
                snapshot.with_index(header.org, bloom)
                if snapshot is not None
                else MatchSnapshot.build({header.org: bloom})
            )
            result = self._commit_publish(who, header, sha_hex, fresh)
            self.storage.prune_bits()
            return result

    def _commit_publish(
        self, who: Identity, header: publish_rules.AcceptedHeader, sha_hex: str, fresh: MatchSnapshot
    ) -> tuple[IndexRow, SignedTreeHead]:
        now = self.clock()
        with self._write_lock:
            current = self._index_rows.get((header.org, header.epoch))
            if current is not None and header.version <= current.version:
                raise PreconditionError(
                    f"index version {header.version} is not newer than the serving version {current.version}"
                )
            with self.audit.transaction(now) as tx:
                idx = self.audit.append(
                    tx,
                    _event(
                        EventKind.PUBLISH_ACCEPTED,
                        who,
                        now,
                        {
                            "org": header.org,
                            "epoch": str(header.epoch),
                            "version": str(header.version),
                            "record_count": str(header.record_count),
                            "token_count": str(header.token_count),
                            "bits_sha256": sha_hex,
                            "expires_at_ms": str(header.expires_at_ms),
                        },
                    ),
                )
                row = IndexRow(
                    org=header.org,
                    epoch=header.epoch,
                    version=header.version,
                    header=header.header_bytes,
                    signature=header.signature,
                    bits_sha256=sha_hex,
                    num_blocks=header.params.num_blocks,
                    num_probes=header.params.num_probes,
                    token_count=header.token_count,
                    record_count=header.record_count,
                    published_at_ms=now,
                    expires_at_ms=header.expires_at_ms,
                    log_index=idx,
                )
                tx.put_index(row)
                published = {*self._index_rows, (header.org, header.epoch)}
                retired_through = epochs.retired_through_after(published, self._retired_through)
                if retired_through != self._retired_through:
                    tx.set_meta(RETIRED_THROUGH, str(retired_through))
                    self.audit.append(
                        tx,
                        _event(
                            EventKind.EPOCH_CHANGE,
                            who,
                            now,
                            {
                                "retired_through": str(retired_through),
                                "current_epoch": str(max(e for _o, e in published)),
                            },
                        ),
                    )
            self._index_rows[(header.org, header.epoch)] = row
            self._snapshots[header.epoch] = fresh
            if retired_through != self._retired_through:
                self._retired_through = retired_through
                for epoch in [e for e in self._snapshots if e <= retired_through]:
                    del self._snapshots[epoch]
        log.info("accepted index from %s epoch %d version %d", header.org, header.epoch, header.version)
        return row, self.audit.head

    def _log_refused_publish(self, who: Identity, reason: str) -> None:
        now = self.clock()
        try:
            with self._write_lock, self.audit.transaction(now) as tx:
                self.audit.append(
                    tx,
                    _event(
                        EventKind.PUBLISH_REFUSED,
                        who,
                        now,
                        {"reason": reason},
                    ),
                )
        except Exception:  # the refusal itself must still reach the caller
            log.warning("could not log a refused publish by %s", who.org)

    # ------------------------------------------------------------------ checks
    def validate_justification(self, who: Identity, why: Justification) -> None:
        for name in ("purpose", "legal_basis", "case_reference", "officer_id"):
            _check_text(name, getattr(why, name), self.limits.max_text_chars, required=True)
        self.settings.purpose_for(who.org, why.purpose)

    def validate_candidate(self, tokens: Sequence[QueryToken], position: int | None = None) -> None:
        where = "" if position is None else f"candidate {position}: "
        if not tokens:
            raise ValidationError(f"{where}a candidate needs at least one token")
        if len(tokens) > self.limits.max_tokens_per_candidate:
            raise TooLargeError(
                f"{where}{len(tokens)} tokens exceed the limit of {self.limits.max_tokens_per_candidate}"
            )
        active = self.active_epochs()
        for i, t in enumerate(tokens):
            if len(t.token) != self.limits.token_bytes:
                raise ValidationError(
                    f"{where}token {i} is {len(t.token)} bytes; tokens are {self.limits.token_bytes}"
                )
            if t.key_type not in matchkeys.KEY_TYPES:
                raise ValidationError(f"{where}token {i} has unknown key type {t.key_type}")
            if active and t.epoch not in active:
                raise PreconditionError(
                    f"{where}token {i} is for epoch {t.epoch}, which is not in use; active epochs: "
                    + ", ".join(str(e) for e in active)
                )

    def check(
        self,
        who: Identity,
        candidates: Sequence[Sequence[QueryToken]],
        why: Justification,
        *,
        open_requests: bool,
    ) -> CheckOutcome:
        if not candidates:
            raise ValidationError("no candidates to check")
        if len(candidates) > self.limits.max_batch_candidates:
            raise TooLargeError(
                f"{len(candidates)} candidates exceed the batch limit of {self.limits.max_batch_candidates}"
            )
        self.validate_justification(who, why)
        for pos, cand in enumerate(candidates):
            self.validate_candidate(cand, pos if len(candidates) > 1 else None)
        policy = self.settings.purpose(why.purpose)
        if open_requests and not policy.allows_disclosure:
            raise PreconditionError(
                f"purpose {why.purpose} allows only a hit/no-hit answer; check again without opening requests"
            )
        now = self.clock()
        try:
            self.quotas.charge(
                org=who.org, officer=why.officer_id, purpose=why.purpose, cost=len(candidates), now_ms=now
            )
        except Exception as exc:
            self._log_quota_denial(who, why, str(exc))
            raise
        matched, orgs, stale = self._match(candidates, now)
        results: list[CheckResult] = []
        with self.audit.transaction(now) as tx:
            for pos, cand in enumerate(candidates):
                check_id = uuid.uuid4().hex
                hits: list[ForceHit] = []
                found = matched[pos]
                for f in np.nonzero(found.any(axis=0))[0]:
                    org = orgs[f]
                    hit_tokens = [t for t, m in zip(cand, found[:, f], strict=True) if m]
                    key_types = tuple(sorted({t.key_type for t in hit_tokens}))
                    strength = matchkeys.hit_strength(key_types)
                    if strength == 0:
                        continue
                    request_id = ""
                    if open_requests:
                        request_id = self._open_request(
                            tx, who, why, check_id, org, hit_tokens, key_types, strength, now
                        )
                    hits.append(
                        ForceHit(org=org, strength=strength, key_types=key_types, request_id=request_id)
                    )
                self.audit.append(
                    tx,
                    _event(
                        EventKind.CHECK,
                        who,
                        now,
                        {
                            "check_id": check_id,
                            "officer_id": why.officer_id,
                            "purpose": why.purpose,
                            "legal_basis": why.legal_basis,
                            "case_reference": why.case_reference,
                            "hits": ",".join(
                                h.org for h in hits
                            ),  # not "*_orgs": holders must not read others' hits
                            "requests": ",".join(h.request_id for h in hits if h.request_id),
                        },
                    ),
                )
                results.append(CheckResult(check_id=check_id, hits=tuple(hits)))
        if open_requests and any(r.hits for r in results):
            with self.request_opened:
                self.request_opened.notify_all()
        return CheckOutcome(
            results=tuple(results),
            forces_searched=len(orgs) - len(stale),
            stale_orgs=tuple(stale),
            tree_head=self.audit.head,
        )

    def _match(
        self, candidates: Sequence[Sequence[QueryToken]], now: int
    ) -> tuple[list[np.ndarray], list[str], list[str]]:
        """Per candidate a (tokens x forces) bool matrix. Every token is checked against every force of
        its epoch, hit or miss, in one vectorised pass per epoch (no early exit)."""
        # Snapshots first, then rows: a concurrent first publish adds its row before its snapshot, so
        # every force in ``snaps`` is in ``rows`` (and no dict is iterated while another thread grows it).
        snaps = dict(self._snapshots)
        rows_by_key = dict(self._index_rows)
        active = set(epochs.epochs_in_use(list(rows_by_key), self._retired_through))
        latest: dict[str, int] = {}  # one pass over the rows, not one per force
        for (o, e), r in rows_by_key.items():
            latest[o] = max(latest.get(o, 0), r.expires_at_ms if e in active else 0)
        orgs = sorted(latest)
        col = {o: i for i, o in enumerate(orgs)}
        stale = [o for o in orgs if latest[o] <= now]
        flat = [t for cand in candidates for t in cand]
        out = np.zeros((len(flat), len(orgs)), dtype=bool)
        token_epochs = np.array([t.epoch for t in flat], dtype=np.int64)
        for epoch, snap in snaps.items():
            if epoch not in active:
                continue
            rows = np.nonzero(token_epochs == epoch)[0]
            if rows.size == 0:
                continue
            tokens = index.token_array(b"".join(flat[i].token for i in rows))
            found = snap.check(tokens)
            expired = np.array([rows_by_key[(o, epoch)].expires_at_ms <= now for o in snap.orgs], dtype=bool)
            found &= ~expired
            cols = np.array([col[o] for o in snap.orgs], dtype=np.int64)
            out[np.ix_(rows, cols)] |= found
        split: list[np.ndarray] = []
        start = 0
        for cand in candidates:
            split.append(out[start : start + len(cand)])
            start += len(cand)
        return split, orgs, stale

    def _log_quota_denial(self, who: Identity, why: Justification, message: str) -> None:
        now = self.clock()
        with self.audit.transaction(now) as tx:
            self.audit.append(
                tx,
                _event(
                    EventKind.QUOTA_DENIED,
                    who,
                    now,
                    {"officer_id": why.officer_id, "purpose": why.purpose, "limit": message[:200]},
                ),
            )

    # ------------------------------------------------------------------ disclosure
    def _open_request(
        self,
        tx: object,
        who: Identity,
        why: Justification,
        check_id: str,
        holder: str,
        hit_tokens: Sequence[QueryToken],
        key_types: tuple[int, ...],
        strength: int,
        now: int,
    ) -> str:
        from crossforce.server.storage import Transaction

        assert isinstance(tx, Transaction)
        request_id = uuid.uuid4().hex
        packed = np.array([(t.key_type, t.epoch, t.token) for t in hit_tokens], dtype=TOKEN_RECORD).tobytes()
        idx = self.audit.append(
            tx, self._transition_event(who, request_id, holder, who.org, 0, disclosure.State.OPEN, now)
        )
        tx.insert_request(
            RequestRow(
                request_id=request_id,
                check_id=check_id,
                requester_org=who.org,
                holder_org=holder,
                purpose=why.purpose,
                legal_basis=why.legal_basis,
                case_reference=why.case_reference,
                officer_id=why.officer_id,
                key_types=key_types,
                strength=strength,
                tokens=packed,
                state=int(disclosure.State.OPEN),
                created_at_ms=now,
                deadline_ms=disclosure.deadline_for(why.purpose, now, self.settings),
                updated_at_ms=now,
                log_index=idx,
            )
        )
        return request_id

    @staticmethod
    def _transition_event(
        who: Identity,
        request_id: str,
        holder: str,
        requester: str,
        old: int,
        new: disclosure.State,
        now: int,
        **extra: str,
    ) -> Event:
        return _event(
            EventKind.DISCLOSURE_TRANSITION,
            who,
            now,
            {
                "request_id": request_id,
                "holder_org": holder,
                "requester_org": requester,
                "state_from": disclosure.State(old).name if old else "",
                "state_to": new.name,
                **extra,
            },
        )

    @staticmethod
    def unpack_tokens(packed: bytes) -> list[QueryToken]:
        arr = np.frombuffer(packed, dtype=TOKEN_RECORD)
        return [QueryToken(int(r["key_type"]), int(r["epoch"]), bytes(r["token"])) for r in arr]

    def _view(self, row: RequestRow | None) -> disclosure.RequestView | None:
        if row is None:
            return None
        return disclosure.RequestView(
            request_id=row.request_id,
            requester_org=row.requester_org,
            holder_org=row.holder_org,
            state=disclosure.State(row.state),
            created_at_ms=row.created_at_ms,
            deadline_ms=row.deadline_ms,
        )

    def get_request(self, who: Identity, request_id: str) -> RequestRow:
        _check_text("request_id", request_id, 64, required=True)
        row = self.storage.request(request_id)
        disclosure.authorise(
            disclosure.Action.VIEW, self._view(row), caller_org=who.org, caller_role=who.role
        )
        assert row is not None
        return row

    def list_requests(
        self, who: Identity, *, as_holder: bool, states: Sequence[int], limit: int
    ) -> list[RequestRow]:
        for s in states:
            if s not in {int(x) for x in disclosure.State}:
                raise ValidationError(f"unknown request state {s}")
        limit = min(limit or self.limits.max_list_results, self.limits.max_list_results)
        if as_holder:
            return self.storage.requests(holder=who.org, states=states, limit=limit)
        return self.storage.requests(requester=who.org, states=states, limit=limit)

    def transition(
        self,
        who: Identity,
        request_id: str,
        action: disclosure.Action,
        *,
        sealed: bytes | None = None,
        refusal_reason: int = 0,
        officer_id: str = "",
    ) -> RequestRow:
        _check_text("request_id", request_id, 64, required=True)
        if officer_id:
            _check_text("officer_id", officer_id, self.limits.max_text_chars, required=False)
        if sealed is not None and len(sealed) > self.limits.max_payload_bytes:
            raise TooLargeError(f"sealed payload exceeds {self.limits.max_payload_bytes} bytes")
        now = self.clock()
        with self._write_lock:
            row = self.storage.request(request_id)
            disclosure.authorise(action, self._view(row), caller_org=who.org, caller_role=who.role)
            assert row is not None
            new_state = disclosure.next_state(action, disclosure.State(row.state))
            extra: dict[str, str] = {}
            if officer_id:
                extra["officer_id"] = officer_id
            if refusal_reason:
                extra["reason"] = str(refusal_reason)
            sealed_sha = hashlib.sha256(sealed).digest() if sealed is not None else row.sealed_sha256
            if sealed is not None:
                extra["payload_sha256"] = sealed_sha.hex() if sealed_sha else ""
            with self.audit.transaction(now) as tx:
                idx = self.audit.append(
                    tx,
                    self._transition_event(
                        who,
                        row.request_id,
                        row.holder_org,
                        row.requester_org,
                        row.state,
                        new_state,
                        now,
                        **extra,
                    ),
                )
                updated = replace(
                    row,
                    state=int(new_state),
                    updated_at_ms=now,
                    log_index=idx,
                    refusal_reason=refusal_reason or row.refusal_reason,
                    sealed=sealed if sealed is not None else row.sealed,
                    sealed_sha256=sealed_sha,
                )
                tx.update_request(updated)
        return updated

    def fetch_disclosure(self, who: Identity, request_id: str) -> RequestRow:
        """Approved -> delivered on the first fetch; a repeat fetch returns the same ciphertext."""
        _check_text("request_id", request_id, 64, required=True)
        row = self.storage.request(request_id)
        disclosure.authorise(
            disclosure.Action.FETCH, self._view(row), caller_org=who.org, caller_role=who.role
        )
        assert row is not None
        if row.state == int(disclosure.State.DELIVERED):
            return row
        return self.transition(who, request_id, disclosure.Action.FETCH)

    def overdue(self, who: Identity, *, everyone: bool) -> list[RequestRow]:
        rows = self.storage.open_requests_before(self.clock())
        if everyone:
            return rows
        return [r for r in rows if who.org in (r.holder_org, r.requester_org)]

    def view(self, row: RequestRow) -> disclosure.RequestView:
        """What the disclosure policy needs to know about a stored request."""
        view = self._view(row)
        assert view is not None
        return view

    def is_overdue(self, row: RequestRow) -> bool:
        return disclosure.is_overdue(self.view(row), self.clock())

    # ------------------------------------------------------------------ audit reads
    def readable_entry(self, who: Identity, entry: bytes) -> bytes:
        """The event bytes if the caller may read them (auditors: all; others: their own events)."""
        if roles.sees_all_audit_entries(who.role) or who.org in AuditLog.concerns(entry):
            return entry
        try:
            kind = decode_event(entry).kind
        except ValidationError:
            return b""
        # Which keys an organisation registered is public: every client checks pins against it.
        return entry if kind in PUBLIC_EVENT_KINDS else b""


def _event(kind: EventKind, who: Identity, now: int, fields: Mapping[str, str]) -> Event:
    """An audit event by the caller (organisation and role from its certificate) at ``now``."""
    return Event(kind=kind, at_ms=now, actor_org=who.org, actor_role=who.role, fields=fields)


def _check_text(name: str, value: str, max_chars: int, *, required: bool) -> None:
    if required and not value.strip():
        raise ValidationError(f"{name} is required")
    if len(value) > max_chars:
        raise TooLargeError(f"{name} is longer than {max_chars} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(f"{name} contains control characters")
