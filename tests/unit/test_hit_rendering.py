"""How the CLI shows a hit: its probability with the label and what it means; a hit-only hit says no more.

Spec v2 scores every hit (the probability that the force holds the person). A vetting officer must see
the number and its label together ("0.93 strong") and be told what it means; a hit under a hit-only
purpose carries no probability and no key types, and must not be shown as if it had a score of 0.
"""

from __future__ import annotations

from rich.console import Console

from crossforce.cli.render import HIT_ONLY_TEXT, is_hit_only, probability_text
from crossforce.cli.tables import hit_json, hits_table, result_line
from crossforce.domain import CheckReport, ForceHit, Strength

SCORED = ForceHit(
    org="kent", strength=Strength.STRONG, key_types=(16, 23), request_id="r1", probability=0.9312
)
WEAK = ForceHit(org="humberside", strength=Strength.WEAK, key_types=(18,), probability=0.41)
HIT_ONLY = ForceHit(org="kent", strength=Strength.NONE, key_types=())  # a hit-only purpose: no label


def _printed(hits: list[ForceHit]) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(hits_table(hits))
    return " ".join(console.export_text().split())


def test_scored_hit_shows_its_probability_with_its_label() -> None:
    assert probability_text(SCORED).plain == "0.93 strong"
    assert probability_text(WEAK).plain == "0.41 weak"
    out = _printed([SCORED, WEAK])
    assert "0.93 strong" in out and "0.41 weak" in out and "name_dob" in out


def test_near_certain_score_is_never_printed_as_certain() -> None:
    """A desk officer who reads "1.00" may skip the confirmation every hit still needs."""
    near = ForceHit(org="kent", strength=Strength.STRONG, key_types=(1,), probability=0.99987)
    assert probability_text(near).plain == ">0.99 strong"
    faint = ForceHit(org="kent", strength=Strength.WEAK, key_types=(27,), probability=0.004)
    assert probability_text(faint).plain == "<0.01 weak"


def test_table_of_scored_hits_says_what_the_probability_means() -> None:
    out = _printed([SCORED])
    assert "how likely it is that the force holds the person checked" in out
    assert "strong >= 0.95" in out and "medium >= 0.70" in out


def test_hit_only_hit_says_only_that_a_force_may_hold_the_person() -> None:
    assert is_hit_only(HIT_ONLY) and not is_hit_only(SCORED)
    out = _printed([HIT_ONLY])
    assert HIT_ONLY_TEXT in out
    assert "0.00" not in out and "how likely" not in out


def test_hit_json_gives_scripts_the_probability_or_null_for_hit_only() -> None:
    assert hit_json(SCORED) == {
        "org": "kent",
        "hit_only": False,
        "probability": 0.9312,
        "strength": "strong",
        "key_types": ["name_dob", "phonetic_postcode"],
        "request_id": "r1",
    }
    only = hit_json(HIT_ONLY)
    assert only["hit_only"] is True and only["probability"] is None and only["key_types"] == []


def test_batch_results_line_carries_each_hit_probability() -> None:
    report = CheckReport(check_id="c1", hits=(SCORED, HIT_ONLY), forces_searched=2, stale_orgs=())
    hits = result_line("C1", "in.csv:2", report)["hits"]
    assert [(h["probability"], h["hit_only"]) for h in hits] == [(0.9312, False), (None, True)]
    assert all("request_id" not in h for h in hits)
