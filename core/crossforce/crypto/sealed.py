"""Sealed disclosures: signed by the holding force, then encrypted to the requester.

The matcher stores and relays a disclosure but must never read it or be able to alter it undetected
(docs/threat-model.md: "the matcher tampers with or forges a disclosure"). So the holder:

1. serialises the payload canonically (``DisclosurePayload.to_bytes``);
2. signs a statement binding it to this request, these two parties and the recipient's key, with the
   disclosure context (format version 2):
   ``statement = lp(request_id) || lp(holder_org) || lp(requester_org) || lp(SHA-256(payload))
   || lp(recipient_box_key) || lp(u64 recipient_key_version)``,
   ``signature = Ed25519(holder, DISCLOSURE_CONTEXT || 0x00 || statement)`` (``crossforce.crypto.envelope``);
3. frames ``MAGIC || version || lp(statement) || lp(signature) || lp(payload)`` and encrypts it with
   ``crypto_box_seal`` (PyNaCl ``SealedBox``) to that same X25519 key (the one the holder pinned).

``lp(x)`` is a 4-byte big-endian length then ``x``. A sealed box has an anonymous sender, so anybody
(the matcher included) can encrypt something to the requester: the decrypted frame is untrusted input
until the signature and every bound field check out, and each failure is a VerificationError saying
which check failed. Binding the request id and both organisations stops the matcher from replaying a
genuine disclosure under another request or to another requester.

Binding the recipient's box key and key version (issue 16) stops the matcher's operator from reading a
disclosure unnoticed: if it swaps the requester's registered keys for its own, the holder seals to the
operator's key and signs that key into the statement; the operator can decrypt, but re-sealing the
untouched frame to the real requester leaves the operator's key in the signed statement, and the
requester refuses any statement that does not name the box key that decrypted it and its registered key
version (docs/threat-model.md: "the operator re-seals a disclosure it read").

Version 1 frames (sealed before this release) carry no recipient binding. ``open_sealed`` still reads
them, but only when asked to (``allow_unbound``), and reports them as not recipient-bound.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing

from crossforce.crypto import envelope
from crossforce.errors import TooLargeError, ValidationError, VerificationError
from crossforce.limits import DEFAULT_LIMITS

MAGIC = b"CFSD"
FORMAT_VERSION = 2
"""Recipient-bound statements; what ``seal`` writes."""
UNBOUND_FORMAT_VERSION = 1
"""Statements without the recipient's key, written before issue 16; read only with ``allow_unbound``."""
_VERSION_BYTES = 8
_LEN_BYTES = 4
DIGEST_BYTES = 32
BOX_KEY_BYTES = 32
_PAYLOAD_KEYS = frozenset({"summary", "records", "point_of_contact"})


@dataclass(frozen=True)
class DisclosurePayload:
    """What the holding force tells the requester. Its repr shows sizes only: the text is personal data."""

    summary: str
    records: tuple[Mapping[str, str], ...]
    """One mapping per disclosed record (field name -> value), e.g. from docs/records.md fields."""
    point_of_contact: str

    def __post_init__(self) -> None:
        _check_text(self.summary, "summary")
        _check_text(self.point_of_contact, "point_of_contact")
        if isinstance(self.records, (str, bytes)) or not isinstance(self.records, Sequence):
            raise ValidationError("must be a sequence of mappings", field="records")
        frozen: list[Mapping[str, str]] = []
        for i, record in enumerate(self.records):
            if not isinstance(record, Mapping):
                raise ValidationError("must be a mapping of text to text", field=f"records[{i}]")
            for key, value in record.items():
                _check_text(key, f"records[{i}] key")
                _check_text(value, f"records[{i}] value")
            frozen.append(types.MappingProxyType(dict(record)))
        object.__setattr__(self, "records", tuple(frozen))

    def __repr__(self) -> str:
        return f"DisclosurePayload(<{len(self.records)} records, {len(self.to_bytes())} bytes>)"

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8 (non-ASCII unescaped). One payload, one byte
        string, so its digest identifies it."""
        document = {
            "point_of_contact": self.point_of_contact,
            "records": [dict(r) for r in self.records],
            "summary": self.summary,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> DisclosurePayload:
        """Parse strictly: exactly the three keys, text only, no duplicate keys, and canonical form."""
        try:
            document = json.loads(
                data.decode("utf-8"),
                object_pairs_hook=_no_duplicates,
                parse_constant=_no_constants,
                parse_float=_no_numbers,
                parse_int=_no_numbers,
            )
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValidationError(
                f"not canonical UTF-8 JSON ({exc.__class__.__name__})", field="payload"
            ) from exc
        if not isinstance(document, dict) or set(document) != _PAYLOAD_KEYS:
            raise ValidationError(f"must be an object with exactly {sorted(_PAYLOAD_KEYS)}", field="payload")
        records = document["records"]
        if not isinstance(records, list):
            raise ValidationError("must be a list", field="records")
        payload = cls(
            summary=document["summary"],
            records=tuple(records),
            point_of_contact=document["point_of_contact"],
        )
        if payload.to_bytes() != data:
            raise ValidationError("not in canonical form (sorted keys, no spaces)", field="payload")
        return payload


def seal(
    *,
    payload: DisclosurePayload,
    request_id: str,
    holder_org: str,
    requester_org: str,
    holder_signing: nacl.signing.SigningKey,
    requester_box_public: bytes,
    requester_key_version: int,
    max_sealed_bytes: int = DEFAULT_LIMITS.max_payload_bytes,
) -> bytes:
    """Sign ``payload`` for this request as ``holder_org`` and encrypt it to ``requester_org``'s box key.

    ``requester_box_public`` and ``requester_key_version`` are the requester's keys as the holder pinned
    them: both are signed into the statement, and the frame is sealed to that key and no other.
    TooLargeError if the result would exceed ``max_sealed_bytes`` (the matcher's ApproveRequest limit).
    """
    for name, value in (
        ("request_id", request_id),
        ("holder_org", holder_org),
        ("requester_org", requester_org),
    ):
        if not value:
            raise ValidationError("must not be empty", field=name)
    body = payload.to_bytes()
    statement = signed_statement(
        request_id=request_id,
        holder_org=holder_org,
        requester_org=requester_org,
        payload_sha256=hashlib.sha256(body).digest(),
        recipient_box_key=requester_box_public,
        recipient_key_version=requester_key_version,
    )
    signature = envelope.sign(envelope.DISCLOSURE_CONTEXT, statement, holder_signing)
    plaintext = MAGIC + bytes([FORMAT_VERSION]) + _lp(statement) + _lp(signature) + _lp(body)
    sealed = bytes(nacl.public.SealedBox(nacl.public.PublicKey(requester_box_public)).encrypt(plaintext))
    if len(sealed) > max_sealed_bytes:
        raise TooLargeError(f"sealed disclosure is {len(sealed)} bytes; the limit is {max_sealed_bytes}")
    return sealed


@dataclass(frozen=True)
class OpenedDisclosure:
    """A verified disclosure and what its frame proved about who it was sealed to."""

    payload: DisclosurePayload
    recipient_bound: bool
    """True for a version 2 frame (the holder signed the key it sealed to, checked equal to ours);
    False only for a version 1 frame opened with ``allow_unbound``."""
    format_version: int


def open_sealed(
    *,
    sealed: bytes,
    request_id: str,
    holder_org: str,
    requester_org: str,
    requester_box: nacl.public.PrivateKey,
    requester_key_version: int,
    holder_signing_public: bytes,
    allow_unbound: bool = False,
    max_sealed_bytes: int = DEFAULT_LIMITS.max_payload_bytes,
) -> OpenedDisclosure:
    """Decrypt, verify and parse a sealed disclosure the requester expects for ``request_id``.

    ``holder_signing_public`` must be the holder's key as pinned from the registry, not one that came
    with the disclosure; ``requester_key_version`` is this organisation's registered key version. The
    signed statement must name ``requester_box``'s public key (the one that decrypted) and that version:
    otherwise the frame was sealed to another key and re-sealed to us. A version 1 frame (no recipient
    binding) is refused unless ``allow_unbound``. Every failure is a VerificationError.
    """
    if len(sealed) > max_sealed_bytes:
        raise TooLargeError(f"sealed disclosure is {len(sealed)} bytes; the limit is {max_sealed_bytes}")
    try:
        plaintext = bytes(nacl.public.SealedBox(requester_box).decrypt(sealed))
    except nacl.exceptions.CryptoError as exc:
        raise VerificationError(
            "cannot decrypt sealed disclosure: it is not addressed to this organisation's box key, "
            "or it was altered in transit"
        ) from exc
    if len(plaintext) < len(MAGIC) + 1 or not plaintext.startswith(MAGIC):
        raise VerificationError("sealed disclosure has an unknown format or version")
    version = plaintext[len(MAGIC)]
    if version not in (FORMAT_VERSION, UNBOUND_FORMAT_VERSION):
        raise VerificationError("sealed disclosure has an unknown format or version")
    statement, signature, body = _split(plaintext[len(MAGIC) + 1 :], 3, "sealed disclosure frame")
    try:
        envelope.verify(envelope.DISCLOSURE_CONTEXT, statement, signature, holder_signing_public)
    except VerificationError as exc:
        raise VerificationError(
            f"disclosure signature does not verify under {holder_org}'s registered key "
            "(forged, or signed by another organisation)"
        ) from exc
    # Signed by the holder from here on; what remains is whether it was meant for this request and key.
    bound = version == FORMAT_VERSION
    fields = _split(statement, 6 if bound else 4, "signed statement")
    expected = (request_id.encode(), holder_org.encode(), requester_org.encode())
    names = ("request id", "holding organisation", "requesting organisation")
    for got, want, what in zip(fields[:3], expected, names, strict=True):
        if not hmac.compare_digest(got, want):
            raise VerificationError(f"disclosure was signed for a different {what} (misrouted)")
    if not hmac.compare_digest(fields[3], hashlib.sha256(body).digest()):
        raise VerificationError("disclosure payload does not match its signed digest")
    if bound:
        _check_recipient(fields[4], fields[5], requester_box, requester_key_version)
    elif not allow_unbound:
        raise VerificationError(
            "disclosure is in format version 1, sealed before recipient binding: nothing proves it was "
            "sealed to this organisation's key rather than read and re-sealed; open it only if it was "
            "approved before this release (--allow-unbound)"
        )
    try:
        payload = DisclosurePayload.from_bytes(body)
    except ValidationError as exc:
        raise VerificationError(f"signed disclosure payload is malformed: {exc}") from exc
    return OpenedDisclosure(payload=payload, recipient_bound=bound, format_version=version)


def signed_statement(
    *,
    request_id: str,
    holder_org: str,
    requester_org: str,
    payload_sha256: bytes,
    recipient_box_key: bytes,
    recipient_key_version: int,
) -> bytes:
    """The exact bytes the holder signs (after the context string), format version 2; public for test
    vectors."""
    if len(payload_sha256) != DIGEST_BYTES:
        raise ValidationError(f"must be {DIGEST_BYTES} bytes", field="payload_sha256")
    if len(recipient_box_key) != BOX_KEY_BYTES:
        raise ValidationError(f"must be {BOX_KEY_BYTES} bytes", field="requester_box_public")
    if not 1 <= recipient_key_version < 2 ** (8 * _VERSION_BYTES):
        raise ValidationError("must be a registered key version (1 or more)", field="requester_key_version")
    return b"".join(
        _lp(x)
        for x in (
            request_id.encode(),
            holder_org.encode(),
            requester_org.encode(),
            payload_sha256,
            recipient_box_key,
            recipient_key_version.to_bytes(_VERSION_BYTES, "big"),
        )
    )


def sealed_sha256(sealed: bytes) -> bytes:
    """Digest of the ciphertext as relayed (proto ``SealedDisclosure.payload_sha256``): the matcher can
    compute it, the requester can check the relay did not truncate or swap the bytes."""
    return hashlib.sha256(sealed).digest()


# --- inside ---------------------------------------------------------------------------------------


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(_LEN_BYTES, "big") + data


def _check_recipient(
    signed_key: bytes, signed_version: bytes, box: nacl.public.PrivateKey, registered_version: int
) -> None:
    """The holder signed the key it sealed to: it must be ours (the key that just decrypted) and the
    version we registered. Anything else means someone who held that other key read the frame first."""
    own = bytes(box.public_key)
    if len(signed_version) != _VERSION_BYTES:
        raise VerificationError("signed statement has a malformed recipient key version")
    version = int.from_bytes(signed_version, "big")
    if not hmac.compare_digest(signed_key, own):
        raise VerificationError(
            "re-sealed: this disclosure was sealed to another key (box key "
            f"{signed_key[:8].hex()}..., key version {version}), not this organisation's "
            f"({own[:8].hex()}..., version {registered_version}), then re-sealed to it; whoever held "
            "that key (the matcher's operator, after swapping your registered keys) may have read it"
        )
    if version != registered_version:
        raise VerificationError(
            f"disclosure was sealed to this organisation's box key as key version {version}, but the "
            f"registered key version is {registered_version}: check `crossforce org show --remote` for a key "
            "change you did not make"
        )


def _split(data: bytes, count: int, what: str) -> tuple[bytes, ...]:
    """Exactly ``count`` length-prefixed fields and nothing after them."""
    parts: list[bytes] = []
    at = 0
    for _ in range(count):
        if len(data) - at < _LEN_BYTES:
            raise VerificationError(f"{what} is truncated")
        size = int.from_bytes(data[at : at + _LEN_BYTES], "big")
        at += _LEN_BYTES
        if size > len(data) - at:
            raise VerificationError(f"{what} is truncated")
        parts.append(data[at : at + size])
        at += size
    if at != len(data):
        raise VerificationError(f"{what} has trailing bytes")
    return tuple(parts)


def _check_text(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("must be valid Unicode text (no lone surrogates)", field=field) from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValidationError("duplicate key in JSON object", field="payload")
    return dict(pairs)


def _no_constants(_: str) -> Any:
    raise ValidationError("NaN and Infinity are not allowed", field="payload")


def _no_numbers(_: str) -> Any:
    raise ValidationError("numbers are not allowed (every value is text)", field="payload")
