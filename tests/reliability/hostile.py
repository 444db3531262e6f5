"""Hostile request bytes for every RPC, generated from the proto descriptors (hypothesis strategies).

Three layers, mixed in every draw:

* structured messages whose fields take values near the edges the matcher validates (named limits,
  real request ids and tokens, unknown enum numbers, oversized text, tokens of the wrong length);
* wire-level damage to those bytes: truncation, byte edits, bad UTF-8 in a (nested) text field, a
  length prefix far beyond the message, unknown fields and wire types, a repeated field blown up past
  its limit, the message concatenated with itself (duplicate fields merge);
* plain random bytes.

Large values are made by repetition from a drawn size, so hypothesis never has to draw megabytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from crossforce.encoding import matchkeys
from crossforce.v2 import crossforce_pb2 as pb

INT_RANGES: Mapping[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
}
BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\x80", b"\xc0\xaf", b"\xe2\x82")
HUGE_LENGTHS = (2**20, 2**31 - 1, 2**31, 2**32 + 5, 2**62, 2**64 - 1)
BLOW_UP_COUNTS = (129, 513, 1001, 5000, 70_000)
LONG_TEXT = (65, 199, 200, 201, 1000, 10_000, 300_000)
ODD_BYTE_LENGTHS = (0, 1, 31, 33, 63, 64, 65, 4097, 262_145)


@dataclass
class Hints:
    """Values worth trying per field name (real ids, real tokens, limits), besides random ones."""

    text: dict[str, list[str]] = field(default_factory=dict)
    blobs: dict[str, list[bytes]] = field(default_factory=dict)
    ints: dict[str, list[int]] = field(default_factory=dict)


def default_hints(*, orgs: Sequence[str], request_ids: Sequence[str], tokens: Sequence[bytes]) -> Hints:
    now = int(time.time() * 1000)
    day = 86_400_000
    purposes = ["school-staff-vetting", "hit-only-screening", "firearms-licensing", "curiosity", ""]
    return Hints(
        text={
            "org": [*orgs, "", "KENT", "no-such-force", "kent\x00", "kent "],
            "request_id": [
                *request_ids,
                "0" * 32,
                "",
                " ",
                "../../etc",
                request_ids[0].upper() if request_ids else "x",
            ],
            "purpose": purposes,
            "legal_basis": ["Police Act 1997 s113B", "", "\t"],
            "case_reference": ["APP-1", "", "a\nb"],
            "officer_id": ["DBS-1", "", "\x7f"],
            "display_name": ["Kent Police", ""],
        },
        blobs={
            "token": [*tokens, b"\x00" * 32],
            # TokenBlock (proto v2): packed tokens and their key types, framed and misframed.
            "tokens": [b"".join(tokens[:4]), *tokens[:1], b"\x00" * 32, b"\x00" * 31, b"\x00" * 65],
            "key_types": [bytes((1, 2, 3, 4)), b"\x01", b"\x01\x01", b"\x00", b"\x16", bytes(range(256))],
            "bits_sha256": [b"\x00" * 32],
        },
        ints={
            "key_type": [*sorted(matchkeys.KEY_TYPES), 0, 5, 255, 65_535, 65_536],
            "epoch": [0, 1, 2, 3],
            "forename_class": [0, 5, 6, 2**32 - 1],
            "surname_class": [0, 5, 6, 2**32 - 1],
            "version": [0, 1, 2**40, 2**63, 2**64 - 1],
            "format_version": [0, 1, 2],
            "num_blocks": [0, 1, 64, 2**20, 2**24, 2**31, 2**32, 2**40],
            "num_probes": [0, 1, 7, 21, 22, 64],
            "token_count": [0, 1, 10, 10_000, 2**40],
            "expires_at_ms": [0, now - 1, now + day, now + 399 * day, now + 401 * day, 2**63 - 1],
            "created_at_ms": [0, now, -1],
            "limit": [0, 1, 1000, 1001],
            "first": [0, 1, 2, 5, 100],
            "second": [0, 1, 2, 5, 100],
            "leaf_index": [0, 1, 5, 100],
            "tree_size": [0, 1, 5, 100],
            "start": [0, 1, 5, 100],
            "end": [0, 1, 5, 100, 1001, 1002],
        },
    )


# --------------------------------------------------------------------------------------------- wire format


def varint(n: int) -> bytes:
    n &= 2**64 - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def nest(path: Sequence[int], innermost: bytes) -> bytes:
    """Wrap ``innermost`` (a field's wire bytes) in the message fields of ``path``, outermost first."""
    for number in reversed(path):
        innermost = length_delimited(number, innermost)
    return innermost


def _paths(
    desc: Descriptor, want: Callable[[FieldDescriptor], bool], depth: int = 3
) -> list[tuple[int, ...]]:
    """Field-number paths (through singular message fields) to every field ``want`` accepts."""
    out: list[tuple[int, ...]] = []
    for f in desc.fields:
        if want(f):
            out.append((f.number,))
        if f.type == FieldDescriptor.TYPE_MESSAGE and depth > 0:
            out.extend((f.number, *rest) for rest in _paths(f.message_type, want, depth - 1))
    return out


# --------------------------------------------------------------------------------------------- structured


class MessageStrategies:
    def __init__(self, hints: Hints) -> None:
        self.hints = hints
        self._cache: dict[str, st.SearchStrategy[Message]] = {}

    def message(self, desc: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        if desc.full_name in self._cache:
            return self._cache[desc.full_name]
        cls = GetMessageClass(desc)
        fields: dict[str, st.SearchStrategy[Any]] = {}
        for f in desc.fields:
            value = self.value(f, depth)
            if f.is_repeated:
                fields[f.name] = st.lists(value, max_size=4)
            else:
                fields[f.name] = st.none() | value

        def build(values: dict[str, Any]) -> Message:
            msg = cls()
            for name, v in values.items():
                if v is None:
                    continue
                f = desc.fields_by_name[name]
                target = (
                    getattr(msg, name) if f.is_repeated or f.type == FieldDescriptor.TYPE_MESSAGE else None
                )
                if f.is_repeated and f.type == FieldDescriptor.TYPE_MESSAGE:
                    for item in v:
                        target.add().CopyFrom(item)
                elif f.is_repeated:
                    target.extend(v)
                elif f.type == FieldDescriptor.TYPE_MESSAGE:
                    target.CopyFrom(v)
                else:
                    setattr(msg, name, v)
            return msg

        strategy = st.fixed_dictionaries(fields).map(build)
        self._cache[desc.full_name] = strategy
        return strategy

    def value(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        h = self.hints
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3:
                return st.just(GetMessageClass(f.message_type)())
            return st.deferred(lambda: self.message(f.message_type, depth + 1))
        if f.type == FieldDescriptor.TYPE_STRING:
            options: list[st.SearchStrategy[str]] = [
                st.text(max_size=24),
                st.sampled_from(LONG_TEXT).map(lambda n: "x" * n),
                st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=8),
            ]
            if f.name in h.text:
                options.insert(0, st.sampled_from(h.text[f.name]))
            return st.one_of(options)
        if f.type == FieldDescriptor.TYPE_BYTES:
            blobs: list[st.SearchStrategy[bytes]] = [
                st.binary(min_size=32, max_size=32),
                st.binary(max_size=80),
                st.sampled_from(ODD_BYTE_LENGTHS).map(lambda n: b"\xa5" * n),
            ]
            if f.name in h.blobs:
                blobs.insert(0, st.sampled_from(h.blobs[f.name]))
            return st.one_of(blobs)
        if f.type == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        lo, hi = INT_RANGES[f.type]
        ints: list[st.SearchStrategy[int]] = [
            st.integers(min_value=max(lo, -5), max_value=min(hi, 40)),
            st.sampled_from(sorted({lo, hi, 0, max(lo, -1), min(hi, 2**31 - 1), min(hi, 2**32 - 1)})),
            st.integers(min_value=lo, max_value=hi),
        ]
        if f.name in h.ints:
            ints.insert(0, st.sampled_from([v for v in h.ints[f.name] if lo <= v <= hi] or [0]))
        return st.one_of(ints)


# --------------------------------------------------------------------------------------------- damage


@st.composite
def damaged(
    draw: st.DrawFn, desc: Descriptor, structured: st.SearchStrategy[Message], values: MessageStrategies
) -> bytes:
    """Serialized bytes of a drawn message, then one kind of wire damage (or none)."""
    raw = draw(structured).SerializeToString()
    kind = draw(
        st.sampled_from(
            [
                "none",
                "edits",
                "truncated",
                "bad-utf8",
                "huge-length",
                "unknown-field",
                "blown-up",
                "doubled",
                "random",
            ]
        )
    )
    if kind == "edits" and raw:
        buf = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
            pos = draw(st.integers(0, max(0, len(buf) - 1)))
            if op == "flip" and buf:
                buf[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "set" and buf:
                buf[pos] = draw(st.integers(0, 255))
            elif op == "insert":
                buf[pos:pos] = draw(st.binary(min_size=1, max_size=4))
            elif buf:
                del buf[pos]
        return bytes(buf)
    if kind == "truncated" and raw:
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "bad-utf8":
        paths = _paths(desc, lambda f: f.type == FieldDescriptor.TYPE_STRING)
        if paths:
            path = draw(st.sampled_from(paths))
            bad = length_delimited(path[-1], draw(st.sampled_from(BAD_UTF8)))
            return raw + nest(path[:-1], bad)
    if kind == "huge-length":
        number = draw(st.sampled_from([f.number for f in desc.fields] or [1]) | st.integers(1, 2**29 - 1))
        return (
            raw + tag(number, 2) + varint(draw(st.sampled_from(HUGE_LENGTHS))) + draw(st.binary(max_size=8))
        )
    if kind == "unknown-field":
        number = draw(st.integers(1, 2**29 - 1))
        wire = draw(st.integers(0, 7))
        return raw + tag(number, wire) + draw(st.binary(max_size=12))
    if kind == "blown-up":
        paths = _paths(desc, lambda f: f.is_repeated)
        if paths:
            path = draw(st.sampled_from(paths))
            leaf = _field_at(desc, path)
            count = draw(st.sampled_from(BLOW_UP_COUNTS))
            if leaf.type == FieldDescriptor.TYPE_MESSAGE:
                element = draw(values.message(leaf.message_type)).SerializeToString()
                one = length_delimited(path[-1], element)
            else:
                one = tag(path[-1], 0) + varint(draw(st.integers(0, 8)))
            if len(one) * count > 12 * 1024 * 1024:
                count = 12 * 1024 * 1024 // max(1, len(one))
            return raw + nest(path[:-1], one * count)
    if kind == "doubled":
        return raw + raw
    if kind == "random":
        return draw(st.binary(max_size=96))
    return raw


def _field_at(desc: Descriptor, path: Sequence[int]) -> FieldDescriptor:
    f = desc.fields_by_number[path[0]]
    for number in path[1:]:
        f = f.message_type.fields_by_number[number]
    return f


def near_valid(desc: Descriptor, seed: bytes, values: MessageStrategies) -> st.SearchStrategy[Message]:
    """A valid request with one field overridden (protobuf merge: the last singular value wins, repeated
    values are appended), so the damage reaches the checks behind the first validation step."""
    cls = GetMessageClass(desc)
    if not desc.fields:
        return st.just(cls.FromString(seed))

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        f = draw(st.sampled_from(list(desc.fields)))
        partial = cls()
        value = draw(
            st.lists(values.value(f, 0), min_size=1, max_size=3) if f.is_repeated else values.value(f, 0)
        )
        if f.is_repeated and f.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value:
                getattr(partial, f.name).add().CopyFrom(item)
        elif f.is_repeated:
            getattr(partial, f.name).extend(value)
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(partial, f.name).CopyFrom(value)
        else:
            setattr(partial, f.name, value)
        return cls.FromString(seed + partial.SerializeToString())

    return build()


def request_bytes(method: str, values: MessageStrategies, seed: bytes) -> st.SearchStrategy[bytes]:
    """Hostile request bytes for ``Service/Method`` (a unary or server-streaming request), around the
    valid request ``seed``."""
    service, name = method.split("/")
    desc = pb.DESCRIPTOR.services_by_name[service].methods_by_name[name].input_type
    structured = (
        values.message(desc)
        | near_valid(desc, seed, values)
        | st.just(GetMessageClass(desc).FromString(seed))
    )
    return damaged(desc, structured, values)


def publish_streams(
    values: MessageStrategies,
    sign: Callable[[bytes], bytes],
    other_sign: Callable[[bytes], bytes],
    real: tuple[bytes, bytes],
) -> st.SearchStrategy[list[bytes]]:
    """A Publish client stream: a (often validly signed) header chunk, then a few damaged chunks."""
    header_desc = pb.IndexHeader.DESCRIPTOR
    chunk_desc = pb.PublishChunk.DESCRIPTOR
    real_header, real_bits = real

    @st.composite
    def stream(draw: st.DrawFn) -> list[bytes]:
        header = draw(damaged(header_desc, values.message(header_desc), values) | st.just(real_header))
        signer = draw(st.sampled_from(["own", "own", "other", "random", "short", "none"]))
        signature = {
            "own": lambda: sign(header),
            "other": lambda: other_sign(header),
            "random": lambda: draw(st.binary(min_size=64, max_size=64)),
            "short": lambda: draw(st.binary(max_size=70)),
            "none": lambda: b"",
        }[signer]()
        first = pb.PublishChunk(
            header=pb.SignedIndexHeader(header=header, signature=signature)
        ).SerializeToString()
        first = draw(st.just(first) | damaged(chunk_desc, st.just(pb.PublishChunk.FromString(first)), values))
        rest: list[bytes] = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["real-bits-edited", "sized-bits", "chunk"]))
            if kind == "real-bits-edited":
                bits = bytearray(real_bits)
                pos = draw(st.integers(0, len(bits) - 1))
                bits[pos] ^= 1 << draw(st.integers(0, 7))
                rest.append(pb.PublishChunk(bits=bytes(bits)).SerializeToString())
            elif kind == "sized-bits":
                size = draw(st.sampled_from([0, 1, 64, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1]))
                rest.append(pb.PublishChunk(bits=b"\x00" * size).SerializeToString())
            else:
                rest.append(draw(damaged(chunk_desc, values.message(chunk_desc), values)))
        return [first, *rest]

    return stream()
