"""Quota units of test candidates, so tests can state quotas as "N checks of this record".

Spec v2 charges a check per token (each token's ``date_span``; ``server.policy.candidates.cost``), so a
quota written as a count of checks in a v1 test must be multiplied by what one candidate costs. The cost
depends only on the key types a record yields, never on the secret, so any tokeniser gives it.
"""

from __future__ import annotations

from crossforce.client.checking import packed_candidate
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import ValidationError
from crossforce.server.policy.candidates import cost

TYPICAL = Record(record_id="typical", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
"""A typical candidate (one forename, a surname, a full date of birth): the unit of "a check"."""


def units_of(record: Record) -> int:
    """The quota units one check of ``record`` costs (one epoch in use)."""
    candidate = packed_candidate(record, [Tokeniser(secret=b"\x00" * 32, epoch=1)])
    if candidate is None:
        raise ValidationError("the record yields no match key, so a check of it is never sent")
    return cost(candidate)


def dearest_units(*records: Record) -> int:
    """The units of the dearest of ``records``: a burst of ``n * dearest_units(...)`` holds any n of them."""
    return max(units_of(r) for r in records)


def typical_units() -> int:
    """The units of a typical check (``TYPICAL``), for quotas over simulated candidates of varying cost."""
    return units_of(TYPICAL)
