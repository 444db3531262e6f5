"""Calibration from request outcomes (``usecases.calibration``, ``scoring.fit_outcome_calibration``).

A matcher that states 0.3 where three in five are confirmed misleads every officer who reads it; the refit
must find the curve that the outcomes show, refuse when they are too few to show one, and the file it
writes must change what the matcher states.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from pathlib import Path

import pytest

from crossforce import scoring
from crossforce.domain import RequestState
from crossforce.errors import PreconditionError, ValidationError
from crossforce.server.usecases.calibration import MIN_EACH, calibrate, load_scoring_params

C, N = RequestState.CONFIRMED, RequestState.NO_MATCH
TRUE_CURVE = (0.6, 0.9)
"""The miscalibration the synthetic outcomes carry: P(confirmed) = sigmoid(0.6 * logit(stated) + 0.9)."""


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _outcomes(n: int, curve: tuple[float, float], seed: int = 5) -> list[tuple[int, int]]:
    """Stated probabilities spread over the whole range, each confirmed with the true curve's chance."""
    rng = random.Random(seed)
    rows: list[tuple[int, int]] = []
    for _ in range(n):
        stated = _sigmoid(rng.uniform(-5.0, 5.0))
        truth = _sigmoid(curve[0] * math.log(stated / (1.0 - stated)) + curve[1])
        rows.append((round(stated * 1_000_000), int(C if rng.random() < truth else N)))
    return rows


def test_a_fit_on_outcomes_recovers_a_known_miscalibration() -> None:
    result = calibrate(_outcomes(4000, TRUE_CURVE), scoring.DEFAULT)
    slope, intercept = result.fitted
    assert slope == pytest.approx(TRUE_CURVE[0], abs=0.08)
    assert intercept == pytest.approx(TRUE_CURVE[1], abs=0.15)
    worst_before = max(abs(r.gap) for r in result.before if r.n >= 100)
    worst_after = max(abs(r.gap) for r in result.after if r.n >= 100)
    assert worst_before > 0.10 and worst_after < 0.05
    assert result.outcomes == 4000 and result.params.version.startswith(scoring.DEFAULT.version + "+")


def test_well_calibrated_outcomes_leave_the_curve_about_where_it_was() -> None:
    slope, intercept = calibrate(_outcomes(20_000, (1.0, 0.0)), scoring.DEFAULT).fitted
    assert slope == pytest.approx(1.0, abs=0.08) and intercept == pytest.approx(0.0, abs=0.12)


def test_a_second_refit_composes_with_the_first_instead_of_starting_over() -> None:
    """Outcomes stated under a refitted file already carry its correction: fitting them again must give
    the same overall curve, not undo the first correction."""
    first = calibrate(_outcomes(4000, TRUE_CURVE), scoring.DEFAULT).params
    restated = []
    for ppm, state in _outcomes(4000, TRUE_CURVE, seed=6):
        z = math.log(ppm / (1_000_000 - ppm))
        a, b = first.outcome_calibration
        restated.append((round(1_000_000 * _sigmoid(a * z + b)), state))
    second = calibrate(restated, first).params
    assert second.outcome_calibration[0] == pytest.approx(TRUE_CURVE[0], abs=0.08)
    assert second.outcome_calibration[1] == pytest.approx(TRUE_CURVE[1], abs=0.15)


def test_too_few_outcomes_are_refused_with_the_counts() -> None:
    with pytest.raises(PreconditionError, match=r"199 resolved requests .* need at least 200"):
        calibrate(_outcomes(199, TRUE_CURVE), scoring.DEFAULT)
    open_and_unstated = [(500_000, RequestState.OPEN)] * 500 + [(0, C)] * 500
    with pytest.raises(PreconditionError, match="0 resolved requests"):
        calibrate(open_and_unstated, scoring.DEFAULT)


def test_outcomes_of_only_one_kind_are_refused() -> None:
    rows = [(800_000, C)] * 1000 + [(300_000, N)] * (MIN_EACH - 1)
    with pytest.raises(PreconditionError, match=f"{MIN_EACH} of each"):
        calibrate(rows, scoring.DEFAULT)
    with pytest.raises(ValidationError):
        calibrate(rows, scoring.DEFAULT, min_outcomes=0)


def test_the_loaded_file_changes_the_stated_probability(tmp_path: Path) -> None:
    refit = calibrate(_outcomes(4000, TRUE_CURVE), scoring.DEFAULT).params
    path = tmp_path / "scoring.json"
    path.write_text(refit.to_json("test"), encoding="utf-8")
    loaded, digest = load_scoring_params(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded == refit

    def stated(params: scoring.ScoringParams) -> float:
        surname_dob = (28,)
        return scoring.score(
            surname_dob, forename_class=0, surname_class=0, force_records=50_000, total_records=1_000_000,
            fpr=1e-8, params=params,
        ).probability  # fmt: skip

    before, after = stated(scoring.DEFAULT), stated(loaded)
    assert 0.0 < before < 1.0 and after != pytest.approx(before, abs=0.01)


def test_the_shipped_parameters_load_with_their_own_digest() -> None:
    params, digest = load_scoring_params(None)
    assert params == scoring.DEFAULT and len(digest) == 64
    assert params.outcome_calibration == (1.0, 0.0)  # no deployment's correction ships with the code


def test_a_file_that_is_not_parameters_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "x"}', encoding="utf-8")
    with pytest.raises(ValidationError, match="not a scoring parameter file"):
        load_scoring_params(bad)
    broken = (
        dataclasses.replace(scoring.DEFAULT)
        .to_json()
        .replace('"outcome_calibration": [\n    1.0', '"outcome_calibration": [\n    -1.0')
    )
    bad.write_text(broken, encoding="utf-8")
    with pytest.raises(ValidationError, match="outcome_calibration"):
        load_scoring_params(bad)
    with pytest.raises(ValidationError, match="cannot read"):
        load_scoring_params(tmp_path / "missing.json")


def test_the_settings_name_the_parameter_file_and_refuse_anything_but_a_path() -> None:
    from crossforce.server.policy.settings import ServerSettings

    assert ServerSettings().scoring_params == ""  # the shipped file
    assert ServerSettings.from_toml_text('scoring_params = "deploy/scoring.json"').scoring_params == (
        "deploy/scoring.json"
    )
    with pytest.raises(ValidationError, match="scoring_params"):
        ServerSettings.from_toml_text("scoring_params = 3")
