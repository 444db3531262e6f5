"""Tree heads as C2SP checkpoints (signed notes) and witness cosignatures (tlog-cosignature/v1) (pure).

Why a standard format: a witness, a monitor or any transparency tool that reads C2SP checkpoints can
check this log without our code, and our witnesses can cosign any C2SP log. The formats, as specified
at c2sp.org/signed-note, c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature (v1, Ed25519):

- A *checkpoint body* is three lines: the origin (this log: ``crossforce/log/<log id>``), the tree size
  in decimal, the root hash in standard base64, each ending in a newline.
- A *signed note* is the body, a blank line, then signature lines ``— <key name> <base64(key id ||
  signature)>``. The key id is ``SHA-256(name || 0x0A || type || public key)[:4]``: type 0x01 for the
  log's Ed25519 signature over the body itself; type 0x04 for a witness's cosignature.
- A *cosignature* (type 0x04) is ``key id || u64 timestamp (seconds, big-endian) || Ed25519
  signature`` over ``"cosignature/v1\\n" "time <timestamp>\\n"`` followed by the whole body. It says: as
  of that time, the largest consistent tree the witness has seen for this origin has this root.
- A *verifier key* (vkey) is ``<name>+<key id as 8 hex digits>+<base64(type || public key)>``.

Rules every reader here keeps (signed-note): a signature line from an unknown (name, key id) is ignored;
one from a known key must verify, else the whole note is refused (VerificationError); the note must be
UTF-8 with no control characters but newline, and at most ``MAX_SIGNATURES`` signature lines.

The log key also signs the 49-byte tree heads of ``treehead``, always behind a context string with a NUL
byte (``envelope``); a note text never holds a NUL, so neither signature can pose as the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from crossforce.auditlog import merkle
from crossforce.auditlog.logkey import WitnessPolicy, log_id
from crossforce.crypto import envelope
from crossforce.errors import ValidationError, VerificationError

EM_DASH = "\u2014"
SIG_ED25519 = 0x01
"""signed-note signature type of the log's own checkpoint signature."""
SIG_COSIGNATURE_V1 = 0x04
"""signed-note signature type of a timestamped Ed25519 witness cosignature (tlog-cosignature)."""
KEY_ID_BYTES = 4
MAX_SIGNATURES = 64
"""signed-note asks verifiers to take at least 16; a note with more is refused rather than read on."""
MAX_NOTE_BYTES = 64 * 1024
COSIGNATURE_HEADER = "cosignature/v1\n"
_TIMESTAMP = struct.Struct(">Q")
_MAX_TIMESTAMP = 2**63 - 1
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


def log_origin(public_key: bytes) -> str:
    """The origin line (and checkpoint key name) of the log with ``public_key``: derived from the key, so
    a client that pinned the key knows the origin without being told it."""
    return f"crossforce/log/{log_id(public_key)}"


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` (signed-note, "Signatures")."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + bytes(public_key)).digest()[
        :KEY_ID_BYTES
    ]


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise ValidationError("a key name must be non-empty, without spaces or '+'", field="name")
    return name


# ---------------------------------------------------------------------------------------- verifier keys
@dataclass(frozen=True)
class Verifier:
    """A public key a note may be signed with: name, signature type and the raw Ed25519 key."""

    name: str
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.sig_type not in (SIG_ED25519, SIG_COSIGNATURE_V1):
            raise ValidationError("only Ed25519 (0x01) and cosignature/v1 (0x04) keys", field="sig_type")
        if len(self.public_key) != envelope.PUBLIC_KEY_BYTES:
            raise ValidationError(f"must be {envelope.PUBLIC_KEY_BYTES} bytes", field="public_key")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    @property
    def vkey(self) -> str:
        """``name+hash+base64(type || key)``, the form operators copy into settings and published files."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def parse_vkey(text: str, *, source: str = "verifier key") -> Verifier:
    """Parse a vkey; ValidationError (naming ``source``) if malformed or its hash does not match."""
    name, _, rest = text.strip().partition("+")
    hash_hex, _, material = rest.partition("+")
    try:
        raw = base64.b64decode(material, validate=True)
        expected = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{source}: not a verifier key (name+hash+base64)") from None
    if not name or len(expected) != KEY_ID_BYTES or len(raw) != 1 + envelope.PUBLIC_KEY_BYTES:
        raise ValidationError(f"{source}: not an Ed25519 verifier key (name+hash+base64)")
    verifier = Verifier(name=_check_name(name), sig_type=raw[0], public_key=raw[1:])
    if verifier.key_id != expected:
        raise ValidationError(f"{source}: the key hash does not match the key (was it copied whole?)")
    return verifier


def encode_signer_key(name: str, sig_type: int, key: nacl.signing.SigningKey) -> str:
    """``PRIVATE+KEY+name+hash+base64(type || seed)``, the signed-note private key form (keep secret)."""
    public = Verifier(name=name, sig_type=sig_type, public_key=bytes(key.verify_key))
    seed = base64.b64encode(bytes([sig_type]) + bytes(key)).decode()
    return f"{PRIVATE_KEY_PREFIX}{name}+{public.key_id.hex()}+{seed}"


def parse_signer_key(text: str, *, source: str = "signer key") -> tuple[Verifier, nacl.signing.SigningKey]:
    """Inverse of ``encode_signer_key``: the public half and the signing key."""
    body = text.strip()
    if not body.startswith(PRIVATE_KEY_PREFIX):
        raise ValidationError(f"{source}: not a private key (PRIVATE+KEY+name+hash+base64)")
    name, _, rest = body[len(PRIVATE_KEY_PREFIX) :].partition("+")
    hash_hex, _, material = rest.partition("+")
    try:
        raw = base64.b64decode(material, validate=True)
        expected = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{source}: not a private key (PRIVATE+KEY+name+hash+base64)") from None
    if len(raw) != 33:
        raise ValidationError(f"{source}: not an Ed25519 private key")
    key = nacl.signing.SigningKey(raw[1:])
    verifier = Verifier(name=_check_name(name), sig_type=raw[0], public_key=bytes(key.verify_key))
    if verifier.key_id != expected:
        raise ValidationError(f"{source}: the key hash does not match the key")
    return verifier, key


# ---------------------------------------------------------------------------------------- signed notes
@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the bytes after the id."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— name base64`` line (with or without its newline); ValidationError if malformed."""
    body = line[:-1] if line.endswith("\n") else line
    prefix = EM_DASH + " "
    if not body.startswith(prefix) or "\n" in body:
        raise ValidationError("a signature line starts with an em dash and a space")
    name, sep, blob = body[len(prefix) :].partition(" ")
    if not sep or " " in blob:
        raise ValidationError("a signature line is '— <name> <base64>'")
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        raise ValidationError("a signature line's signature is not base64") from None
    if len(raw) <= KEY_ID_BYTES:
        raise ValidationError("a signature line's signature is too short")
    return NoteSignature(name=_check_name(name), key_id=raw[:KEY_ID_BYTES], signature=raw[KEY_ID_BYTES:])


def split_note(note: bytes) -> tuple[str, list[NoteSignature]]:
    """The note text (with its final newline) and its signature lines, parsed but not verified."""
    if len(note) > MAX_NOTE_BYTES:
        raise ValidationError(f"a signed note is at most {MAX_NOTE_BYTES} bytes")
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("a signed note must be UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise ValidationError("a signed note must hold no control characters but newline")
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise ValidationError("a signed note is text, a blank line, then signature lines")
    body, sigs = text[: cut + 1], text[cut + 2 :]
    lines = sigs.splitlines(keepends=True)
    if not lines:
        raise ValidationError("a signed note has at least one signature line")
    if len(lines) > MAX_SIGNATURES:
        raise ValidationError(f"a signed note has at most {MAX_SIGNATURES} signature lines")
    return body, [parse_signature_line(line) for line in lines]


def _ed25519_ok(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def sign_note_text(text: str, name: str, key: nacl.signing.SigningKey) -> NoteSignature:
    """The type 0x01 signature line of ``key`` (named ``name``) over ``text``."""
    signature = bytes(key.sign(text.encode()).signature)
    return NoteSignature(
        name=name, key_id=key_id(name, SIG_ED25519, bytes(key.verify_key)), signature=signature
    )


def verify_note(note: bytes, verifier: Verifier) -> tuple[str, list[NoteSignature]]:
    """Open a note that ``verifier`` (type 0x01) must have signed; return its text and every signature
    line. VerificationError if its line is missing or does not verify."""
    text, sigs = split_note(note)
    ours = [s for s in sigs if s.name == verifier.name and s.key_id == verifier.key_id]
    if not ours:
        raise VerificationError(f"the note is not signed by {verifier.name}")
    for sig in ours:
        if not _ed25519_ok(verifier.public_key, text.encode(), sig.signature):
            raise VerificationError(f"the note's signature by {verifier.name} does not verify")
    return text, sigs


# ---------------------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """A tree head as a checkpoint body: the log's origin, its size and its RFC 9162 root."""

    origin: str
    tree_size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        _check_name(self.origin)
        if isinstance(self.tree_size, bool) or not isinstance(self.tree_size, int) or self.tree_size < 0:
            raise ValidationError("must be a non-negative integer", field="tree_size")
        if len(self.root_hash) != merkle.HASH_BYTES:
            raise ValidationError(f"must be {merkle.HASH_BYTES} bytes", field="root_hash")

    @property
    def body(self) -> str:
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.tree_size}\n{root}\n"


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Strict inverse of ``Checkpoint.body``; extension lines are refused (this log writes none)."""
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise ValidationError("a checkpoint body is three lines: origin, tree size, root hash")
    origin, size, root = lines[:3]
    if not size.isdigit() or (size != "0" and size.startswith("0")) or len(size) > 20:
        raise ValidationError("a checkpoint's tree size is a decimal number without leading zeros")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise ValidationError("a checkpoint's root hash is not base64") from None
    return Checkpoint(origin=origin, tree_size=int(size), root_hash=root_hash)


def log_verifier(public_key: bytes) -> Verifier:
    """The verifier of checkpoints signed by the log with ``public_key`` (its name is the origin)."""
    return Verifier(name=log_origin(public_key), sig_type=SIG_ED25519, public_key=bytes(public_key))


def sign_checkpoint(checkpoint: Checkpoint, key: nacl.signing.SigningKey) -> bytes:
    """The signed note of ``checkpoint`` with the log's one signature line (its name is the origin)."""
    line = sign_note_text(checkpoint.body, checkpoint.origin, key).line
    return (checkpoint.body + "\n" + line).encode()


def open_checkpoint(note: bytes, log_public_key: bytes) -> tuple[Checkpoint, list[NoteSignature]]:
    """Verify the log's signature on a checkpoint note and parse it; every other line is returned
    unverified (``cosignatures`` checks those against the witnesses a caller trusts)."""
    verifier = log_verifier(log_public_key)
    text, sigs = verify_note(note, verifier)
    checkpoint = parse_checkpoint_body(text)
    if checkpoint.origin != verifier.name:
        raise VerificationError(f"the checkpoint names origin {checkpoint.origin}, not {verifier.name}")
    others = [s for s in sigs if not (s.name == verifier.name and s.key_id == verifier.key_id)]
    return checkpoint, others


def with_signatures(note: bytes, lines: Iterable[NoteSignature]) -> bytes:
    """``note`` with more signature lines appended (a line already there is not repeated)."""
    text = note.decode()
    have = set(text.split("\n\n")[-1].splitlines(keepends=True))
    extra = "".join(line.line for line in lines if line.line not in have)
    return (text + extra).encode()


# ---------------------------------------------------------------------------------------- cosignatures
def cosigned_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header line, ``time <t>`` line, then the whole checkpoint body."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint.body}".encode()


def cosign(
    checkpoint: Checkpoint, name: str, key: nacl.signing.SigningKey, *, timestamp: int
) -> NoteSignature:
    """A witness's cosignature line on ``checkpoint`` at ``timestamp`` (POSIX seconds)."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValidationError("must be between 0 and 2^63-1", field="timestamp")
    signature = bytes(key.sign(cosigned_message(checkpoint, timestamp)).signature)
    kid = key_id(name, SIG_COSIGNATURE_V1, bytes(key.verify_key))
    return NoteSignature(name=name, key_id=kid, signature=_TIMESTAMP.pack(timestamp) + signature)


def verify_cosignature(checkpoint: Checkpoint, line: NoteSignature, witness: Verifier) -> int:
    """The timestamp of ``witness``'s valid cosignature ``line`` on ``checkpoint``; VerificationError if
    the line is not that witness's or does not verify."""
    if witness.sig_type != SIG_COSIGNATURE_V1:
        raise ValidationError(f"{witness.name} is not a cosignature/v1 key (type 0x04)")
    if line.name != witness.name or line.key_id != witness.key_id:
        raise VerificationError(f"the cosignature is not by witness {witness.name}")
    if len(line.signature) != _TIMESTAMP.size + envelope.SIGNATURE_BYTES:
        raise VerificationError(f"the cosignature by {witness.name} has the wrong length")
    (timestamp,) = _TIMESTAMP.unpack(line.signature[: _TIMESTAMP.size])
    if timestamp > _MAX_TIMESTAMP or not _ed25519_ok(
        witness.public_key, cosigned_message(checkpoint, timestamp), line.signature[_TIMESTAMP.size :]
    ):
        raise VerificationError(f"the cosignature by {witness.name} does not verify")
    return int(timestamp)


def cosignatures(
    checkpoint: Checkpoint, lines: Sequence[NoteSignature], witnesses: Sequence[Verifier]
) -> dict[str, int]:
    """``{witness name: timestamp}`` of the trusted witnesses whose cosignature is on the note.

    Lines from unknown keys are ignored; a line from a known witness that does not verify refuses the
    whole note (signed-note: "clients SHOULD reject the whole note").
    """
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[str, int] = {}
    for line in lines:
        witness = known.get((line.name, line.key_id))
        if witness is not None:
            found[witness.name] = verify_cosignature(checkpoint, line, witness)
    return found


def witness_verifiers(policy: WitnessPolicy, *, source: str = "witness") -> tuple[Verifier, ...]:
    """The policy's witness vkeys, parsed; each must be a cosignature/v1 (type 0x04) key, named once."""
    verifiers = tuple(parse_vkey(v, source=f"{source} {i + 1}") for i, v in enumerate(policy.witnesses))
    for v in verifiers:
        if v.sig_type != SIG_COSIGNATURE_V1:
            raise ValidationError(f"{source} {v.name} is not a cosignature/v1 key (type 0x04)")
    if len({v.name for v in verifiers}) != len(verifiers):
        raise ValidationError(f"two {source}es share a name")
    return verifiers
