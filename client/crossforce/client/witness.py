"""A witness: checks that the matcher's log only ever grows, and cosigns each head it checked (issue 16).

Any organisation (or an independent party) runs ``crossforce witness``. Each round it fetches the
matcher's newest C2SP checkpoint, verifies the log's signature with the key from the operator's published
file, and proves the checkpoint consistent with the last one it cosigned (RFC 9162 consistency proof);
only then does it cosign it (c2sp.org/tlog-cosignature, cosignature/v1 with the time) and send the
cosignature back with ``AddCosignature``. Clients accept a head only with a quorum of such cosignatures,
so an operator showing two organisations two histories must get both past the same witnesses, which
refuse the second: a rolled-back or forked checkpoint raises VerificationError (the alarm) and nothing is
cosigned.

The witness keeps what it cosigned last (origin, tree size, root) in a small JSON state file written
atomically with mode 0600 before the cosignature leaves, so a crash can never let it cosign a fork of
what it already vouched for. Its key is a signed-note private key (``PRIVATE+KEY+name+hash+base64``) in a
0600 file; the operator configures its verifier key (``name+hash+base64``) on the matcher and publishes
it in log-key.pub.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from crossforce.auditlog import checkpoint, merkle
from crossforce.client.connection import Connection
from crossforce.errors import ValidationError, VerificationError
from crossforce.fsutil import atomic_write_private, read_limited
from crossforce.wire import audit as wire_audit

MAX_KEY_FILE_BYTES = 4096
MAX_STATE_FILE_BYTES = 64 * 1024
STATE_FORMAT = "crossforce-witness-state/1"


@dataclass(frozen=True)
class WitnessKey:
    """The witness's cosigning key and its public half (a cosignature/v1, type 0x04, verifier)."""

    verifier: checkpoint.Verifier
    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls, name: str) -> WitnessKey:
        key = nacl.signing.SigningKey.generate()
        public = checkpoint.Verifier(
            name=name, sig_type=checkpoint.SIG_COSIGNATURE_V1, public_key=bytes(key.verify_key)
        )
        return cls(verifier=public, signing_key=key)

    def save(self, path: Path) -> None:
        """Write the private key file (0600, atomically); an existing file is never overwritten."""
        if path.exists():
            raise ValidationError(f"{path} exists: a witness key is never overwritten (move it away first)")
        text = checkpoint.encode_signer_key(self.verifier.name, self.verifier.sig_type, self.signing_key)
        atomic_write_private(path, (text + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> WitnessKey:
        try:
            text = read_limited(path, MAX_KEY_FILE_BYTES).decode("ascii")
        except UnicodeDecodeError:
            raise ValidationError(f"{path} is not a witness key file") from None
        verifier, key = checkpoint.parse_signer_key(text, source=str(path))
        if verifier.sig_type != checkpoint.SIG_COSIGNATURE_V1:
            raise ValidationError(f"{path} is not a cosignature/v1 witness key (type 0x04)")
        return cls(verifier=verifier, signing_key=key)


@dataclass(frozen=True)
class Cosigned:
    """What the witness last vouched for: the log's origin, size and root."""

    origin: str
    tree_size: int
    root_hash: bytes


def encode_witness_state(state: Cosigned) -> bytes:
    doc = {
        "format": STATE_FORMAT,
        "origin": state.origin,
        "tree_size": state.tree_size,
        "root_hash": base64.b64encode(state.root_hash).decode(),
    }
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def load_witness_state(path: Path) -> Cosigned | None:
    """The state file's content, None if there is none yet; ValidationError if it is damaged (a witness
    that forgot what it cosigned could be led to cosign a fork, so it stops instead)."""
    if not path.exists():
        return None
    try:
        doc = json.loads(read_limited(path, MAX_STATE_FILE_BYTES))
        if doc["format"] != STATE_FORMAT:
            raise ValueError("format")
        state = Cosigned(
            origin=str(doc["origin"]),
            tree_size=int(doc["tree_size"]),
            root_hash=base64.b64decode(doc["root_hash"], validate=True),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValidationError(
            f"{path} is not a witness state file ({STATE_FORMAT}); restore it from backup rather than "
            "deleting it"
        ) from None
    if len(state.root_hash) != merkle.HASH_BYTES or state.tree_size < 0:
        raise ValidationError(f"{path} is damaged (root hash or size)")
    return state


@dataclass(frozen=True)
class Round:
    """One witness round: the checkpoint cosigned, and how many cosignatures the matcher now holds."""

    checkpoint: checkpoint.Checkpoint
    previous_size: int
    cosignatures: int
    """0 when nothing was sent (an empty log has nothing to cosign)."""


class Witness:
    """Fetch, verify, cosign, submit: one ``round`` at a time; the CLI loops and reports."""

    def __init__(
        self,
        *,
        connection: Connection,
        key: WitnessKey,
        log_key: bytes,
        state_path: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._conn = connection
        self._key = key
        self._log_key = bytes(log_key)
        self._state_path = state_path
        self._clock = clock

    def round(self) -> Round:
        """Verify the newest checkpoint against the last one cosigned and cosign it; VerificationError (and
        nothing cosigned) on a bad signature, a rollback or a fork."""
        msg = self._conn.call(self._conn.audit.GetCheckpoint, wire_audit.checkpoint_request(0))
        signed, _ = checkpoint.open_checkpoint(wire_audit.checkpoint_from_pb(msg)[1], self._log_key)
        last = load_witness_state(self._state_path)
        self._check_consistent(last, signed)
        previous = last.tree_size if last is not None else 0
        if signed.tree_size == 0:
            return Round(checkpoint=signed, previous_size=previous, cosignatures=0)
        atomic_write_private(
            self._state_path,
            encode_witness_state(Cosigned(signed.origin, signed.tree_size, signed.root_hash)),
        )
        line = checkpoint.cosign(
            signed, self._key.verifier.name, self._key.signing_key, timestamp=int(self._clock())
        )
        sent = self._conn.call(
            self._conn.audit.AddCosignature,
            wire_audit.cosignature_request(signed.tree_size, line.line.rstrip("\n")),
        )
        return Round(
            checkpoint=signed, previous_size=previous, cosignatures=wire_audit.cosignature_count_from_pb(sent)
        )

    def _check_consistent(self, last: Cosigned | None, new: checkpoint.Checkpoint) -> None:
        if last is None:
            return
        if last.origin != new.origin:
            raise VerificationError(
                f"the checkpoint is for log {new.origin} but this witness cosigned {last.origin}: wrong "
                "--log-key-file or --state?"
            )
        if new.tree_size < last.tree_size:
            raise VerificationError(
                f"ALARM: the log rolled back from {last.tree_size} to {new.tree_size} entries since this "
                "witness cosigned it; nothing was cosigned"
            )
        proof: list[bytes] = []
        if 0 < last.tree_size < new.tree_size:
            try:
                msg = self._conn.call(
                    self._conn.audit.GetConsistencyProof,
                    wire_audit.consistency_proof_request(last.tree_size, new.tree_size),
                )
            except ValidationError as exc:  # a log that cannot prove it grew from what was cosigned
                raise VerificationError(
                    f"ALARM: the matcher cannot prove its log of {new.tree_size} entries consistent with "
                    f"the {last.tree_size} entries this witness cosigned; nothing was cosigned"
                ) from exc
            proof = list(wire_audit.consistency_proof_from_pb(msg).hashes)
        try:
            merkle.verify_consistency(last.tree_size, new.tree_size, last.root_hash, new.root_hash, proof)
        except VerificationError as exc:
            raise VerificationError(
                f"ALARM: the checkpoint of {new.tree_size} entries is not consistent with the one of "
                f"{last.tree_size} entries this witness cosigned (a fork or a split view); nothing was "
                "cosigned"
            ) from exc
