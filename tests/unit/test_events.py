"""Audit events: one canonical encoding, a strict decoder, and who each event concerns."""

from __future__ import annotations

import struct
from typing import TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.auditlog.events import (
    AUDIT_EVENT_TYPES,
    EVENT_FORMAT_VERSION,
    EVENT_MAGIC,
    MAX_EVENT_BYTES,
    MAX_FIELDS,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    AuditEvent,
    Check,
    DisclosureTransition,
    EpochChange,
    Event,
    EventKind,
    KeyChange,
    PublishAccepted,
    PublishRefused,
    QuotaDenied,
    RateAnomaly,
    Registration,
    Revocation,
    decode_event,
    encode_event,
    event_leaf_hash,
    parse_event,
)
from crossforce.auditlog.merkle import leaf_hash
from crossforce.errors import ValidationError

CHECK = Event(
    kind=EventKind.CHECK,
    at_ms=1_700_000_000_123,
    actor_org="humberside",
    actor_role="vetting",
    fields={
        "officer_id": "HB1234",
        "purpose": "pre-employment vetting",
        "legal_basis": "DPA 2018 s.35",
        "case_reference": "VET/2024/0042",
        "hit_orgs": "kent,west-yorkshire",
        "request_id": "r-1",
    },
)


def _text16(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value


def _raw(
    *,
    magic: bytes = EVENT_MAGIC,
    version: int = EVENT_FORMAT_VERSION,
    kind: int = 5,
    at_ms: int = 1,
    actor_org: bytes = b"kent",
    actor_role: bytes = b"vetting",
    fields: list[tuple[bytes, bytes]] | None = None,
    count: int | None = None,
) -> bytes:
    """Hand-assemble an event encoding, so malformed ones can be built field by field."""
    fields = [] if fields is None else fields
    out = struct.pack(">4sBHQ", magic, version, kind, at_ms) + _text16(actor_org) + _text16(actor_role)
    out += struct.pack(">H", len(fields) if count is None else count)
    for key, value in fields:
        out += _text16(key) + struct.pack(">I", len(value)) + value
    return out


# --- the format -----------------------------------------------------------------------------------


def test_encoding_is_the_documented_layout() -> None:
    event = Event(
        kind=EventKind.QUOTA_DENIED,
        at_ms=258,
        actor_org="kent",
        actor_role="vetting",
        fields={"z": "1", "a": "é"},
    )
    assert encode_event(event) == (
        b"cfev\x01"
        + b"\x00\x06"
        + b"\x00\x00\x00\x00\x00\x00\x01\x02"
        + b"\x00\x04kent"
        + b"\x00\x07vetting"
        + b"\x00\x02"
        + b"\x00\x01a\x00\x00\x00\x02\xc3\xa9"
        + b"\x00\x01z\x00\x00\x00\x011"
    )
    assert encode_event(event) == _raw(kind=6, at_ms=258, fields=[(b"a", "é".encode()), (b"z", b"1")])


def test_encoding_does_not_depend_on_field_order() -> None:
    reordered = Event(
        kind=CHECK.kind,
        at_ms=CHECK.at_ms,
        actor_org=CHECK.actor_org,
        actor_role=CHECK.actor_role,
        fields=dict(reversed(list(CHECK.fields.items()))),
    )
    assert reordered == CHECK
    assert encode_event(reordered) == encode_event(CHECK)
    assert list(CHECK.fields) == sorted(CHECK.fields)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_round_trips(kind: EventKind) -> None:
    event = Event(kind=kind, at_ms=0, actor_org="matcher", actor_role="", fields={"org": "kent"})
    assert decode_event(encode_event(event)) == event


def test_round_trip_of_a_check() -> None:
    decoded = decode_event(encode_event(CHECK))
    assert decoded == CHECK
    assert decoded.kind is EventKind.CHECK
    assert hash(decoded) == hash(CHECK)


def test_leaf_hash_is_over_the_stored_bytes() -> None:
    assert event_leaf_hash(CHECK) == leaf_hash(encode_event(CHECK))


def test_fields_cannot_be_changed_after_construction() -> None:
    source = {"org": "kent"}
    event = Event(kind=EventKind.REGISTRATION, at_ms=1, actor_org="kent", actor_role="admin", fields=source)
    source["org"] = "essex"
    assert event.fields["org"] == "kent"
    with pytest.raises(TypeError):
        event.fields["org"] = "essex"  # type: ignore[index]


# --- construction rejects what could not be stored or attributed --------------------------------


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("unknown kind", {"kind": 999}),
        ("negative time", {"at_ms": -1}),
        ("time beyond u64", {"at_ms": 2**64}),
        ("time as bool", {"at_ms": True}),
        ("empty actor", {"actor_org": ""}),
        ("actor with a comma", {"actor_org": "kent,essex"}),
        ("actor with a space", {"actor_org": "kent police"}),
        ("actor too long", {"actor_org": "k" * 65}),
        ("role too long", {"actor_role": "r" * 65}),
        ("lone surrogate", {"actor_role": "\udc80"}),
        ("upper-case key", {"fields": {"Org": "kent"}}),
        ("empty key", {"fields": {"": "x"}}),
        ("key with a space", {"fields": {"case ref": "x"}}),
        ("key too long", {"fields": {"k" * (MAX_KEY_BYTES + 1): "x"}}),
        ("non-text value", {"fields": {"version": 3}}),
        ("value too long", {"fields": {"reason": "x" * (MAX_VALUE_BYTES + 1)}}),
        ("org field holding two orgs", {"fields": {"subject_org": "kent,essex"}}),
        ("empty org field", {"fields": {"org": ""}}),
        ("empty item in an org list", {"fields": {"hit_orgs": "kent,,essex"}}),
        ("too many fields", {"fields": {f"f{i}": "x" for i in range(MAX_FIELDS + 1)}}),
        ("fields not a mapping", {"fields": [("org", "kent")]}),
    ],
)
def test_malformed_events_are_rejected(name: str, change: dict[str, object]) -> None:
    base: dict[str, object] = {
        "kind": EventKind.CHECK,
        "at_ms": 1,
        "actor_org": "kent",
        "actor_role": "vetting",
        "fields": {},
    }
    with pytest.raises(ValidationError):
        Event(**{**base, **change})  # type: ignore[arg-type]


def test_event_over_the_size_bound_is_rejected() -> None:
    fields = {f"f{i}": "x" * MAX_VALUE_BYTES for i in range(MAX_FIELDS)}
    event = Event(kind=EventKind.CHECK, at_ms=1, actor_org="kent", actor_role="vetting", fields=fields)
    with pytest.raises(ValidationError):
        encode_event(event)


# --- the strict decoder ---------------------------------------------------------------------------

GOOD = _raw(fields=[(b"a", b"1"), (b"b", b"2")])


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("trailing byte", GOOD + b"\x00"),
        ("bad magic", _raw(magic=b"cfex")),
        ("unknown version", _raw(version=2)),
        ("version 0", _raw(version=0)),
        ("unknown kind", _raw(kind=0)),
        ("kind past the enum", _raw(kind=0xFFFF)),
        ("bad UTF-8 in actor", _raw(actor_org=b"k\xffnt")),
        ("overlong UTF-8 in role", _raw(actor_role=b"\xc0\xaf")),
        ("encoded surrogate in value", _raw(fields=[(b"a", b"\xed\xb2\x80")])),
        ("bad UTF-8 in key", _raw(fields=[(b"\xff", b"1")])),
        ("keys out of order", _raw(fields=[(b"b", b"2"), (b"a", b"1")])),
        ("duplicate keys", _raw(fields=[(b"a", b"1"), (b"a", b"2")])),
        ("count larger than fields", _raw(fields=[(b"a", b"1")], count=2)),
        ("count smaller than fields", _raw(fields=[(b"a", b"1"), (b"b", b"2")], count=1)),
        ("too many fields", _raw(count=MAX_FIELDS + 1)),
        ("key too long", _raw(fields=[(b"k" * (MAX_KEY_BYTES + 1), b"1")])),
        ("value too long", _raw(fields=[(b"a", b"x" * (MAX_VALUE_BYTES + 1))])),
        ("bad key characters", _raw(fields=[(b"A", b"1")])),
        ("actor org with a comma", _raw(actor_org=b"kent,essex")),
        ("empty actor", _raw(actor_org=b"")),
        ("value length past the end", GOOD[:-1] + b"\x00\x00\x00\x09" + b"x"),
        ("oversized input", GOOD + bytes(MAX_EVENT_BYTES)),
    ],
)
def test_malformed_bytes_are_rejected(name: str, data: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_event(data)


def test_every_truncation_is_rejected() -> None:
    data = encode_event(CHECK)
    for end in range(len(data)):
        with pytest.raises(ValidationError):
            decode_event(data[:end])


def test_decode_accepts_the_hand_built_encoding() -> None:
    assert decode_event(GOOD).fields == {"a": "1", "b": "2"}


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(ValidationError):
        decode_event("cfev")  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

_org = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters=","),
    min_size=1,
    max_size=16,
).filter(lambda s: len(s.encode()) <= 64 and not any(c.isspace() for c in s))
_key = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(
    lambda k: not (k == "org" or k.endswith(("_org", "_orgs")))
)
_value = st.text(st.characters(codec="utf-8"), max_size=40)
_events = st.builds(
    Event,
    kind=st.sampled_from(list(EventKind)),
    at_ms=st.integers(0, 2**64 - 1),
    actor_org=_org,
    actor_role=st.text(st.characters(codec="utf-8"), max_size=16).filter(lambda s: len(s.encode()) <= 64),
    fields=st.dictionaries(_key, _value, max_size=8).flatmap(
        lambda d: st.fixed_dictionaries(
            {},
            optional={"subject_org": _org, "hit_orgs": st.lists(_org, max_size=4).map(",".join)},
        ).map(lambda orgs: {**d, **orgs})
    ),
)


@settings(max_examples=300, deadline=None)
@given(_events)
def test_events_round_trip(event: Event) -> None:
    data = encode_event(event)
    assert decode_event(data) == event
    assert encode_event(decode_event(data)) == data


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"cfev\x01\x00\x05" + b)))
def test_decode_of_arbitrary_bytes_raises_only_validation_error(data: bytes) -> None:
    try:
        event = decode_event(data)
    except ValidationError:
        return
    assert encode_event(event) == data  # anything accepted is the one canonical encoding


@settings(max_examples=300, deadline=None)
@given(_events, st.data())
def test_damaged_encodings_are_rejected_or_canonical(event: Event, data: st.DataObject) -> None:
    encoded = bytearray(encode_event(event))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode_event(bytes(encoded))
    except ValidationError:
        return
    assert decoded != event
    assert encode_event(decoded) == bytes(encoded)


# ------------------------------------------------------------------------------------------ typed events
# Each kind as the matcher wrote it before events were typed (a dict of text), beside its typed form: the
# typed form must encode to exactly those bytes, so every stored log keeps verifying.
_AT, _SIGN, _BOX, _SHA = 1_700_000_000_123, bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))


class _Actor(TypedDict):
    at_ms: int
    actor_org: str
    actor_role: str


_ACTOR: _Actor = {"at_ms": _AT, "actor_org": "kent", "actor_role": "force-system"}
LEGACY_AND_TYPED: list[tuple[dict[str, str], AuditEvent]] = [
    (
        {"org": "kent", "signing_key": _SIGN.hex(), "box_key": _BOX.hex(), "key_version": "1"},
        Registration(**_ACTOR, org="kent", signing_key=_SIGN, box_key=_BOX, key_version=1),
    ),
    (
        {"org": "kent", "signing_key": _SIGN.hex(), "box_key": _BOX.hex(), "key_version": "2"},
        KeyChange(**_ACTOR, org="kent", signing_key=_SIGN, box_key=_BOX, key_version=2),
    ),
    (
        {
            "org": "kent",
            "epoch": "3",
            "version": "1700000000000",
            "record_count": "12",
            "token_count": "340",
            "bits_sha256": _SHA.hex(),
            "expires_at_ms": "1700086400000",
        },
        PublishAccepted(
            **_ACTOR,
            org="kent",
            epoch=3,
            version=1_700_000_000_000,
            record_count=12,
            token_count=340,
            bits_sha256=_SHA,
            expires_at_ms=1_700_086_400_000,
        ),
    ),
    ({"reason": "VerificationError"}, PublishRefused(**_ACTOR, reason="VerificationError")),
    (
        {
            "check_id": "c1",
            "officer_id": "DBS-1",
            "purpose": "school-staff-vetting",
            "legal_basis": "Police Act 1997 s113B",
            "case_reference": "VET/1",
            "hits": "humberside,essex",
            "requests": "r1,r2",
        },
        Check(
            **_ACTOR,
            check_id="c1",
            officer_id="DBS-1",
            purpose="school-staff-vetting",
            legal_basis="Police Act 1997 s113B",
            case_reference="VET/1",
            hits=("humberside", "essex"),
            requests=("r1", "r2"),
        ),
    ),
    (
        {"officer_id": "DBS-1", "purpose": "p", "limit": "org-rate: 10 checks per second"},
        QuotaDenied(**_ACTOR, officer_id="DBS-1", purpose="p", limit="org-rate: 10 checks per second"),
    ),
    (
        {
            "request_id": "r1",
            "holder_org": "essex",
            "requester_org": "kent",
            "state_from": "",
            "state_to": "OPEN",
        },
        DisclosureTransition(
            **_ACTOR,
            request_id="r1",
            holder_org="essex",
            requester_org="kent",
            state_from="",
            state_to="OPEN",
        ),
    ),
    (
        {
            "request_id": "r1",
            "holder_org": "essex",
            "requester_org": "kent",
            "state_from": "CONFIRMED",
            "state_to": "REFUSED",
            "officer_id": "DO-7",
            "reason": "2",
        },
        DisclosureTransition(
            **_ACTOR,
            request_id="r1",
            holder_org="essex",
            requester_org="kent",
            state_from="CONFIRMED",
            state_to="REFUSED",
            officer_id="DO-7",
            reason=2,
        ),
    ),
    (
        {
            "request_id": "r1",
            "holder_org": "essex",
            "requester_org": "kent",
            "state_from": "CONFIRMED",
            "state_to": "APPROVED",
            "officer_id": "DO-7",
            "payload_sha256": _SHA.hex(),
        },
        DisclosureTransition(
            **_ACTOR,
            request_id="r1",
            holder_org="essex",
            requester_org="kent",
            state_from="CONFIRMED",
            state_to="APPROVED",
            officer_id="DO-7",
            payload_sha256=_SHA,
        ),
    ),
    (
        {"retired_through": "1", "current_epoch": "3"},
        EpochChange(**_ACTOR, retired_through=1, current_epoch=3),
    ),
    (  # an operator's retirement forced past forces still only on the retired epoch (issue 15 item 3)
        {"retired_through": "2", "current_epoch": "3", "force_override": "1", "cut_off": "essex,kent"},
        EpochChange(
            **_ACTOR, retired_through=2, current_epoch=3, force_override=1, cut_off=("essex", "kent")
        ),
    ),
    ({"org": "essex"}, Revocation(**_ACTOR, org="essex")),
    (  # the matcher's anomaly alarm, kept for the operator's report (issue 15 finding 12)
        {"org": "dbs", "detail": "900 units so far in this 60 s window, 45.0x the average of 20.0"},
        RateAnomaly(
            **_ACTOR, org="dbs", detail="900 units so far in this 60 s window, 45.0x the average of 20.0"
        ),
    ),
    (  # a desk decision by an officer whose id was typed, not proved
        {
            "request_id": "r1",
            "holder_org": "kent",
            "requester_org": "dbs",
            "state_from": "CONFIRMED",
            "state_to": "REFUSED",
            "officer_id": "KENT-12",
            "reason": "1",
            "officer_unverified": "1",
        },
        DisclosureTransition(
            **_ACTOR,
            request_id="r1",
            holder_org="kent",
            requester_org="dbs",
            state_from="CONFIRMED",
            state_to="REFUSED",
            officer_id="KENT-12",
            reason=1,
            officer_unverified=1,
        ),
    ),
    (  # an officer id the caller typed, in a deployment that still allows it
        {"officer_id": "DBS-1", "purpose": "p", "limit": "daily", "officer_unverified": "1"},
        QuotaDenied(**_ACTOR, officer_id="DBS-1", purpose="p", limit="daily", officer_unverified=1),
    ),
]


def test_every_kind_has_exactly_one_type() -> None:
    assert set(AUDIT_EVENT_TYPES) == set(EventKind)
    assert {t.KIND for t in AUDIT_EVENT_TYPES.values()} == set(EventKind)
    assert {e.kind for _legacy, e in LEGACY_AND_TYPED} == set(EventKind)  # the table below covers all


@pytest.mark.parametrize(("legacy", "typed"), LEGACY_AND_TYPED, ids=lambda v: type(v).__name__)
def test_typed_event_stores_the_same_bytes_as_before(legacy: dict[str, str], typed: AuditEvent) -> None:
    before = encode_event(Event(kind=typed.kind, fields=legacy, **_ACTOR))
    assert typed.encode() == before
    assert parse_event(before) == typed
    assert parse_event(before).encode() == before
    assert type(parse_event(before)) is type(typed)


@pytest.mark.parametrize(("legacy", "typed"), LEGACY_AND_TYPED, ids=lambda v: type(v).__name__)
def test_readers_are_the_organisations_the_event_names(legacy: dict[str, str], typed: AuditEvent) -> None:
    # A CHECK names the forces that hit, but they are not its readers (docs/audit.md); nor is a rate
    # anomaly read by the organisation it names (an attacker is not told it has been noticed).
    named = (
        ("holder_org", "requester_org")
        if isinstance(typed, RateAnomaly)
        else ("org", "holder_org", "requester_org")
    )
    expected = {"kent"} | {legacy[k] for k in named if k in legacy}
    assert typed.readers() == expected
    assert parse_event(typed.encode()).readers() == expected
    assert typed.readable_by("essex") == ("essex" in expected or typed.PUBLIC)


def test_check_hits_do_not_make_the_hit_forces_readers() -> None:
    check = next(e for _l, e in LEGACY_AND_TYPED if isinstance(e, Check))
    assert "humberside" in check.hits and not check.readable_by("humberside")


def test_public_kinds_are_registrations_key_changes_and_epoch_changes() -> None:
    public = {k for k, t in AUDIT_EVENT_TYPES.items() if t.PUBLIC}
    assert public == {EventKind.REGISTRATION, EventKind.KEY_CHANGE, EventKind.EPOCH_CHANGE}


NON_CANONICAL = {
    "number with a leading zero": (EventKind.KEY_CHANGE, {"key_version": "02"}),
    "number with a sign": (EventKind.EPOCH_CHANGE, {"current_epoch": "+3"}),
    "not a number": (EventKind.EPOCH_CHANGE, {"current_epoch": "three"}),
    "upper-case hex": (EventKind.REGISTRATION, {"signing_key": _SIGN.hex().upper()}),
    "odd hex": (EventKind.PUBLISH_ACCEPTED, {"bits_sha256": "abc"}),
    "empty optional field written": (EventKind.DISCLOSURE_TRANSITION, {"officer_id": ""}),
    "zero reason written": (EventKind.DISCLOSURE_TRANSITION, {"reason": "0"}),
    "unknown field": (EventKind.PUBLISH_REFUSED, {"note": "x"}),
    "empty list item": (EventKind.CHECK, {"requests": "r1,"}),
}


@pytest.mark.parametrize(("kind", "change"), NON_CANONICAL.values(), ids=list(NON_CANONICAL))
def test_typed_parse_refuses_what_its_type_would_not_write(kind: EventKind, change: dict[str, str]) -> None:
    legacy = next(dict(old) for old, e in LEGACY_AND_TYPED if e.kind == kind)
    data = encode_event(Event(kind=kind, fields={**legacy, **change}, **_ACTOR))
    with pytest.raises(ValidationError):
        parse_event(data)


@pytest.mark.parametrize("kind", list(EventKind))
def test_typed_parse_refuses_a_missing_field(kind: EventKind) -> None:
    legacy, typed = next((old, e) for old, e in LEGACY_AND_TYPED if e.kind == kind)
    dropped = next(k for k in legacy if k not in type(typed).OPTIONAL)
    fields = {k: v for k, v in legacy.items() if k != dropped}
    data = encode_event(Event(kind=kind, fields=fields, **_ACTOR))
    with pytest.raises(ValidationError):
        parse_event(data)
