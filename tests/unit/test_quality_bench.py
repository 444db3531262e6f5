"""The match-quality benchmark runs end to end on a small world and its keys beat exact matching.

Not a hard-coded figure: the property is relative (fuzzy keys must find more of the people a force
holds than an exact name + date-of-birth match, measured on the same sightings), so it fails if a
change to normalisation, the keys or the tokeniser breaks fuzzy matching.
"""

from __future__ import annotations

import json

import pytest

from bench import quality
from crossforce.encoding.records import Record

SMALL = ["--people", "500", "--absent", "500", "--records", "6000", "--seed", "7"]


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert quality.main([*SMALL, *extra]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert isinstance(result, dict)
    return result


def test_json_line_parses_and_keys_beat_exact_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    result = _run(capsys)
    assert result["bench"] == "quality"
    assert result["pairs"] >= 500  # type: ignore[operator]
    assert result["queries"] == 1000
    baseline = result["baseline"]
    assert isinstance(baseline, dict)
    assert result["recall"] > baseline["recall"]
    assert result["recall_strong"] > baseline["recall"]
    for name in ("recall", "false_hit_rate", "absent_false_hit_rate", "wrong_force_rate"):
        assert 0.0 <= result[name] <= 1.0  # type: ignore[operator]
    per_key = result["per_key"]
    assert isinstance(per_key, dict) and per_key
    # Someone's sighting matched on every identifier kind the force recorded, or on some name key.
    assert any(row["matched"] > 0 for row in per_key.values())


def test_clean_sightings_are_all_found(capsys: pytest.CaptureFixture[str]) -> None:
    """With no errors in the query the only misses are errors another force typed into its copy."""
    result = _run(capsys, "--level", "none", "--people", "300", "--absent", "0")
    baseline = result["baseline"]
    assert isinstance(baseline, dict)
    assert result["recall"] >= baseline["recall"]
    assert result["recall"] >= 0.95  # type: ignore[operator]


def test_baseline_keys_fold_case_and_accents_but_nothing_else() -> None:
    a = Record(record_id="1", given_names="Zoë Anne", surname="O'Brien", date_of_birth="1980-03-04")
    b = Record(record_id="2", given_names="ZOE ANNE", surname="OBrien", date_of_birth="1980-03-04")
    c = Record(record_id="3", given_names="Zoe", surname="O'Brien", date_of_birth="1980-03-04")
    assert quality.baseline_keys(a) == quality.baseline_keys(b)
    assert quality.baseline_keys(a).isdisjoint(quality.baseline_keys(c))
    assert quality.baseline_keys(Record(record_id="4", given_names="Zoe", surname="Brien")) == set()
