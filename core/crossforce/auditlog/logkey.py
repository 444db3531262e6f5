"""The log key file an operator publishes (``log-key.pub``), so nobody has to trust the key on first use.

A log verified with the key it carries proves nothing: whoever rewrote the log re-signs it with their own
key and writes that key in. So the key must reach auditors and organisations by another road: the matcher
writes this file into its data folder at every start, the operator publishes it (web page, letter, the
enrolment pack), and clients pin it (``crossforce org create --log-key-file``) or verify against it
(``crossforce audit verify --offline LOG --log-key-file``). The format is plain text, one ``name: value``
per line, ``#`` comments and blank lines ignored::

    format: crossforce-log-key/1
    algorithm: ed25519
    public-key: <64 hex digits: the raw Ed25519 public key>
    log-id: <16 hex digits: the first 64 bits of the key, as the matcher's GetLogKey names the log>

The log id repeats the start of the key on purpose: a key mistyped or cut short when it was copied from
a letter no longer matches its id, and the file is refused. Pure: bytes in, bytes out; callers read and
write the file.

A deployment with witnesses (issue 16) adds one ``witness: <vkey>`` line per witness (the C2SP verifier
key ``crossforce witness keygen`` printed) and ``quorum: <n>``: clients then accept a tree head only with
cosignatures from ``n`` of them. Files without these lines (older matchers) still read: no witnesses.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.crypto import envelope
from crossforce.errors import ValidationError

LOG_KEY_FILE_FORMAT = "crossforce-log-key/1"
LOG_KEY_ALGORITHM = "ed25519"
LOG_ID_HEX_CHARS = 16
"""A log's id is the first 64 bits of its public key in hex (the matcher's ``GetLogKey`` answer)."""
PUBLISHED_LOG_KEY_FILE = "log-key.pub"
"""The name the matcher gives the file in its data folder."""
MAX_LOG_KEY_FILE_BYTES = 64 * 1024
"""Far above any real file (about 300 bytes): a larger one is the wrong file."""
_FIELDS = ("format", "algorithm", "public-key", "log-id")
_OPTIONAL = ("witness", "quorum")


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses a client trusts (C2SP vkeys: ``checkpoint.witness_verifiers`` parses them) and how many
    must cosign a head before it is accepted."""

    witnesses: tuple[str, ...] = ()
    quorum: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise ValidationError(
                f"must be between 0 and {len(self.witnesses)} (the witnesses)", field="quorum"
            )
        if self.witnesses and self.quorum < 1:
            raise ValidationError("must be at least 1 when witnesses are named", field="quorum")
        if len(set(self.witnesses)) != len(self.witnesses):
            raise ValidationError("a witness is named twice", field="witnesses")


def log_id(public_key: bytes) -> str:
    """The log's short id: the first 64 bits of its public key, in hex."""
    return bytes(public_key).hex()[:LOG_ID_HEX_CHARS]


def encode_log_key_file(public_key: bytes, policy: WitnessPolicy | None = None) -> bytes:
    """The file the operator publishes for ``public_key`` (layout in the module docstring)."""
    key = bytes(public_key)
    if len(key) != envelope.PUBLIC_KEY_BYTES:
        raise ValidationError(f"must be {envelope.PUBLIC_KEY_BYTES} bytes", field="public_key")
    witnesses = ""
    if policy is not None and policy.witnesses:
        witnesses = "".join(f"witness: {vkey}\n" for vkey in policy.witnesses) + f"quorum: {policy.quorum}\n"
    return (
        "# The crossforce matcher's audit log public key. Publish this file to every organisation and\n"
        "# auditor; they pin it with `crossforce org create ... --log-key-file log-key.pub` and verify\n"
        "# saved logs with `crossforce audit verify --offline LOG --log-key-file log-key.pub`.\n"
        f"format: {LOG_KEY_FILE_FORMAT}\n"
        f"algorithm: {LOG_KEY_ALGORITHM}\n"
        f"public-key: {key.hex()}\n"
        f"log-id: {log_id(key)}\n"
        f"{witnesses}"
    ).encode()


def decode_log_key_file(data: bytes, *, source: str = "log key file") -> bytes:
    """The raw public key a published log key file names; ``ValidationError`` naming ``source:line``
    otherwise. Every field is required exactly once, no other field is allowed, and the log id must match
    the key."""
    return _decode(data, source)[0]


def decode_witness_policy(data: bytes, *, source: str = "log key file") -> WitnessPolicy:
    """The witnesses and quorum a published log key file names (none in a file without them). Each
    ``witness:`` value must be a verifier key; the caller parses it (``checkpoint.parse_vkey``)."""
    return _decode(data, source)[1]


def _decode(data: bytes, source: str) -> tuple[bytes, WitnessPolicy]:
    witnesses: list[str] = []
    quorum: str | None = None
    quorum_line = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{source} is not a log key file (not UTF-8 text)") from None
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if sep and name == "witness":
            witnesses.append(value.strip())
            continue
        if sep and name == "quorum" and quorum is None:
            quorum, quorum_line = value.strip(), number
            continue
        if not sep or name not in _FIELDS:
            raise ValidationError(
                f"{source}:{number}: expected one of {', '.join(_FIELDS + _OPTIONAL)} as 'name: value'"
            )
        if name in values:
            raise ValidationError(f"{source}:{number}: {name} is given twice")
        values[name], lines[name] = value.strip(), number
    if missing := [f for f in _FIELDS if f not in values]:
        raise ValidationError(f"{source} is not a log key file: missing {', '.join(missing)}")
    if values["format"] != LOG_KEY_FILE_FORMAT:
        raise ValidationError(f"{source}:{lines['format']}: format must be {LOG_KEY_FILE_FORMAT}")
    if values["algorithm"].lower() != LOG_KEY_ALGORITHM:
        raise ValidationError(f"{source}:{lines['algorithm']}: algorithm must be {LOG_KEY_ALGORITHM}")
    try:
        key = bytes.fromhex(values["public-key"])
    except ValueError:
        raise ValidationError(f"{source}:{lines['public-key']}: public-key must be hex") from None
    if len(key) != envelope.PUBLIC_KEY_BYTES:
        raise ValidationError(
            f"{source}:{lines['public-key']}: public-key must be {envelope.PUBLIC_KEY_BYTES} bytes "
            f"({2 * envelope.PUBLIC_KEY_BYTES} hex digits)"
        )
    if values["log-id"].lower() != log_id(key):
        raise ValidationError(
            f"{source}:{lines['log-id']}: log-id does not match the public key (was the key copied whole?)"
        )
    if quorum is not None and not quorum.isdigit():
        raise ValidationError(f"{source}:{quorum_line}: quorum must be a whole number")
    if witnesses and quorum is None:
        raise ValidationError(f"{source} names witnesses but no quorum (add 'quorum: <n>')")
    try:
        policy = WitnessPolicy(witnesses=tuple(witnesses), quorum=int(quorum or 0))
    except ValidationError as exc:
        raise ValidationError(f"{source}:{quorum_line or 1}: {exc}") from None
    return key, policy
