"""The network secret: the key every force uses to make keyed-hash tokens, in numbered epochs.

The matcher never holds it (threat model: tokens must not be reversible by whoever holds the index
store). Epochs let the network rotate it: ``rotate`` adds epoch max+1 and makes it current while
earlier epochs stay usable until ``retire``, so forces can republish under the new epoch before the old
one stops matching. Epoch numbers only grow; a retired epoch number is never reused.

Export format (``to_json``/``from_json``), the file forces receive; ``crossforce.keystore`` reads and
writes it (0600), this module never touches a file::

    {"format": "crossforce-network-secret/1",
     "current_epoch": 2,
     "epochs": {"1": "<64 lowercase hex>", "2": "<64 lowercase hex>"}}

Epoch keys are decimal strings without leading zeros; each secret is 32 bytes. Parse errors name the
field that is wrong and never echo secret material; ``repr`` shows epoch numbers only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from secrets import token_bytes  # the standard library's CSPRNG (absolute import, not this module)
from types import MappingProxyType
from typing import Any

from crossforce.errors import ValidationError

FORMAT = "crossforce-network-secret/1"
SECRET_BYTES = 32
_EPOCH_KEY_RE = re.compile(r"[1-9][0-9]{0,9}")
_HEX_RE = re.compile(r"[0-9a-f]{64}")


def _is_epoch(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class NetworkSecret:
    """Immutable; ``rotate`` and ``retire`` return a new value, so callers persist it deliberately."""

    epochs: Mapping[int, bytes] = field(repr=False)
    current_epoch: int

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, Mapping) or not self.epochs:
            raise ValidationError("must hold at least one epoch", field="epochs")
        for epoch, secret in self.epochs.items():
            if not _is_epoch(epoch):
                raise ValidationError("epoch numbers must be whole numbers >= 1", field="epochs")
            if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
                raise ValidationError(f"epoch {epoch} secret must be {SECRET_BYTES} bytes", field="epochs")
        if not _is_epoch(self.current_epoch) or self.current_epoch not in self.epochs:
            raise ValidationError("must be one of the held epochs", field="current_epoch")
        # Copy, then freeze: the caller's dict must not be able to change the secret behind our back.
        frozen = MappingProxyType({e: self.epochs[e] for e in sorted(self.epochs)})
        object.__setattr__(self, "epochs", frozen)

    def __repr__(self) -> str:
        return f"NetworkSecret(current_epoch={self.current_epoch}, active_epochs={self.active_epochs})"

    @classmethod
    def create(cls) -> NetworkSecret:
        """A new network secret with a single random epoch, 1."""
        return cls(epochs={1: token_bytes(SECRET_BYTES)}, current_epoch=1)

    def rotate(self) -> NetworkSecret:
        """Add epoch max+1 with fresh random bytes and make it current; earlier epochs are kept."""
        new_epoch = max(self.epochs) + 1
        return NetworkSecret(
            epochs={**self.epochs, new_epoch: token_bytes(SECRET_BYTES)}, current_epoch=new_epoch
        )

    def retire(self, epoch: int) -> NetworkSecret:
        """Drop ``epoch``; tokens made under it stop matching. The current epoch cannot be retired."""
        if epoch not in self.epochs:
            raise ValidationError(f"epoch {epoch} is not active", field="epoch")
        if epoch == self.current_epoch:
            raise ValidationError("cannot retire the current epoch; rotate first", field="epoch")
        return NetworkSecret(
            epochs={e: s for e, s in self.epochs.items() if e != epoch}, current_epoch=self.current_epoch
        )

    def secret_for(self, epoch: int) -> bytes:
        """The 32 secret bytes of ``epoch``; ValidationError if it is unknown or retired."""
        try:
            return self.epochs[epoch]
        except (KeyError, TypeError):
            raise ValidationError(f"epoch {epoch!r} is not active", field="epoch") from None

    @property
    def current_secret(self) -> bytes:
        return self.epochs[self.current_epoch]

    @property
    def active_epochs(self) -> tuple[int, ...]:
        """Held epochs, ascending."""
        return tuple(sorted(self.epochs))

    # --- export ---------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The documented export format (see module docstring)."""
        doc = {
            "format": FORMAT,
            "current_epoch": self.current_epoch,
            "epochs": {str(e): self.epochs[e].hex() for e in self.active_epochs},
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> NetworkSecret:
        """Parse the export format strictly; ValidationError names what is wrong, never secret bytes."""
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        except UnicodeDecodeError:
            raise ValidationError("not UTF-8 text") from None
        except (ValueError, RecursionError):  # e.g. an absurdly long number or deep nesting
            raise ValidationError("not a usable JSON document") from None
        if not isinstance(doc, dict):
            raise ValidationError("expected a JSON object")
        if doc.get("format") != FORMAT:
            raise ValidationError(f"must be {FORMAT!r}", field="format")
        unknown = set(doc) - {"format", "current_epoch", "epochs"}
        if unknown:
            raise ValidationError(f"unknown fields {sorted(unknown)}")
        current = doc.get("current_epoch")
        if not _is_epoch(current):
            raise ValidationError("must be a whole number >= 1", field="current_epoch")
        raw_epochs = doc.get("epochs")
        if not isinstance(raw_epochs, dict) or not raw_epochs:
            raise ValidationError("must be a non-empty object", field="epochs")
        epochs: dict[int, bytes] = {}
        for key, value in raw_epochs.items():
            if not _EPOCH_KEY_RE.fullmatch(key):
                raise ValidationError("keys must be epoch numbers without leading zeros", field="epochs")
            if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
                raise ValidationError(
                    f"epoch {key} must be {2 * SECRET_BYTES} lowercase hex characters", field="epochs"
                )
            epochs[int(key)] = bytes.fromhex(value)
        if current not in epochs:
            raise ValidationError(f"epoch {current} is not among the epochs", field="current_epoch")
        return cls(epochs=epochs, current_epoch=current)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        # A duplicate epoch would let two readers of one file disagree on the secret.
        raise ValidationError("duplicate key in JSON object")
    return dict(pairs)
