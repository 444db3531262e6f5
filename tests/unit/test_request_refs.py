"""Request ids as people type them (``crossforce.domain.disclosure.parse_request_ref``): a table of what
each typed text is taken for, the same on the matcher and in every client."""

from __future__ import annotations

import pytest

from crossforce.domain.disclosure import RefKind, parse_request_ref, short_id
from crossforce.errors import ValidationError

FULL = "3f9c0d12ab34cd56ef7890ab12cd34ef"


@pytest.mark.parametrize(
    ("typed", "kind", "text"),
    [
        (FULL, RefKind.EXACT, FULL),
        (FULL.upper(), RefKind.EXACT, FULL),  # hex is case-blind, as ids are stored lower-case
        (FULL[:12], RefKind.PREFIX, FULL[:12]),
        (FULL[:6], RefKind.PREFIX, FULL[:6]),
        (" " + FULL[:8].upper() + " ", RefKind.PREFIX, FULL[:8]),
        (FULL[:31], RefKind.PREFIX, FULL[:31]),
        ("not-an-id", RefKind.EXACT, "not-an-id"),  # answered like any unknown id: the uniform denial
        (FULL + "0", RefKind.EXACT, FULL + "0"),
    ],
)
def test_typed_request_ids(typed: str, kind: RefKind, text: str) -> None:
    ref = parse_request_ref(typed)
    assert (ref.kind, ref.text) == (kind, text)


@pytest.mark.parametrize("typed", ["3f9c0", "3f", "a"])
def test_prefix_shorter_than_six_is_refused_naming_the_minimum(typed: str) -> None:
    with pytest.raises(ValidationError, match="at least 6 hex characters"):
        parse_request_ref(typed)


def test_short_id_is_a_prefix_lists_can_show_and_take_back() -> None:
    shown = short_id(FULL)
    assert len(shown) == 12 and FULL.startswith(shown)
    assert parse_request_ref(shown).kind is RefKind.PREFIX
