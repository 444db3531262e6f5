"""What a candidate may hold, and what it costs (spec v2, "Limits"; issue 15).

Why a rule of its own: a keyed-hash token says nothing the matcher can read, so the only defence
against a caller that guesses dates of birth is the shape of what it sends. A candidate holds at most one
block per epoch, only key types the spec defines, no more tokens of a type than the worst-case record
yields, and no token twice: anything else was not made from one record and is refused before it is
charged or matched. Its cost is the number of dates of birth its tokens can agree with for a fixed name
(``KeyType.date_span``), so a guesser pays at least one unit for every date it rules out, whichever keys
it guesses with. Blocks of other epochs carry the same guesses under another secret: only the dearest
block is charged (a caller that puts other guesses there gains at most the number of epochs in use, two
during a rotation).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableSet, Sequence

import numpy as np
import numpy.typing as npt

from crossforce.domain import NAME_CLASS_UNLISTED, Candidate
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.errors import CrossforceError, PreconditionError, TooLargeError, ValidationError
from crossforce.limits import Limits

CODES = 256
"""Key type codes are one byte."""


def _table(values: Mapping[int, int]) -> npt.NDArray[np.int64]:
    out = np.zeros(CODES, dtype=np.int64)
    for code, value in values.items():
        out[code] = value
    return out


DATE_SPAN = _table({code: kt.date_span for code, kt in KEY_TYPES.items()})
"""Quota units per token, by key type code (0 for a code the spec does not define: refused anyway)."""
KNOWN = _table(dict.fromkeys(KEY_TYPES, 1)).astype(bool)
SCREEN_BATCH_MIN = 8
"""Candidates from which ``screen`` takes its batch-wide shortcuts."""
PATTERNS_KEPT = 4096
"""Key-type patterns remembered (``cost``, ``check_candidate``'s ``passed``): a batch repeats a few
dozen (the key types follow from which fields a record has), so a pattern is judged once, not per
candidate; bounded so a caller sending endless new patterns costs memory only up to this."""


def max_per_type(limits: Limits) -> npt.NDArray[np.int64]:
    """Most tokens of each key type one candidate block may hold (0: an unknown type): the spec's "max
    per record" column (``Limits.max_tokens_per_type``), what the worst-case record yields."""
    return _table({code: n for code, n in limits.max_tokens_per_type.items() if code in KEY_TYPES})


def max_cost(limits: Limits) -> int:
    """The dearest candidate the rules allow: every type at its maximum, in one block."""
    return int((max_per_type(limits) * DATE_SPAN).sum())


def cost(candidate: Candidate) -> int:
    """Quota units for ``candidate``: its dearest block's sum of ``date_span`` (at least 1)."""
    dearest = 0
    for block in candidate.blocks:
        dearest = max(dearest, _block_cost(bytes(block.key_types)))
    return max(dearest, 1)


@functools.lru_cache(maxsize=PATTERNS_KEPT)
def _block_cost(key_types: bytes) -> int:
    """One block's sum of ``date_span``: a function of its key types alone, remembered per pattern."""
    return int(DATE_SPAN[np.frombuffer(key_types, dtype=np.uint8)].sum())


def check_candidate(
    candidate: Candidate,
    *,
    limits: Limits,
    active: tuple[int, ...],
    per_type: npt.NDArray[np.int64],
    passed: MutableSet[bytes] | None = None,
) -> None:
    """Refuse a candidate that was not made from one record, or that the matcher cannot check.

    ValidationError (INVALID_ARGUMENT) for its shape, TooLargeError for too many tokens,
    PreconditionError for an epoch not in use (``active``; empty: any). Messages name the block and the
    slot (type code, token number), never a token's value; the result's place names the candidate.
    ``per_type`` is ``max_per_type(limits)``, computed once per batch by the caller. ``passed``, if
    given, holds the key-type patterns already found valid under these same ``limits`` and ``per_type``
    (the caller keeps one per pair): a block with one of them skips the type checks, which depend on
    its key types alone; every other check still runs for every block.
    """
    for name, value in (("forename", candidate.forename_class), ("surname", candidate.surname_class)):
        if not 0 <= value <= NAME_CLASS_UNLISTED:
            raise ValidationError(f"{name} class {value} is not a name class (0 to {NAME_CLASS_UNLISTED})")
    if not candidate.blocks or all(len(b) == 0 for b in candidate.blocks):
        raise ValidationError("a candidate needs at least one token (it yielded no match keys)")
    seen: set[int] = set()
    for i, block in enumerate(candidate.blocks):
        where = f"block {i} (epoch {block.epoch})"
        if block.epoch in seen:
            raise ValidationError(f"{where}: a second block for the same epoch; send one block per epoch")
        seen.add(block.epoch)
        _check_block(block.key_types, block.tokens, where, limits=limits, per_type=per_type, passed=passed)
        if active and block.epoch not in active:
            raise PreconditionError(
                f"{where}: epoch {block.epoch} is not in use; active epochs: " + ", ".join(map(str, active))
            )


def screen(
    candidates: Sequence[Candidate],
    *,
    limits: Limits,
    active: tuple[int, ...],
    per_type: npt.NDArray[np.int64],
    passed: MutableSet[bytes],
) -> list[CrossforceError | None]:
    """``check_candidate`` for each of a batch's candidates: the error that refuses it (ValidationError,
    TooLargeError or PreconditionError, the very one ``check_candidate`` raises), or None to check it.

    Why: judged one by one, a thousand-candidate batch spent ~6-9 µs a candidate in these rules (issue 20).
    Nearly every candidate is one block of a key-type pattern already in ``passed``; for those, what
    is left to judge (name classes, sizes, the epoch) is read here, and whether a token appears twice is
    decided for the whole batch at once. A candidate these shortcuts cannot clear (several blocks, a
    pattern not yet judged, two tokens sharing their first eight bytes) is judged by ``check_candidate``
    itself, so every refusal and every message is exactly its (tests/unit/test_batch_path_equivalence.py).
    A check of fewer than ``SCREEN_BATCH_MIN`` candidates is judged one by one (numpy's set-up would
    cost a single check more than it saves).
    """
    verdicts: list[CrossforceError | None] = [None] * len(candidates)
    slow = list(range(len(candidates)))
    if len(candidates) >= SCREEN_BATCH_MIN and limits.token_bytes % 8 == 0:
        quick, slow = _sorted_out(candidates, limits=limits, active=active, passed=passed)
        if quick:
            slow += _repeated_prefixes(candidates, quick, limits.token_bytes)
    for i in slow:
        try:
            check_candidate(candidates[i], limits=limits, active=active, per_type=per_type, passed=passed)
        except (ValidationError, TooLargeError, PreconditionError) as exc:
            verdicts[i] = exc
    return verdicts


def _sorted_out(
    candidates: Sequence[Candidate], *, limits: Limits, active: tuple[int, ...], passed: MutableSet[bytes]
) -> tuple[list[int], list[int]]:
    """The candidates that ``check_candidate`` admits unless one holds a token twice (one block of a
    pattern in ``passed``, name classes, size and epoch in order), and the others."""
    size = limits.token_bytes
    most = limits.max_tokens_per_candidate
    quick: list[int] = []
    slow: list[int] = []
    for i, cand in enumerate(candidates):
        blocks = cand.blocks
        if (
            len(blocks) == 1
            and 0 <= cand.forename_class <= NAME_CLASS_UNLISTED
            and 0 <= cand.surname_class <= NAME_CLASS_UNLISTED
        ):
            block = blocks[0]
            count = len(block.key_types)
            if (
                0 < count <= most
                and len(block.tokens) == count * size
                and bytes(block.key_types) in passed
                and (not active or block.epoch in active)
            ):
                quick.append(i)
                continue
        slow.append(i)
    return quick, slow


def _repeated_prefixes(candidates: Sequence[Candidate], chosen: list[int], size: int) -> list[int]:
    """Of the ``chosen`` one-block candidates, every one that may hold a token twice (``check_candidate``
    then decides): each token's first eight bytes, mixed with its candidate's number, are sorted once for
    the whole batch; the same token twice in a candidate gives the same value twice, and a candidate none
    of whose values occurs twice holds no token twice. (Two candidates whose values collide by chance are
    both judged the long way, which only costs time.)"""
    blocks = [candidates[i].blocks[0] for i in chosen]
    counts = np.fromiter((len(b.key_types) for b in blocks), dtype=np.int64, count=len(blocks))
    words = np.frombuffer(b"".join(b.tokens for b in blocks), dtype=np.uint64)
    owner = np.repeat(np.arange(len(blocks), dtype=np.uint64), counts)
    mixed = words[:: size // 8] ^ (owner * _MIX)
    ordered = np.sort(mixed)
    if not (ordered[1:] == ordered[:-1]).any():
        return []
    order = np.argsort(mixed)
    mixed, owner = mixed[order], owner[order]
    twice = mixed[1:] == mixed[:-1]
    flagged = np.unique(np.concatenate([owner[1:][twice], owner[:-1][twice]]))
    return [chosen[int(k)] for k in flagged]


_MIX = np.uint64(0x9E3779B97F4A7C15)
"""An odd 64-bit constant (2^64 / golden ratio): candidate numbers times it are far apart."""


def _check_block(
    key_types: bytes,
    tokens: bytes,
    where: str,
    *,
    limits: Limits,
    per_type: npt.NDArray[np.int64],
    passed: MutableSet[bytes] | None,
) -> None:
    count = len(key_types)
    if count > limits.max_tokens_per_candidate:
        raise TooLargeError(f"{where}: {count} tokens exceed the limit of {limits.max_tokens_per_candidate}")
    if len(tokens) != count * limits.token_bytes:
        raise ValidationError(
            f"{where}: {len(tokens)} bytes of tokens for {count} key types; tokens are {limits.token_bytes}"
            " bytes each"
        )
    pattern = bytes(key_types)
    if passed is None or pattern not in passed:
        _check_types(pattern, where, per_type=per_type)
        if passed is not None:
            if len(passed) >= PATTERNS_KEPT:
                passed.clear()
            passed.add(pattern)
    size = limits.token_bytes
    distinct = {tokens[j : j + size] for j in range(0, len(tokens), size)}
    if len(distinct) != count:
        raise ValidationError(f"{where}: a token appears twice; each token is sent once")


def _check_types(key_types: bytes, where: str, *, per_type: npt.NDArray[np.int64]) -> None:
    """Only key types the spec defines, and no more of each than one record yields."""
    types = np.frombuffer(key_types, dtype=np.uint8)
    unknown = types[~KNOWN[types]]
    if unknown.size:
        token = int(np.nonzero(~KNOWN[types])[0][0])
        raise ValidationError(f"{where}: token {token} has unknown key type {int(unknown[0])}")
    counts = np.bincount(types, minlength=CODES)
    over = np.nonzero(counts > per_type)[0]
    if over.size:
        code = int(over[0])
        raise ValidationError(
            f"{where}: {int(counts[code])} tokens of key type {code} ({KEY_TYPES[code].name}); one record"
            f" yields at most {int(per_type[code])}"
        )
