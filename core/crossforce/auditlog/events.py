"""Typed audit events: one frozen dataclass per kind, produced and read through the same type (pure).

Why: events used to be ``dict[str, str]`` whose readability rested on a key-suffix convention. Here each
kind is a class whose fields are typed (ints, bytes, tuples), and which organisations may read an event
is an explicit property of its type:

- ``readers()``: the organisations an event of this kind concerns (always the actor; plus the named
  organisation for registrations and publishes; plus both parties for a disclosure transition). A CHECK
  names the forces that hit, but they are *not* readers: a holding force learns of a check through the
  request opened to it, never which other forces also hit.
- ``PUBLIC``: kinds every organisation may read (registrations, key changes, epoch changes: clients
  check pinned keys against them).

The bytes are those of ``crossforce.auditlog.record`` (docs/audit.md), unchanged: a typed event converts
to exactly the record the matcher has always written, and ``parse_event`` accepts a record only if
converting it back gives the same record, so ``encode(parse_event(b)) == b`` for every accepted ``b``.
Field conventions inside the record: ints as decimal text, bytes as lower-case hex,
lists (non-empty items, no commas) comma-joined, optional fields (``OPTIONAL``) omitted when empty or
zero. The module is over 400 lines because every kind's type sits beside the one conversion they share,
so the whole format reads in one place (docs/audit.md lists the same kinds).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, get_type_hints

from crossforce.auditlog.record import (
    EVENT_FORMAT_VERSION,
    EVENT_MAGIC,
    MAX_EVENT_BYTES,
    MAX_FIELDS,
    MAX_KEY_BYTES,
    MAX_ORG_BYTES,
    MAX_ROLE_BYTES,
    MAX_VALUE_BYTES,
    Event,
    EventKind,
    decode_event,
    encode_event,
    event_leaf_hash,
)
from crossforce.errors import ValidationError

__all__ = [
    "AUDIT_EVENT_TYPES",
    "EVENT_FORMAT_VERSION",
    "EVENT_MAGIC",
    "MAX_EVENT_BYTES",
    "MAX_FIELDS",
    "MAX_KEY_BYTES",
    "MAX_ORG_BYTES",
    "MAX_ROLE_BYTES",
    "MAX_VALUE_BYTES",
    "AuditEvent",
    "Check",
    "DisclosureTransition",
    "EpochChange",
    "Event",
    "EventKind",
    "KeyChange",
    "PublishAccepted",
    "PublishRefused",
    "QuotaDenied",
    "RateAnomaly",
    "Registration",
    "Revocation",
    "decode_event",
    "encode_event",
    "event_leaf_hash",
    "from_record",
    "parse_event",
]

_E = TypeVar("_E", bound="AuditEvent")
_COMMON = ("at_ms", "actor_org", "actor_role")


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    """``get_type_hints`` once per event class: it costs about 240 us, and every parsed entry asks."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """What every event records: when, and who acted (organisation and role from its certificate)."""

    KIND: ClassVar[EventKind]
    PUBLIC: ClassVar[bool] = False
    """Readable by every organisation."""
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the record when empty or zero."""

    at_ms: int
    actor_org: str
    actor_role: str

    def readers(self) -> frozenset[str]:
        """The organisations this event concerns (auditors read every event; see ``PUBLIC``)."""
        return frozenset({self.actor_org})

    def readable_by(self, org: str) -> bool:
        return self.PUBLIC or org in self.readers()

    @property
    def kind(self) -> EventKind:
        return self.KIND

    def record(self) -> Event:
        """The record this event is stored as (validates every value against the record format)."""
        fields: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name in _COMMON:
                continue
            value = getattr(self, f.name)
            if f.name in self.OPTIONAL and not value:
                continue
            fields[f.name] = _to_text(value, f.name)
        return Event(
            kind=self.KIND,
            at_ms=self.at_ms,
            actor_org=self.actor_org,
            actor_role=self.actor_role,
            fields=fields,
        )

    def stored_fields(self) -> Mapping[str, str]:
        """The fields as the record stores them (text, sorted by key): for export and display only."""
        return self.record().fields

    def encode(self) -> bytes:
        """The canonical bytes stored in the log and hashed into its leaf."""
        return encode_event(self.record())

    @classmethod
    def from_record(cls: type[_E], record: Event) -> _E:
        """The typed event of ``record``; ValidationError unless it is exactly what this type writes."""
        if record.kind != cls.KIND:
            raise ValidationError(f"a {record.kind.name} record is not a {cls.KIND.name} event", field="kind")
        hints = _type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.name not in _COMMON]
        unknown = set(record.fields) - set(names)
        if unknown:
            raise ValidationError(f"unexpected {cls.KIND.name} field {sorted(unknown)[0]}", field="fields")
        values: dict[str, Any] = {}
        for name in names:
            if name in record.fields:
                values[name] = _from_text(record.fields[name], hints[name], name)
            elif name not in cls.OPTIONAL:
                raise ValidationError(f"{cls.KIND.name} event lacks its {name} field", field=name)
        event = cls(at_ms=record.at_ms, actor_org=record.actor_org, actor_role=record.actor_role, **values)
        if event.record() != record:
            raise ValidationError(f"not the canonical form of a {cls.KIND.name} event", field="fields")
        return event


def _to_text(value: object, name: str) -> str:
    if isinstance(value, bool):
        raise ValidationError("a flag is not an event field", field=name)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        if any(not item or "," in item for item in value):
            raise ValidationError("list items must be non-empty and contain no comma", field=name)
        return ",".join(value)
    if isinstance(value, str):
        return value
    raise ValidationError(f"cannot store a {type(value).__name__} in an event", field=name)


def _from_text(text: str, typ: object, name: str) -> object:
    try:
        if typ is int:
            return int(text)
        if typ is bytes:
            return bytes.fromhex(text)
        if typ == tuple[str, ...]:
            items = tuple(text.split(",")) if text else ()
            if not all(items):
                raise ValidationError(f"{name} has an empty list item", field=name)
            return items
    except ValueError as exc:
        raise ValidationError(f"{name} is not in its stored form", field=name) from exc
    return text


def _parties(*orgs: str) -> frozenset[str]:
    return frozenset(o for o in orgs if o)


@dataclass(frozen=True, kw_only=True)
class Registration(AuditEvent):
    """An organisation registered its public keys (version 1). Public: clients pin keys against it.

    ``certificate`` (DER) and ``certificate_proof`` bind the keys to the CA-issued certificate that
    registered them (``orgkeys.verify_key_binding``); events written before key continuity, or by a
    matcher in development mode (no certificate), have neither and no client with a CA pins them.
    """

    KIND = EventKind.REGISTRATION
    PUBLIC = True
    OPTIONAL = frozenset({"certificate", "certificate_proof"})

    org: str
    signing_key: bytes
    box_key: bytes
    key_version: int
    certificate: bytes = b""
    certificate_proof: bytes = b""

    def readers(self) -> frozenset[str]:
        return _parties(self.actor_org, self.org)


@dataclass(frozen=True, kw_only=True)
class KeyChange(Registration):
    """An organisation replaced its registered keys (``key_version`` > 1). Public, like a registration.

    ``previous_key_proof`` is the previous signing key's hand-over to these keys
    (``orgkeys.verify_key_change``); ``previous_log_index`` is the leaf of the version before, so the
    history can be walked back without scanning the log. Index 0 is stored as absent (the optional-field
    rule), so a reader must check that the linked event is this organisation's previous version.
    """

    KIND = EventKind.KEY_CHANGE
    OPTIONAL = frozenset({"certificate", "certificate_proof", "previous_key_proof", "previous_log_index"})

    previous_key_proof: bytes = b""
    previous_log_index: int = 0


@dataclass(frozen=True, kw_only=True)
class PublishAccepted(AuditEvent):
    """A force's index replaced the one serving for its epoch."""

    KIND = EventKind.PUBLISH_ACCEPTED

    org: str
    epoch: int
    version: int
    record_count: int
    token_count: int
    bits_sha256: bytes
    expires_at_ms: int

    def readers(self) -> frozenset[str]:
        return _parties(self.actor_org, self.org)


@dataclass(frozen=True, kw_only=True)
class PublishRefused(AuditEvent):
    """A publish was refused; ``reason`` is the error's class name, never request content.

    ``suppressed``: refusals of the same organisation and reason since the previous such event, not
    logged one by one (at most one is logged per organisation, reason and minute; issue 15)."""

    KIND = EventKind.PUBLISH_REFUSED
    OPTIONAL = frozenset({"suppressed"})

    reason: str
    suppressed: int = 0


@dataclass(frozen=True, kw_only=True)
class Check(AuditEvent):
    """One candidate checked. ``hits`` names the forces that matched, who are not its readers."""

    KIND = EventKind.CHECK
    OPTIONAL = frozenset({"cost", "officer_unverified"})

    check_id: str
    officer_id: str
    purpose: str
    legal_basis: str
    case_reference: str
    hits: tuple[str, ...]
    requests: tuple[str, ...]
    """Ids of the disclosure requests opened for the hits."""
    cost: int = 0
    """Quota units charged (spec v2: the sum of the tokens' date spans), so a restarted or following
    matcher charges its quota book exactly what was charged. 0 (omitted from the record, as in events
    written before spec v2) means one unit: ``charged_units``."""
    officer_unverified: int = 0
    """1: ``officer_id`` is the caller's free text, not an organisation-signed officer credential (a
    deployment with ``officer_credentials = "optional"``); omitted (0) when verified, as in earlier events."""

    @property
    def charged_units(self) -> int:
        return max(1, self.cost)


@dataclass(frozen=True, kw_only=True)
class QuotaDenied(AuditEvent):
    """A check refused by a quota; ``limit`` is the refusal text (bounded, no request content).

    ``suppressed``: as ``PublishRefused.suppressed`` (per organisation, purpose and limit)."""

    KIND = EventKind.QUOTA_DENIED
    OPTIONAL = frozenset({"suppressed", "officer_unverified"})

    officer_id: str
    purpose: str
    limit: str
    suppressed: int = 0
    officer_unverified: int = 0
    """As ``Check.officer_unverified``."""


@dataclass(frozen=True, kw_only=True)
class DisclosureTransition(AuditEvent):
    """A disclosure request opened (``state_from`` empty) or moved; both parties may read it."""

    KIND = EventKind.DISCLOSURE_TRANSITION
    OPTIONAL = frozenset({"officer_id", "reason", "payload_sha256", "officer_unverified"})

    request_id: str
    holder_org: str
    requester_org: str
    state_from: str
    """The state's name (``OPEN``...), empty when the request is opened."""
    state_to: str
    officer_id: str = ""
    reason: int = 0
    """The refusal reason's number (proto ``RefusalReason``), 0 when not a refusal."""
    payload_sha256: bytes = b""
    """SHA-256 of the sealed payload, on approval."""
    officer_unverified: int = 0
    """As ``Check.officer_unverified``: the deciding officer's id was typed, not proved."""

    def readers(self) -> frozenset[str]:
        return _parties(self.actor_org, self.holder_org, self.requester_org)


@dataclass(frozen=True, kw_only=True)
class EpochChange(AuditEvent):
    """The operator's act on the network-secret epochs, with the state it leaves: an activation (the
    current epoch grows), a retirement (``retired_through`` grows), or the state a matcher starts from
    (actor ``matcher``, once). Public: every force must republish under the current epoch, and a monitor
    checks the epoch against those announced out of band. Events written before operator epochs were
    retirements the matcher derived from publishes.

    ``force_override`` (1) marks a retirement the operator forced while ``cut_off`` (forces serving an
    index only on the retired epoch) still had no index under the current one; both are omitted otherwise,
    so earlier records parse unchanged."""

    KIND = EventKind.EPOCH_CHANGE
    PUBLIC = True
    OPTIONAL = frozenset({"force_override", "cut_off"})

    retired_through: int
    current_epoch: int
    force_override: int = 0
    cut_off: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Revocation(AuditEvent):
    """A certificate or organisation was revoked (reserved: the matcher does not write it yet)."""

    KIND = EventKind.REVOCATION
    OPTIONAL = frozenset({"reason"})

    org: str
    reason: str = ""

    def readers(self) -> frozenset[str]:
        return _parties(self.actor_org, self.org)


@dataclass(frozen=True, kw_only=True)
class RateAnomaly(AuditEvent):
    """The matcher's anomaly alarm fired on ``org``'s demand (``detail``: the matcher's own text, the
    units charged in the window and their ratio to the average; never request content).

    Logged so the operator's alert outlives a restart (issue 15, finding 12). The actor is the matcher
    (``matcher``, role ``operator``), not the organisation: only auditors read it, so an organisation
    probing the network is not told that it has been noticed."""

    KIND = EventKind.RATE_ANOMALY

    org: str
    detail: str


AUDIT_EVENT_TYPES: Mapping[EventKind, type[AuditEvent]] = types.MappingProxyType(
    {
        cls.KIND: cls
        for cls in (
            Registration,
            KeyChange,
            PublishAccepted,
            PublishRefused,
            Check,
            QuotaDenied,
            DisclosureTransition,
            EpochChange,
            Revocation,
            RateAnomaly,
        )
    }
)
"""The one type of each kind; every ``EventKind`` has exactly one."""


def from_record(record: Event) -> AuditEvent:
    """The typed event of a decoded record (ValidationError if it is not what its kind writes)."""
    return AUDIT_EVENT_TYPES[record.kind].from_record(record)


def parse_event(entry: bytes) -> AuditEvent:
    """The typed event stored as ``entry``; ValidationError for anything else."""
    return from_record(decode_event(entry))
