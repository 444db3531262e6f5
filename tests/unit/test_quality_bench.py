"""The match-quality benchmark runs end to end on a small world: v1 and v2 side by side, v2 beats exact
matching, and its report (thresholds, reliability, ablation) is well formed.

Not hard-coded figures: the properties are relative (fuzzy keys must find more of the people a force
holds than an exact name + date-of-birth match, on the same sightings), so they fail if a change to
normalisation, the keys, the tokeniser or the scoring breaks matching.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import quality
from crossforce.encoding.nameclasses import forename_class, name_classes
from crossforce.encoding.records import Record
from crossforce.scoring import DEFAULT

SMALL = ["--people", "400", "--absent", "400", "--records", "6000", "--seed", "7"]


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert quality.main([*SMALL, *extra]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert isinstance(result, dict)
    return result


def test_v1_beside_v2_and_both_beat_the_exact_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    result = _run(capsys, "--ablate")
    assert result["bench"] == "quality" and result["queries"] == 800
    baseline, v1, v2 = result["baseline"], result["v1"], result["v2"]
    assert isinstance(baseline, dict) and isinstance(v1, dict) and isinstance(v2, dict)
    default = v2["by_threshold"][f"{quality.DEFAULT_THRESHOLD:g}"]
    assert default["recall"] > baseline["recall"]
    assert v1["weak"]["recall"] > baseline["recall"]
    for rates in (*v2["by_threshold"].values(), v1["weak"], baseline):
        assert all(0.0 <= rates[k] <= 1.0 for k in ("recall", "false_force", "false_trace"))
    recalls = [rates["recall"] for rates in v2["by_threshold"].values()]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold never finds more
    assert v2["tokens_per_record"] > 0 and v2["index_bits_per_record"] > 0
    assert sum(row["n"] for row in v2["reliability"]) > 0
    misses = round((1 - default["recall"]) * result["pairs"])
    assert sum(v2["misses_by_agreed"].values()) <= misses  # the commonest patterns behind the misses
    ablation = result["ablation"]
    assert isinstance(ablation, dict) and "name_dob" in ablation
    assert all(set(row) == {"recall", "false_force", "false_trace"} for row in ablation.values())


def test_clean_sightings_are_all_found(capsys: pytest.CaptureFixture[str]) -> None:
    """With no errors in the query the only misses are errors another force typed into its copy."""
    result = _run(capsys, "--level", "none", "--people", "300", "--absent", "0", "--keys", "v2")
    v2 = result["v2"]
    assert isinstance(v2, dict) and "v1" not in result
    assert v2["by_threshold"]["0.05"]["recall"] >= 0.95


def test_fit_writes_nothing_without_write(capsys: pytest.CaptureFixture[str]) -> None:
    from crossforce.scoring import load_default

    before = load_default()
    result = _run(capsys, "--keys", "v2", "--people", "200", "--absent", "200", "--fit", "test")
    fitted = result["fitted"]
    assert isinstance(fitted, dict) and fitted["version"] == "test"
    assert load_default() == before


def test_the_bench_states_the_classes_a_client_sends() -> None:
    """name_nodate agrees on F2 too: "Zebedee Daniel" meets "Daniel" as often as Daniel is common."""
    record = Record(record_id="1", given_names="Zebedee Daniel", surname="Smith-Quennell")
    classes = name_classes(record)
    assert classes[0] == forename_class("Daniel") < forename_class("Zebedee")
    assert classes[1] == 0  # Smith, a part of the compound surname


def test_baseline_keys_fold_case_and_accents_but_nothing_else() -> None:
    a = Record(record_id="1", given_names="Zoë Anne", surname="O'Brien", date_of_birth="1980-03-04")
    b = Record(record_id="2", given_names="ZOE ANNE", surname="OBrien", date_of_birth="1980-03-04")
    c = Record(record_id="3", given_names="Zoe", surname="O'Brien", date_of_birth="1980-03-04")
    assert quality.baseline_keys(a) == quality.baseline_keys(b)
    assert quality.baseline_keys(a).isdisjoint(quality.baseline_keys(c))
    assert quality.baseline_keys(Record(record_id="4", given_names="Zoe", surname="Brien")) == set()


def test_a_saved_run_rescores_to_the_bench_figures(tmp_path: Path) -> None:
    """bench.quality_snapshot keeps what scoring needs; bench.quality_tune rescoring it must give the
    bench's own v2 figures for the same world, or tuning on snapshots would tune something else."""
    from bench import quality_snapshot, quality_tune

    summary = quality.run(people=300, absent=300, seed=7, records=6000, arms=("v2",))
    path = tmp_path / "run.pkl"
    quality_snapshot.save(quality_snapshot.take(records=6000, seed=7, people=300, absent=300), path)
    snap = quality_snapshot.load(path)
    params = dataclasses.replace(DEFAULT, base_rate=snap.base_rate())
    probs = quality_tune.probabilities(snap, params)
    v2 = summary["v2"]
    assert isinstance(v2, dict)
    for threshold, expected in v2["by_threshold"].items():
        assert quality_tune.rates(snap, probs, float(threshold)) == expected


def test_refitting_on_a_saved_run_keeps_everything_but_the_curves(tmp_path: Path) -> None:
    from bench import quality_snapshot, quality_tune

    snap = quality_snapshot.take(records=6000, seed=8, people=300, absent=300)
    fitted = quality_tune.refit([snap], DEFAULT, "test")
    assert fitted.version == "test" and fitted.base_rate == DEFAULT.base_rate
    assert (fitted.m, fitted.u, fitted.name_frequency) == (DEFAULT.m, DEFAULT.u, DEFAULT.name_frequency)
    assert fitted.family_calibration  # some family had 30+ hits
