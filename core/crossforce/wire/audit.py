"""Audit service messages: tree heads, consistency and inclusion proofs, log entries, the log key.

Conversions only: every proof is verified by the caller (``crossforce.auditlog``), never here.
"""

from __future__ import annotations

from collections.abc import Iterable

from crossforce.domain import ConsistencyProof, InclusionProof, LogEntry, LogKey
from crossforce.errors import ValidationError
from crossforce.v2 import crossforce_pb2 as pb


def tree_head_request() -> pb.GetTreeHeadRequest:
    return pb.GetTreeHeadRequest()


def consistency_proof_request(first: int, second: int) -> pb.GetConsistencyProofRequest:
    return pb.GetConsistencyProofRequest(first=first, second=second)


def consistency_proof_to_pb(proof: ConsistencyProof) -> pb.ConsistencyProof:
    return pb.ConsistencyProof(first=proof.first, second=proof.second, hashes=list(proof.hashes))


def consistency_proof_from_pb(msg: pb.ConsistencyProof) -> ConsistencyProof:
    return ConsistencyProof(first=msg.first, second=msg.second, hashes=tuple(bytes(h) for h in msg.hashes))


def inclusion_proof_request(leaf_index: int, tree_size: int) -> pb.GetInclusionProofRequest:
    return pb.GetInclusionProofRequest(leaf_index=leaf_index, tree_size=tree_size)


def inclusion_proof_to_pb(proof: InclusionProof) -> pb.InclusionProof:
    return pb.InclusionProof(
        leaf_index=proof.leaf_index, tree_size=proof.tree_size, hashes=list(proof.hashes), entry=proof.entry
    )


def inclusion_proof_from_pb(msg: pb.InclusionProof) -> InclusionProof:
    return InclusionProof(
        leaf_index=msg.leaf_index,
        tree_size=msg.tree_size,
        hashes=tuple(bytes(h) for h in msg.hashes),
        entry=bytes(msg.entry),
    )


def entries_request(start: int, end: int) -> pb.GetEntriesRequest:
    """Leaves in ``[start, end)``."""
    return pb.GetEntriesRequest(start=start, end=end)


def log_entry_to_pb(e: LogEntry) -> pb.LogEntry:
    return pb.LogEntry(index=e.index, leaf_hash=e.leaf_hash, entry=e.entry)


def log_entry_from_pb(msg: pb.LogEntry) -> LogEntry:
    return LogEntry(index=msg.index, leaf_hash=bytes(msg.leaf_hash), entry=bytes(msg.entry))


def entries_to_pb(entries: Iterable[LogEntry]) -> pb.GetEntriesResponse:
    return pb.GetEntriesResponse(entries=[log_entry_to_pb(e) for e in entries])


def entries_from_pb(msg: pb.GetEntriesResponse) -> tuple[LogEntry, ...]:
    return tuple(log_entry_from_pb(e) for e in msg.entries)


def log_key_request() -> pb.GetLogKeyRequest:
    return pb.GetLogKeyRequest()


def log_key_to_pb(key: LogKey) -> pb.LogKey:
    return pb.LogKey(public_key=key.public_key, log_id=key.log_id)


def log_key_from_pb(msg: pb.LogKey) -> LogKey:
    return LogKey(public_key=bytes(msg.public_key), log_id=msg.log_id)


def checkpoint_request(tree_size: int = 0) -> pb.GetCheckpointRequest:
    """``tree_size`` 0: the newest checkpoint."""
    return pb.GetCheckpointRequest(tree_size=tree_size)


def checkpoint_to_pb(tree_size: int, note: bytes) -> pb.Checkpoint:
    return pb.Checkpoint(tree_size=tree_size, note=note)


def checkpoint_from_pb(msg: pb.Checkpoint) -> tuple[int, bytes]:
    """``(tree_size, note)``; the note is verified by the caller (``crossforce.auditlog.checkpoint``)."""
    return msg.tree_size, bytes(msg.note)


def cosignature_request(tree_size: int, signature_line: str) -> pb.AddCosignatureRequest:
    return pb.AddCosignatureRequest(tree_size=tree_size, signature_line=signature_line.encode())


def cosignature_request_from_pb(msg: pb.AddCosignatureRequest) -> tuple[int, str]:
    """``(tree_size, signature line)``; a line that is not UTF-8 is a ValidationError."""
    try:
        return msg.tree_size, bytes(msg.signature_line).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the signature line must be UTF-8 text", field="signature_line") from None


def cosignature_count_to_pb(count: int) -> pb.AddCosignatureResponse:
    return pb.AddCosignatureResponse(cosignatures=count)


def cosignature_count_from_pb(msg: pb.AddCosignatureResponse) -> int:
    return msg.cosignatures
