"""Audit event records: the canonical bytes of every entry of the matcher's Merkle log (pure).

This is the byte format; ``crossforce.auditlog.events`` gives each kind its own typed dataclass over it,
and producers and readers use those types. A record is kind, time, actor and text fields.

An event is stored exactly as the bytes that were hashed into the log (RFC 9162 2.1.1: the leaf is
SHA-256(0x00 || entry)), so the encoding must be deterministic and the decoder strict: one event has
exactly one encoding, and any other byte string is a ValidationError, never a second reading.

Encoding (big-endian; layout repeated in docs/audit.md)::

    magic "cfev" || version u8 (= 1) || kind u16 || at_ms u64
    || actor_org (u16 length || UTF-8) || actor_role (u16 length || UTF-8)
    || field count u16 || fields sorted by the UTF-8 bytes of the key, keys unique:
       key (u16 length || UTF-8) || value (u32 length || UTF-8)

Fields named ``org``, ending in ``_org`` or in ``_orgs`` (a comma-separated list) must hold organisation
codes: that is part of what the strict decoder accepts. Who may *read* an event is not read from these
names: it is a property of the event's type (``AuditEvent.readers``).
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from crossforce.auditlog import merkle
from crossforce.bytereader import ByteReader
from crossforce.errors import ValidationError

EVENT_FORMAT_VERSION = 1
EVENT_MAGIC = b"cfev"

MAX_EVENT_BYTES = 64 * 1024
MAX_FIELDS = 32
MAX_KEY_BYTES = 64
MAX_VALUE_BYTES = 8 * 1024
MAX_ORG_BYTES = 64
MAX_ROLE_BYTES = 64
_U64_MAX = 2**64 - 1

_PREFIX = struct.Struct(">4sBHQ")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_KEY_RE = re.compile(r"[a-z][a-z0-9_]*")
_ORG_RE = re.compile(r"[^\s,\x00-\x1f\x7f]+")
"""An organisation code: no whitespace, commas or control characters (commas separate lists)."""

ORG_FIELD = "org"
ORG_FIELD_SUFFIX = "_org"
ORG_LIST_FIELD_SUFFIX = "_orgs"


class EventKind(enum.IntEnum):
    """What happened. Values are part of the format: never renumber, only append."""

    REGISTRATION = 1
    KEY_CHANGE = 2
    PUBLISH_ACCEPTED = 3
    PUBLISH_REFUSED = 4
    CHECK = 5
    QUOTA_DENIED = 6
    DISCLOSURE_TRANSITION = 7
    EPOCH_CHANGE = 8
    REVOCATION = 9
    RATE_ANOMALY = 10


def _is_org_field(key: str) -> bool:
    return key == ORG_FIELD or key.endswith(ORG_FIELD_SUFFIX)


def _utf8(value: object, field: str, limit: int) -> bytes:
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("must be valid Unicode text", field=field) from exc
    if len(raw) > limit:
        raise ValidationError(f"must be at most {limit} bytes of UTF-8", field=field)
    return raw


def _check_org(value: str, field: str) -> None:
    if not _ORG_RE.fullmatch(value) or len(value.encode("utf-8")) > MAX_ORG_BYTES:
        raise ValidationError(
            f"must be an organisation code (at most {MAX_ORG_BYTES} bytes, no spaces or commas)", field=field
        )


def split_orgs(value: str) -> list[str]:
    """The organisation codes in a ``*_orgs`` field (the empty string names none)."""
    return value.split(",") if value else []


@dataclass(frozen=True)
class Event:
    """One audit event. ``fields`` is text only; it is copied into a read-only mapping sorted by key."""

    kind: EventKind
    at_ms: int
    actor_org: str
    actor_role: str
    fields: Mapping[str, str]

    def __post_init__(self) -> None:
        try:
            kind = EventKind(self.kind)
        except ValueError as exc:
            raise ValidationError(f"unknown event kind {self.kind!r}", field="kind") from exc
        if isinstance(self.at_ms, bool) or not isinstance(self.at_ms, int) or not 0 <= self.at_ms <= _U64_MAX:
            raise ValidationError("must be an unsigned 64-bit integer", field="at_ms")
        _utf8(self.actor_org, "actor_org", MAX_ORG_BYTES)
        _check_org(self.actor_org, "actor_org")
        _utf8(self.actor_role, "actor_role", MAX_ROLE_BYTES)
        if not isinstance(self.fields, Mapping):
            raise ValidationError("must be a mapping of text to text", field="fields")
        if len(self.fields) > MAX_FIELDS:
            raise ValidationError(f"at most {MAX_FIELDS} fields", field="fields")
        items: list[tuple[bytes, str, str]] = []
        for key, value in self.fields.items():
            raw_key = _utf8(key, "fields", MAX_KEY_BYTES)
            if not _KEY_RE.fullmatch(key):
                raise ValidationError("keys must be lower-case ASCII words ([a-z][a-z0-9_]*)", field="fields")
            _utf8(value, key, MAX_VALUE_BYTES)
            if _is_org_field(key):
                _check_org(value, key)
            elif key.endswith(ORG_LIST_FIELD_SUFFIX):
                for org in split_orgs(value):
                    _check_org(org, key)
            items.append((raw_key, key, value))
        items.sort()
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "fields", MappingProxyType({key: value for _, key, value in items}))

    def __hash__(self) -> int:
        return hash((self.kind, self.at_ms, self.actor_org, self.actor_role, tuple(self.fields.items())))


def encode_event(e: Event) -> bytes:
    """The canonical bytes of ``e``: what is stored and what the log hashes."""
    parts = [_PREFIX.pack(EVENT_MAGIC, EVENT_FORMAT_VERSION, e.kind, e.at_ms)]
    for text in (e.actor_org, e.actor_role):
        raw = text.encode("utf-8")
        parts += (_U16.pack(len(raw)), raw)
    parts.append(_U16.pack(len(e.fields)))
    for key, value in e.fields.items():  # already sorted by UTF-8 key bytes
        raw_key, raw_value = key.encode("utf-8"), value.encode("utf-8")
        parts += (_U16.pack(len(raw_key)), raw_key, _U32.pack(len(raw_value)), raw_value)
    data = b"".join(parts)
    if len(data) > MAX_EVENT_BYTES:
        raise ValidationError(f"encoded event is {len(data)} bytes, more than {MAX_EVENT_BYTES}")
    return data


def event_leaf_hash(e: Event) -> bytes:
    """The Merkle leaf hash of ``e`` (RFC 9162 2.1.1)."""
    return merkle.leaf_hash(encode_event(e))


def decode_event(b: bytes) -> Event:
    """Parse an encoded event; anything but the one canonical encoding is a ValidationError."""
    if not isinstance(b, bytes | bytearray | memoryview):
        raise ValidationError("an event must be bytes")
    data = bytes(b)
    if len(data) > MAX_EVENT_BYTES:
        raise ValidationError(f"event is {len(data)} bytes, more than {MAX_EVENT_BYTES}")
    reader = ByteReader(data, "event")
    magic, version, kind_value, at_ms = _PREFIX.unpack(reader.take(_PREFIX.size, "header"))
    if magic != EVENT_MAGIC:
        raise ValidationError("not an audit event (bad magic)")
    if version != EVENT_FORMAT_VERSION:
        raise ValidationError(f"unknown event format version {version}")
    try:
        kind = EventKind(kind_value)
    except ValueError as exc:
        raise ValidationError(f"unknown event kind {kind_value}", field="kind") from exc
    _, actor_org = reader.text(_U16, MAX_ORG_BYTES, "actor_org")
    _, actor_role = reader.text(_U16, MAX_ROLE_BYTES, "actor_role")
    (count,) = _U16.unpack(reader.take(_U16.size, "field count"))
    if count > MAX_FIELDS:
        raise ValidationError(f"event has {count} fields, more than {MAX_FIELDS}")
    fields: dict[str, str] = {}
    previous: bytes | None = None
    for _ in range(count):
        raw_key, key = reader.text(_U16, MAX_KEY_BYTES, "field key")
        if previous is not None and raw_key <= previous:
            raise ValidationError("event fields are not in strictly increasing key order")
        previous = raw_key
        _, fields[key] = reader.text(_U32, MAX_VALUE_BYTES, "field value")
    if not reader.done():
        raise ValidationError("trailing bytes after the event")
    return Event(kind=kind, at_ms=at_ms, actor_org=actor_org, actor_role=actor_role, fields=fields)
