"""Idempotency keys: what makes a retried write (a check, a disclosure decision) apply exactly once.

A client that loses a matcher's answer (the replica died, a deploy, a dropped connection) retries on
another matcher with the same key. The first write stored its answer under ``(org, key)`` in the same
transaction as its audit events (``Transaction.put_idempotent``), so a retry finds either nothing (the
first attempt never committed: do the work) or that answer (return it: nothing is charged, logged or
opened again). A key sent again with a different request is refused: the client has a bug, and
answering one request with another's result would be worse than failing.

The request is compared by a SHA-256 over a canonical, length-prefixed encoding of what decides the
answer (tokens, justification, options). Tokens are already keyed hashes; nothing raw is ever hashed
here or stored. Stored answers are a compact, versioned JSON encoding of the domain outcome (no tree
head: a replay is answered under the head current then, which commits to the first answer's events).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from typing import Any

from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import DAY_MS
from crossforce.domain import (
    Candidate,
    CandidateError,
    CheckOutcome,
    CheckResult,
    Coverage,
    ForceHit,
    Justification,
    NotSearchedReason,
    SearchedForce,
    UnsearchedForce,
)
from crossforce.errors import PreconditionError, ValidationError
from crossforce.server.store.rows import IdempotentRow

FIELD = "idempotency_key"
KEY_MIN_CHARS = 16
"""Shorter keys collide too easily between a client's own writes (the SDK sends 32 hex characters)."""
KEY_MAX_CHARS = 64
KEY_CHARS = re.compile(r"[A-Za-z0-9_-]+")
"""Hex, or URL-safe base64: opaque, printable, safe in any log line."""
KEEP_ANSWERS_MS = DAY_MS
"""How long a stored answer must be kept: a client retries within seconds; a day is ample, and keeps the
table bounded (the retention purge may drop older rows)."""
ANSWER_VERSION = 1
DIGEST_CONTEXT = b"crossforce/idempotency/v2\x00"
"""v2: candidates are token blocks with name classes (proto v2)."""
MISMATCH_TEXT = "this idempotency key was used for a different request; send a new key with each new request"


def checked_key(key: str) -> str:
    """``key`` if it is empty (no key) or well formed; ValidationError naming the field otherwise (the
    message never quotes the key)."""
    if not key:
        return ""
    if not KEY_MIN_CHARS <= len(key) <= KEY_MAX_CHARS:
        raise ValidationError(
            f"must be {KEY_MIN_CHARS} to {KEY_MAX_CHARS} characters, not {len(key)}", field=FIELD
        )
    if KEY_CHARS.fullmatch(key) is None:
        raise ValidationError("may hold only A-Z, a-z, 0-9, '_' and '-'", field=FIELD)
    return key


class _Canon:
    """A canonical byte encoding: every field length-prefixed, so no two requests encode alike."""

    def __init__(self, kind: str) -> None:
        self._parts: list[bytes] = [DIGEST_CONTEXT]
        self.text(kind)

    def uint(self, value: int) -> _Canon:
        self._parts.append(struct.pack(">Q", value))
        return self

    def blob(self, value: bytes) -> _Canon:
        self._parts.append(struct.pack(">I", len(value)))
        self._parts.append(value)
        return self

    def text(self, value: str) -> _Canon:
        return self.blob(value.encode("utf-8"))

    def digest(self) -> bytes:
        return hashlib.sha256(b"".join(self._parts)).digest()


def check_digest(
    candidates: Sequence[Candidate], why: Justification, *, open_requests: bool, alone: bool
) -> bytes:
    """The request digest of a check: ``alone`` (a single ``Check``) differs from a batch of one, whose
    answer has another shape."""
    canon = _Canon("check" if alone else "check-batch")
    for value in (why.purpose, why.legal_basis, why.case_reference, why.officer_id):
        canon.text(value)
    canon.uint(int(open_requests)).uint(len(candidates))
    for candidate in candidates:
        canon.uint(candidate.forename_class).uint(candidate.surname_class).uint(len(candidate.blocks))
        for block in candidate.blocks:
            canon.uint(block.epoch).blob(block.key_types).blob(block.tokens)
    return canon.digest()


def decision_digest(
    action: str, request_id: str, *, sealed: bytes | None, reason: int, officer_id: str
) -> bytes:
    """The request digest of a disclosure decision (the ciphertext by its SHA-256)."""
    canon = _Canon(f"decision/{action}").text(request_id)
    canon.blob(hashlib.sha256(sealed).digest() if sealed is not None else b"")
    return canon.uint(reason).text(officer_id).digest()


def same_request(row: IdempotentRow, digest: bytes) -> IdempotentRow:
    """``row``, if it answered this very request; PreconditionError (FAILED_PRECONDITION) otherwise."""
    if row.request_sha256 != digest:
        raise PreconditionError(f"{FIELD}: {MISMATCH_TEXT}")
    return row


def answer_row(
    *, org: str, key: str, digest: bytes, response: bytes, log_index: int, now_ms: int
) -> IdempotentRow:
    return IdempotentRow(
        org=org, key=key, request_sha256=digest, response=response, log_index=log_index, created_at_ms=now_ms
    )


# ------------------------------------------------------------------ stored answers
def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _load(blob: bytes, kind: str) -> dict[str, Any]:
    """The stored document of ``kind``; a newer encoding (a newer matcher wrote it) is refused plainly."""
    doc: dict[str, Any] = json.loads(blob.decode("utf-8"))
    if doc.get("v") != ANSWER_VERSION or doc.get("kind") != kind:
        raise PreconditionError(
            f"{FIELD}: the stored answer for this key is a {doc.get('kind')} answer of encoding version "
            f"{doc.get('v')}, which this matcher does not read; retry with a new key"
        )
    return doc


def encode_check(outcome: CheckOutcome) -> bytes:
    """A check's answer without its tree head (a replay carries the head current then)."""
    return _dump(
        {
            "v": ANSWER_VERSION,
            "kind": "check",
            "results": [
                {
                    "id": r.check_id,
                    "hits": [
                        [h.org, h.strength, list(h.key_types), h.request_id, h.probability] for h in r.hits
                    ],
                    "error": [r.error.code, r.error.message] if r.error is not None else None,
                }
                for r in outcome.results
            ],
            "searched_count": outcome.forces_searched,
            "stale": list(outcome.stale_orgs),
            "searched": [
                [f.org, f.epoch, f.version, f.published_at_ms, f.expires_at_ms]
                for f in outcome.coverage.searched
            ],
            "not_searched": [[f.org, int(f.reason)] for f in outcome.coverage.not_searched],
        }
    )


def decode_check(blob: bytes, head: SignedTreeHead) -> CheckOutcome:
    doc = _load(blob, "check")
    results = tuple(
        CheckResult(
            check_id=r["id"],
            hits=tuple(_hit(*h) for h in r["hits"]),
            error=CandidateError(code=r["error"][0], message=r["error"][1]) if r["error"] else None,
        )
        for r in doc["results"]
    )
    coverage = Coverage(
        searched=tuple(
            SearchedForce(org=o, epoch=e, version=v, published_at_ms=p, expires_at_ms=x)
            for o, e, v, p, x in doc["searched"]
        ),
        not_searched=tuple(
            UnsearchedForce(org=o, reason=NotSearchedReason(r)) for o, r in doc["not_searched"]
        ),
    )
    return CheckOutcome(
        results=results,
        forces_searched=int(doc["searched_count"]),
        stale_orgs=tuple(doc["stale"]),
        tree_head=head,
        coverage=coverage,
    )


def _hit(
    org: str, strength: int, key_types: list[int], request_id: str, probability: float = 0.0
) -> ForceHit:
    """A stored hit; answers stored before spec v2 have no probability."""
    return ForceHit(
        org=org, strength=strength, key_types=tuple(key_types), request_id=request_id, probability=probability
    )


def encode_decision(request_id: str) -> bytes:
    """A decision's answer is the request as it is when the retry arrives: only its id is kept."""
    return _dump({"v": ANSWER_VERSION, "kind": "decision", "request_id": request_id})


def decode_decision(blob: bytes) -> str:
    return str(_load(blob, "decision")["request_id"])
