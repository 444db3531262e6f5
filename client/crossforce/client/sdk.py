"""The force SDK's facade: one ``Client`` per organisation profile and role, over the matcher's services.

It encodes candidates into tokens locally (raw data never leaves this process), builds and publishes
indexes, keeps the local token store, seals and opens disclosures, pins other organisations' keys, and
checks every signed tree head it is shown against the last one it kept (an inconsistent head raises
VerificationError, loudly). Every public method returns ``crossforce.domain`` values, never protobuf,
and every failure is a ``crossforce.errors`` exception of the exact class the matcher raised.

Each job lives in its own module and the facade only wires them together:

- ``connection``: the channel, the stubs, error mapping (``Connection``);
- ``auditing``: the log key, tree heads, inclusion, entries and key pinning, through the pure trust rules
  (``trust``) and the file-locked trust store (``truststore``);
- ``publishing``: records -> tokens -> index -> signed header -> publish, in named steps; the tokens are
  staged as a generation of the local token store (``tokenstore``) and become current only once the
  matcher acknowledged the version (``publishplan`` guards a republish that would drop records);
- ``checking``: candidates -> tokens -> checks;
- ``desk``: the disclosure desk, holder and requester sides; a request is resolved against the
  generation of the index version it matched.

It runs over 400 lines: one short forwarding method per operation, which is what a facade is.

The facade itself speaks no protobuf. Tests and load tools that must speak the wire directly (hostile
inputs, timing, interception) do it through ``client.connection`` (``Connection``: the channel, the stubs,
``call``, ``stream``, ``rebind``), which is the SDK's inside rather than its public face.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc

from crossforce.auditlog.verify import LogSnapshot
from crossforce.client import officercreds
from crossforce.client.auditing import ENTRIES_PAGE, AuditReader, LogVerification
from crossforce.client.checking import DEFAULT_BATCH_SIZE, DEFAULT_MAX_WAIT_S, Checker, Wait
from crossforce.client.connection import DEFAULT_TIMEOUT_S, Connection
from crossforce.client.desk import DisclosureDesk, OnReopen
from crossforce.client.officercreds import OfficerCredentials
from crossforce.client.personpick import PersonPick
from crossforce.client.profile import Profile
from crossforce.client.profilekeys import anchors_of
from crossforce.client.publishing import (
    CHUNK_BYTES,
    DEFAULT_EXPIRY_DAYS,
    LIST_LIMIT,
    Checkpoint,
    Progress,
    Publisher,
    TokenTriple,
    no_checkpoint,
)
from crossforce.client.registering import Registrar
from crossforce.client.tokenstore import Generation, TokenStore
from crossforce.client.verifiedlog import VerifiedLog, verified_log_path
from crossforce.crypto import officer, sealed
from crossforce.domain import (
    Candidate,
    CheckReport,
    ConsistencyProof,
    DisclosureRequest,
    ForceHit,
    InclusionProof,
    Justification,
    LogEntry,
    MatcherStatus,
    OperatorReport,
    Organisation,
    OverdueReport,
    PublishReceipt,
    PublishResult,
    QueryToken,
    RefusalReason,
    RequestState,
    Resolution,
    SignedIndexHeader,
    SignedTreeHead,
)
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.index.partitioned import PartitionedIndex
from crossforce.wire import operations as wire_operations

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_EXPIRY_DAYS",
    "CheckReport",
    "Client",
    "ForceHit",
    "Justification",
    "PublishResult",
    "Resolution",
    "SignedIndexHeader",
]


def _encoded_credential(given: bytes | Path | None) -> bytes | None:
    """The encoded assertion in what a caller passed: a file path, a file's armoured bytes, or the
    encoded assertion itself (anything else is refused by ``officer.parse`` as malformed)."""
    if given is None:
        return None
    if isinstance(given, Path):
        return officercreds.load(given)
    if given.startswith(officer.ARMOUR_BEGIN.encode("ascii")):
        try:
            return officer.from_armoured(given.decode("ascii"))
        except UnicodeDecodeError:
            raise ValidationError("the officer credential is not text", field="officer_credential") from None
    return given


class Client:
    """One organisation acting in one role; close it (or use ``with``) to release the channel."""

    def __init__(
        self,
        profile: Profile,
        *,
        role: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        channel: grpc.Channel | None = None,
        publish_checkpoint: Checkpoint | None = None,
        officer_credential: bytes | Path | None = None,
    ) -> None:
        """``channel``: a ready channel that brings its own caller identity (the test kit's in-memory
        one); by default the profile's real channel for ``role`` is opened. ``publish_checkpoint``:
        called with each publish step's name once it is done (``publishing.STEPS``; tests kill here).
        ``officer_credential``: a pre-issued officer assertion (``crossforce officer issue``): the path of
        its file, the file's bytes, or the encoded assertion (``officercreds.load``). With one, a profile
        that holds no organisation key (an officer's workstation) checks as the officer it names."""
        self.profile = profile
        self.role = role
        self.timeout = timeout
        self.connection = (
            Connection.for_profile(profile, role=role, timeout=timeout)
            if channel is None
            else Connection(channel=channel, timeout=timeout)
        )
        self.connection.officers = OfficerCredentials.for_profile(
            profile, issued=_encoded_credential(officer_credential)
        )
        self._store: TokenStore | None = None
        trust_store = profile.trust_store()
        self._audit = AuditReader(
            connection=self.connection, trust_store=trust_store, anchors=anchors_of(profile)
        )
        self._registrar = Registrar(
            connection=self.connection, profile=profile, role=role, auditor=self._audit
        )
        self._publisher = Publisher(
            connection=self.connection,
            profile=profile,
            trust_store=trust_store,
            auditor=self._audit,
            token_store=lambda: self.store,
            open_requests=self._requests_needing_generations,
            checkpoint=publish_checkpoint or no_checkpoint,
        )
        self._checker = Checker(
            connection=self.connection, profile=profile, auditor=self._audit, status=self._publisher.status
        )
        self._desk = DisclosureDesk(
            connection=self.connection,
            profile=profile,
            auditor=self._audit,
            token_store=lambda: self.store,
            reconcile=self._publisher.reconcile,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()
        if self._store is not None:
            self._store.close()

    @property
    def store(self) -> TokenStore:
        """The local token store, opened on first use (only a holding force needs one)."""
        if self._store is None:
            self._store = TokenStore(self.profile.token_store_path)
        return self._store

    # ------------------------------------------------------------------ registry and keys
    def register(self) -> Organisation:
        """Register this organisation's keys, bound to its certificate on first registration (a repeat
        changes nothing); then check its own logged key history. Returns the keys as stored."""
        return self._registrar.register()

    def rotate_keys(self) -> Organisation:
        """Replace this organisation's keys, handed over by the current signing key (``Registrar.rotate``)."""
        return self._registrar.rotate()

    def check_own_keys(self) -> Organisation:
        """Alarm (VerificationError) on a logged key event for this organisation its keys did not make."""
        return self._audit.check_own_keys()

    def organisation_keys(self, org: str) -> Organisation:
        return self._audit.organisation_keys(org)

    # ------------------------------------------------------------------ publishing
    def encode_records(
        self, records: Sequence[Record], *, epoch: int, progress: Progress | None = None
    ) -> list[TokenTriple]:
        return self._publisher.encode_records(records, epoch=epoch, progress=progress)

    def publish_records(
        self,
        records: Sequence[Record],
        *,
        epoch: int | None = None,
        expires_in_days: float = DEFAULT_EXPIRY_DAYS,
        progress: Progress | None = None,
        max_shrink: float | None = None,
    ) -> PublishResult:
        """See ``Publisher.publish_records``: staged, sent, current once acknowledged; ``max_shrink``
        refuses a publish dropping more than that share of the published records."""
        self.profile.org_keys()  # a workstation fails here, before anything is encoded or staged
        return self._publisher.publish_records(
            records, epoch=epoch, expires_in_days=expires_in_days, progress=progress, max_shrink=max_shrink
        )

    def reconcile(self) -> list[Generation]:
        """Settle staged token-store generations with the matcher (``Publisher.reconcile``)."""
        return self._publisher.reconcile()

    def _requests_needing_generations(self) -> list[DisclosureRequest]:
        return self._desk.list_requests(
            as_holder=True, states=(RequestState.OPEN, RequestState.CONFIRMED), limit=LIST_LIMIT
        )

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
        return self._publisher.signed_header(
            built,
            epoch=epoch,
            token_count=token_count,
            record_count=record_count,
            expires_in_days=expires_in_days,
            version=version,
        )

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
        return self._publisher.publish_index(
            built,
            epoch=epoch,
            token_count=token_count,
            record_count=record_count,
            expires_in_days=expires_in_days,
            version=version,
        )

    def publish_stream(self, signed: SignedIndexHeader, bits: bytes) -> PublishReceipt:
        return self._publisher.publish_stream(signed, bits)

    def status(self) -> MatcherStatus:
        return self._publisher.status()

    # ------------------------------------------------------------------ checks
    def candidate_tokens(self, candidate: Record, epochs: Sequence[int]) -> list[QueryToken]:
        return self._checker.candidate_tokens(candidate, epochs)

    def candidate(self, record: Record, epochs: Sequence[int]) -> Candidate | None:
        """``record`` as a check sends it: packed tokens and name classes (None: no match key)."""
        return self._checker.candidate(record, epochs)

    def check(self, candidate: Record, why: Justification, *, open_requests: bool = True) -> CheckReport:
        return self._checker.check(candidate, why, open_requests=open_requests)

    def check_batch(
        self,
        candidates: Sequence[Record],
        why: Justification,
        *,
        open_requests: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> list[CheckReport]:
        return self._checker.check_batch(
            candidates,
            why,
            open_requests=open_requests,
            batch_size=batch_size,
            progress=progress,
            max_wait_s=max_wait_s,
        )

    def check_batches(
        self,
        candidates: Sequence[Record],
        why: Justification,
        *,
        open_requests: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        on_wait: Wait | None = None,
        sleep: Wait = time.sleep,
    ) -> Iterator[list[CheckReport]]:
        """Reports sub-batch by sub-batch (``Checker.check_batches``), so a caller writes as it goes."""
        return self._checker.check_batches(
            candidates,
            why,
            open_requests=open_requests,
            batch_size=batch_size,
            max_wait_s=max_wait_s,
            on_wait=on_wait,
            sleep=sleep,
        )

    def ping(self) -> None:
        self._checker.ping()

    # ------------------------------------------------------------------ disclosure
    def list_requests(
        self, *, as_holder: bool, states: Sequence[RequestState | int] = (), limit: int = 0
    ) -> list[DisclosureRequest]:
        return self._desk.list_requests(as_holder=as_holder, states=states, limit=limit)

    def watch_requests(
        self,
        *,
        timeout: float | None = None,
        as_holder: bool = True,
        states: Sequence[RequestState | int] = (),
        on_reopen: OnReopen | None = None,
    ) -> Iterator[DisclosureRequest]:
        """Requests as they change state (holder: against this force; else: opened by this organisation).
        A lost stream is reopened and nothing is yielded twice (``desk.follow_watch``); ``on_reopen``
        hears of each reopening.

        Every ``request_id`` argument of the disclosure methods may be a prefix of 6+ hex characters."""
        return self._desk.watch_requests(
            timeout=timeout, as_holder=as_holder, states=states, on_reopen=on_reopen
        )

    def get_request(self, request_id: str) -> DisclosureRequest:
        return self._desk.get_request(request_id)

    def resolve(self, request_id: str, *, record_id: str | None = None) -> Resolution:
        """Resolve to one person (``record_id``: the officer's choice when the tokens name no one person)."""
        return self._desk.resolve(request_id, record_id=record_id)

    def person_pick(self, request: DisclosureRequest) -> PersonPick:
        return self._desk.person_pick(request)

    def local_matches(self, request: DisclosureRequest) -> tuple[Record, ...]:
        return self._desk.local_matches(request)

    def approve(
        self, request_id: str, payload: sealed.DisclosurePayload, *, officer_id: str
    ) -> DisclosureRequest:
        self.profile.org_keys()  # the holder's signature: a workstation fails before anything is sent
        return self._desk.approve(request_id, payload, officer_id=officer_id)

    def refuse(self, request_id: str, reason: RefusalReason | int, *, officer_id: str) -> DisclosureRequest:
        return self._desk.refuse(request_id, reason, officer_id=officer_id)

    def fetch_disclosure(self, request_id: str, *, allow_unbound: bool = False) -> sealed.DisclosurePayload:
        return self.open_disclosure(request_id, allow_unbound=allow_unbound).payload

    def open_disclosure(self, request_id: str, *, allow_unbound: bool = False) -> sealed.OpenedDisclosure:
        """As ``fetch_disclosure``, and says whether the disclosure was recipient-bound (only a disclosure
        sealed before this release, opened with ``allow_unbound``, is not). A profile without the
        organisation's box key (a workstation) fails before fetching: a fetch marks the request delivered."""
        self.profile.org_keys()
        return self._desk.open_disclosure(request_id, allow_unbound=allow_unbound)

    def overdue_report(self) -> OverdueReport:
        return self._desk.overdue_report()

    # ------------------------------------------------------------------ audit
    def log_key(self) -> bytes:
        return self._audit.log_key()

    def tree_head(self) -> SignedTreeHead:
        return self._audit.tree_head()

    def shown_head(self) -> SignedTreeHead:
        """The matcher's latest head as shown, not yet verified or kept (for a monitor to judge)."""
        return self._audit.shown_head()

    def last_head(self) -> SignedTreeHead | None:
        return self._audit.last_head()

    def observe_head(self, head: SignedTreeHead) -> SignedTreeHead:
        return self._audit.observe_head(head)

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """The matcher's proof that its log of size ``first`` is a prefix of the one of size ``second``
        (returned as sent; verify it with ``crossforce.auditlog.merkle.verify_consistency``)."""
        return self._audit.consistency_proof(first, second)

    def inclusion(self, leaf_index: int) -> InclusionProof:
        return self._audit.inclusion(leaf_index)

    def entries(self, start: int, end: int, *, page: int = ENTRIES_PAGE) -> Iterator[LogEntry]:
        return self._audit.entries(start, end, page=page)

    def verify_log(
        self, *, full: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> LogVerification:
        """Verify the whole log, fetching only the entries added since this profile and role last verified
        it (``full``: every entry again); the verified copy is kept in the profile (``verifiedlog``)."""
        with VerifiedLog(verified_log_path(self.profile.path, self.role)) as store:
            return self._audit.verify_log(store, full=full, progress=progress)

    def verified_log(self) -> LogSnapshot:
        """The log as ``verify_log`` last verified it for this profile and role, read from the profile."""
        with VerifiedLog(verified_log_path(self.profile.path, self.role)) as store:
            return store.snapshot(self.log_key())

    def report(self) -> OperatorReport:
        msg = self.connection.call(self.connection.operations.Report, wire_operations.report_request())
        return wire_operations.operator_report_from_pb(msg)
