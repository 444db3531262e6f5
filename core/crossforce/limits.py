"""Every bound the system enforces, in one frozen dataclass (named limits, no magic numbers).

The server validates each RPC against these; clients read the same values so they can split work
(batches, index chunks) before the server has to refuse it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from crossforce.encoding.keytypes import KEY_TYPES

MIB = 1024 * 1024

MAX_TOKENS_PER_TYPE: Mapping[int, int] = MappingProxyType(
    {code: kt.max_per_record for code, kt in KEY_TYPES.items()}
)
"""The key table's "max per record" column (spec v2, "Limits"): the most tokens of each type an honest
candidate can carry, reached only by a record with three forenames, four surname variants and four
previous names."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    # --- messages ---------------------------------------------------------------------------
    max_message_bytes: int = 8 * MIB
    """gRPC receive limit per message; index bits travel in chunks below it."""
    max_text_chars: int = 200
    """Purpose, legal basis, case reference, officer id, organisation codes."""
    max_org_chars: int = 64

    # --- index publishing -------------------------------------------------------------------
    max_index_bytes: int = 1024 * MIB
    """Largest index a force may publish (declared size is checked before any chunk is read)."""
    max_chunk_bytes: int = 4 * MIB
    max_index_header_bytes: int = 4096
    """Largest signed index header (checked before the signature, so before any other work)."""
    min_probes: int = 1
    max_probes: int = 21
    max_filter_fpr: float = 5e-8
    """Ceiling on the per-token false-positive rate a published filter may have (declared or implied by
    its fill): 43 forces x ~32 tokens x 5e-8 keeps false hits near one in 15,000 checks at worst."""
    fill_ratio_slack: float = 0.005
    """How far the measured fill ratio may exceed the one the declared token count predicts."""
    max_index_lifetime_s: int = 400 * 24 * 3600
    max_clock_skew_s: int = 300

    # --- checks -----------------------------------------------------------------------------
    max_tokens_per_type: Mapping[int, int] = field(default_factory=lambda: MAX_TOKENS_PER_TYPE)
    """Per key type, the most tokens one candidate may carry (a type not listed: none). Not settable from
    TOML: it is the spec's table, which every force's encoder also follows."""
    max_tokens_per_candidate: int = sum(MAX_TOKENS_PER_TYPE.values())
    """The sum of ``max_tokens_per_type``: the worst-case honest record (182 in spec v2)."""
    max_batch_candidates: int = 1000
    token_bytes: int = 32

    # --- disclosure -------------------------------------------------------------------------
    max_payload_bytes: int = 256 * 1024
    max_request_id_chars: int = 64
    """Request ids are 32 hex characters; anything longer is refused before storage is asked."""
    max_list_results: int = 1000

    # --- audit ------------------------------------------------------------------------------
    max_entries_per_fetch: int = 1000


DEFAULT_LIMITS = Limits()
