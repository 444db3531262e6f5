"""The monitor's files (pure): the announcements organisations publish out of band, and its kept state.

``crossforce.client.monitor`` judges log events against what organisations announced; this module reads
that file and the monitor's own progress file, strictly, naming ``file:line`` for a bad line and never
echoing a value that could be anything but an organisation code, a number or a fingerprint.

The announcements file is what organisations publish out of band, one line each::

    # comments and blank lines are ignored
    kent 1                     # kent announced key version 1
    kent 2 3f9c...             # ... and version 2 with this key fingerprint (``key_fingerprint``)
    epoch 7                    # the network secret's epoch 7 was announced
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from crossforce.crypto.pki import validate_org
from crossforce.errors import ValidationError

STATE_FORMAT_VERSION = 1
FINGERPRINT_HEX = 64
"""A key fingerprint is the SHA-256 of the signing and box public keys, as 64 hex characters."""
EPOCH_WORD = "epoch"


def key_fingerprint(signing_key: bytes, box_key: bytes) -> str:
    """The fingerprint an organisation announces with a key version: SHA-256(signing ‖ box), hex."""
    return hashlib.sha256(bytes(signing_key) + bytes(box_key)).hexdigest()


# ---------------------------------------------------------------------------------------------- announcements
@dataclass(frozen=True)
class Announcements:
    """What organisations announced out of band: key versions (with optional fingerprints) and epochs."""

    keys: Mapping[str, Mapping[int, str | None]] = field(default_factory=lambda: MappingProxyType({}))
    epochs: frozenset[int] = frozenset()


def parse_announcements(text: str, *, source: str) -> Announcements:
    """Read an announcements file; a bad line is a ValidationError naming ``source:line``, never a value
    that could be anything but an organisation code, a number or a fingerprint."""
    keys: dict[str, dict[int, str | None]] = {}
    epochs: set[int] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{source}:{number}"
        if words[0] == EPOCH_WORD:
            if len(words) != 2:
                raise ValidationError(f"{where}: an epoch line is `epoch N`")
            epochs.add(_number(words[1], where, "epoch"))
            continue
        if len(words) not in (2, 3):
            raise ValidationError(f"{where}: a key line is `org key_version [fingerprint]`")
        try:
            validate_org(words[0])
        except ValidationError:
            raise ValidationError(f"{where}: the first word is not an organisation code") from None
        version = _number(words[1], where, "key version")
        fingerprint = words[2].lower() if len(words) == 3 else None
        if fingerprint is not None and (
            len(fingerprint) != FINGERPRINT_HEX or any(c not in "0123456789abcdef" for c in fingerprint)
        ):
            raise ValidationError(f"{where}: a fingerprint is {FINGERPRINT_HEX} hex characters")
        versions = keys.setdefault(words[0], {})
        if version in versions and versions[version] != fingerprint:
            raise ValidationError(f"{where}: key version {version} of {words[0]} is announced twice")
        versions[version] = fingerprint
    return Announcements(
        keys=MappingProxyType({org: MappingProxyType(v) for org, v in keys.items()}), epochs=frozenset(epochs)
    )


def _number(word: str, where: str, what: str) -> int:
    if not word.isdigit() or int(word) < 1:
        raise ValidationError(f"{where}: the {what} must be a whole number from 1")
    return int(word)


# ---------------------------------------------------------------------------------------------- state
@dataclass(frozen=True)
class KeySeen:
    """The newest key event the monitor checked for one organisation."""

    key_version: int
    signing_key: bytes
    log_index: int


@dataclass(frozen=True)
class MonitorState:
    """What the monitor has checked: entries ``0 .. checked - 1``, the epoch and each organisation's keys."""

    log_key: bytes | None = None
    checked: int = 0
    epoch: int = 0
    keys: Mapping[str, KeySeen] = field(default_factory=lambda: MappingProxyType({}))


def encode_state(state: MonitorState) -> bytes:
    doc = {
        "format_version": STATE_FORMAT_VERSION,
        "log_key": state.log_key.hex() if state.log_key else None,
        "checked": state.checked,
        "epoch": state.epoch,
        "keys": {
            org: {"key_version": k.key_version, "signing_key": k.signing_key.hex(), "log_index": k.log_index}
            for org, k in sorted(state.keys.items())
        },
    }
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def decode_state(data: bytes, *, source: str) -> MonitorState:
    """Strict inverse of ``encode_state``; anything else is a ValidationError naming ``source``."""
    if not data.strip():
        return MonitorState()
    try:
        doc = json.loads(data)
        if doc["format_version"] != STATE_FORMAT_VERSION:
            raise ValidationError(f"{source} has format {doc['format_version']!r}: upgrade the SDK")
        return MonitorState(
            log_key=bytes.fromhex(doc["log_key"]) if doc["log_key"] else None,
            checked=_count(doc["checked"]),
            epoch=_count(doc["epoch"]),
            keys=MappingProxyType(
                {
                    str(org): KeySeen(
                        key_version=_count(k["key_version"]),
                        signing_key=bytes.fromhex(k["signing_key"]),
                        log_index=_count(k["log_index"]),
                    )
                    for org, k in dict(doc["keys"]).items()
                }
            ),
        )
    except ValidationError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ValidationError(f"{source} is not a monitor state file ({type(exc).__name__})") from None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a count")
    return value


def bind_log_key(state: MonitorState, log_key: bytes, *, source: str) -> MonitorState:
    """The state for this log key: a new state's first key is kept; another key later is refused."""
    if state.log_key is None:
        return replace(state, log_key=bytes(log_key))
    if state.log_key != log_key:
        raise ValidationError(f"{source} was kept for another matcher log key: move it away to start again")
    return state
