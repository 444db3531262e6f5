"""crossforce.scoring: levels from key types, Fellegi-Sunter probabilities, labels, the parameter file."""

from __future__ import annotations

import dataclasses
from typing import TypedDict

import pytest

from crossforce.encoding.keytypes import (
    FORENAME_DOB,
    FORENAME_DOB_AREA,
    NAME_DOB,
    NAME_NODATE,
    NAME_YEAR,
    PHONETIC_DOB,
    PNC_ID,
    SURNAME_DOB,
)
from crossforce.scoring import (
    DEFAULT,
    MEDIUM,
    NONE,
    NOT_REPORTED,
    STRONG,
    WEAK,
    ScoringParams,
    Thresholds,
    agreement_levels,
    explanations,
    family,
    fit_calibration,
    fit_family_calibration,
    fit_m,
    label,
    load_default,
    score,
)


class _Force(TypedDict):
    force_records: int
    total_records: int
    fpr: float


FORCE: _Force = {"force_records": 500_000, "total_records": 60_000_000, "fpr": 1e-8}
MODEL = dataclasses.replace(DEFAULT, calibration=(1.0, 0.0), family_calibration={})
"""The shipped m and u without Platt scaling: the model's own properties, unmoved by a refit."""


def _p(
    types: set[int],
    cls: int = 0,
    sent: set[int] | None = None,
    *,
    force_records: int = FORCE["force_records"],
    total_records: int = FORCE["total_records"],
    fpr: float = FORCE["fpr"],
) -> float:
    return score(
        types,
        forename_class=cls,
        surname_class=cls,
        params=MODEL,
        sent_types=sent or (),
        force_records=force_records,
        total_records=total_records,
        fpr=fpr,
    ).probability


def test_levels_take_the_most_specific_agreement_per_field() -> None:
    assert agreement_levels({NAME_NODATE, NAME_YEAR, PHONETIC_DOB}) == {
        "forename": "exact",
        "surname": "exact",
        "dob": "unordered",
    }
    assert agreement_levels({FORENAME_DOB_AREA}) == {
        "forename": "phonetic",
        "dob": "unordered",
        "location": "district",
    }


def test_nested_keys_never_count_twice() -> None:
    """name_dob implies surname_dob and name_nodate of the same name: adding them adds no evidence."""
    alone = score({NAME_DOB}, forename_class=2, surname_class=2, **FORCE)
    nested = score({NAME_DOB, SURNAME_DOB, NAME_NODATE}, forename_class=2, surname_class=2, **FORCE)
    assert nested == alone
    assert agreement_levels({NAME_DOB}, {NAME_DOB}) == agreement_levels({NAME_DOB})


def test_unknown_key_types_are_ignored_and_nothing_agreed_is_no_hit() -> None:
    assert score({250}, forename_class=0, surname_class=0, **FORCE).probability == 0.0
    assert score(set(), forename_class=0, surname_class=0, **FORCE).weight == 0.0


def test_common_name_with_date_is_weaker_than_rare_name_with_date() -> None:
    assert _p({NAME_DOB}, 0) < 0.7 < 0.99 < _p({NAME_DOB}, 5)


def test_common_name_without_a_date_is_never_reported() -> None:
    """John Smith agreeing on the name alone at a big force is expected by chance (spec-v2 section 4)."""
    assert _p({NAME_NODATE}, 0) < 0.01
    assert _p({NAME_NODATE}, 4) > 100 * _p({NAME_NODATE}, 0)


def test_a_date_offered_but_not_agreeing_counts_against_the_hit() -> None:
    """The candidate sent date keys, yet only the date-free name key agreed: the force's record has no
    date or another one. A candidate without a date is not penalised for it."""
    without_date = _p({NAME_NODATE}, 4)
    date_disagrees = _p({NAME_NODATE}, 4, sent={NAME_NODATE, NAME_DOB, SURNAME_DOB})
    assert date_disagrees < without_date / 3
    levels = agreement_levels({NAME_NODATE}, {NAME_NODATE, NAME_DOB})
    assert levels["dob"] == NONE


def test_nothing_but_missing_fields_is_no_hit() -> None:
    assert score(set(), forename_class=0, surname_class=0, sent_types={NAME_DOB}, **FORCE).probability == 0.0


def test_force_size_cancels_until_namesakes_saturate() -> None:
    """Prior and chance agreement both grow with N, so size cancels while namesakes are rare; once some
    namesake is all but certain (a name without a date at a big force) the hit says nothing."""
    small = _p({NAME_DOB}, 1, force_records=20_000, total_records=60_000_000)
    big = _p({NAME_DOB}, 1, force_records=5_000_000, total_records=60_000_000)
    assert abs(big - small) < 0.05
    prior = MODEL.base_rate * 5_000_000 / 60_000_000
    saturated = _p({NAME_NODATE}, 0, force_records=5_000_000, total_records=60_000_000)
    assert saturated <= prior * 1.01


def test_an_identifier_agreeing_is_strong_whatever_the_name() -> None:
    assert _p({PNC_ID}, 0) > 0.99


def test_index_false_positives_cap_the_evidence() -> None:
    """An identifier agreeing is worth no more than the index's false-positive rate allows."""
    exact = _p({PNC_ID}, fpr=0.0)
    noisy = _p({PNC_ID}, fpr=0.5)
    assert noisy < 0.2 < 0.99 < exact


def test_rare_class_claim_only_raises_the_probability_it_states() -> None:
    """A false 'rare' claim changes u only: the levels and the set of key types are untouched."""
    common = score({NAME_DOB}, forename_class=0, surname_class=0, **FORCE)
    rare = score({NAME_DOB}, forename_class=5, surname_class=5, **FORCE)
    assert common.levels == rare.levels and rare.weight > common.weight


@pytest.mark.parametrize("bad", [-1, 6, 255])
def test_class_out_of_range_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="class"):
        score({NAME_DOB}, forename_class=bad, surname_class=0, **FORCE)


def test_record_counts_are_checked() -> None:
    with pytest.raises(ValueError):
        score({NAME_DOB}, forename_class=0, surname_class=0, force_records=10, total_records=5, fpr=0.0)


def test_labels_follow_thresholds_and_hide_below_report() -> None:
    t = Thresholds(report=0.2, request=0.7)
    assert [label(p, t) for p in (0.1, 0.2, 0.69, 0.7, 0.95, 1.0)] == [
        NOT_REPORTED,
        WEAK,
        WEAK,
        MEDIUM,
        STRONG,
        STRONG,
    ]
    assert label(0.75, Thresholds(report=0.8, request=0.9)) == NOT_REPORTED


def test_thresholds_out_of_range_are_rejected() -> None:
    with pytest.raises(ValueError):
        Thresholds(report=1.5, request=0.5)
    with pytest.raises(ValueError):
        Thresholds(report=0.1, request=0.5, medium=0.99, strong=0.9)


def test_shipped_parameters_round_trip_and_load() -> None:
    params = load_default()
    assert params == DEFAULT
    assert ScoringParams.from_json(params.to_json("x")) == params
    assert params.version


def test_parameters_missing_a_level_are_rejected() -> None:
    m = {k: dict(v) for k, v in DEFAULT.m.items()}
    del m["dob"]["year"]
    with pytest.raises(ValueError, match="every level"):
        dataclasses.replace(DEFAULT, m=m)


def test_calibration_moves_probability_monotonically() -> None:
    sharper = dataclasses.replace(DEFAULT, calibration=(2.0, 0.0))
    base = score({NAME_DOB}, forename_class=3, surname_class=3, params=MODEL, **FORCE).probability
    sharp = score({NAME_DOB}, forename_class=3, surname_class=3, params=sharper, **FORCE).probability
    assert (sharp - 0.5) * (base - 0.5) > 0 and abs(sharp - 0.5) > abs(base - 0.5)


def test_shipped_parameters_keep_the_order_of_evidence() -> None:
    """Whatever a refit moves, a rare name beats a common one and an identifier beats a bare name."""
    common = score({NAME_DOB}, forename_class=0, surname_class=0, **FORCE).probability
    rare = score({NAME_DOB}, forename_class=5, surname_class=5, **FORCE).probability
    bare = score({NAME_NODATE}, forename_class=0, surname_class=0, **FORCE).probability
    assert bare < common < rare
    assert score({PNC_ID}, forename_class=0, surname_class=0, **FORCE).probability > common


def test_fit_m_counts_levels_and_missing_fields() -> None:
    pairs = [{"dob": "full", "forename": "exact"}] * 80 + [{"dob": "none", "forename": "exact"}] * 20
    m, m_none = fit_m(pairs, DEFAULT.m, DEFAULT.m_none)
    assert m["dob"]["full"] > 0.9 and abs(sum(m["dob"].values()) - 1.0) < 1e-9
    assert 0.15 < m_none["dob"] < 0.25
    assert m["surname"] == pytest.approx(DEFAULT.m["surname"])  # no data: the prior stays


def test_fit_calibration_recovers_a_known_curve() -> None:
    """Outcomes drawn from sigmoid(0.5 x - 1) give back about (0.5, -1)."""
    import math
    import random

    rng = random.Random(3)
    xs = [rng.uniform(-10.0, 10.0) for _ in range(20_000)]
    ys = [rng.random() < 1.0 / (1.0 + math.exp(-(0.5 * x - 1.0))) for x in xs]
    slope, intercept = fit_calibration(xs, ys)
    assert slope == pytest.approx(0.5, abs=0.05) and intercept == pytest.approx(-1.0, abs=0.1)
    assert fit_calibration([], []) == (1.0, 0.0)


def test_name_of_one_record_and_date_of_another_do_not_make_a_name_and_date_match() -> None:
    """A force's filter is a set: a namesake's name_nodate and someone else's forename_dob agree together
    without name_dob. One record with both would have matched name_dob, so each is scored on its own."""
    sent = {NAME_DOB, NAME_NODATE, FORENAME_DOB, SURNAME_DOB}
    assembled = {NAME_NODATE, FORENAME_DOB}
    assert len(explanations(assembled, sent)) == 2
    one_record = _p(sent, 2, sent=sent)
    two_records = _p(assembled, 2, sent=sent)
    alone = max(_p({NAME_NODATE}, 2, sent=sent), _p({FORENAME_DOB}, 2, sent=sent))
    assert two_records == alone < one_record / 5
    assert explanations(sent, sent) == [agreement_levels({NAME_DOB}, sent)]


def test_a_family_names_the_fields_that_agreed_and_those_that_did_not() -> None:
    sent = {NAME_DOB, NAME_NODATE, FORENAME_DOB, SURNAME_DOB, FORENAME_DOB_AREA}
    married = agreement_levels({FORENAME_DOB, FORENAME_DOB_AREA}, sent)
    assert family(married) == "dob+forename+location-surname"
    assert family(agreement_levels({NAME_NODATE}, sent)) == "forename+surname-dob-location"
    assert family(agreement_levels({NAME_NODATE}, {NAME_NODATE})) == "forename+surname"


def test_a_family_curve_replaces_the_global_one_for_its_hits_only() -> None:
    sent = {NAME_DOB, NAME_NODATE, FORENAME_DOB, SURNAME_DOB}
    married = family(agreement_levels({FORENAME_DOB}, sent))
    boosted = dataclasses.replace(MODEL, family_calibration={married: (1.0, 3.0)})

    def stated(types: set[int], params: ScoringParams) -> float:
        return score(
            types, forename_class=2, surname_class=2, sent_types=sent, params=params, **FORCE
        ).probability

    assert stated({FORENAME_DOB}, boosted) > stated({FORENAME_DOB}, MODEL)
    assert stated({SURNAME_DOB}, boosted) == stated({SURNAME_DOB}, MODEL)
    assert ScoringParams.from_json(boosted.to_json()) == boosted


def test_family_fits_need_enough_hits_and_stay_near_the_global_curve_when_separable() -> None:
    """40 hits of a family, every one the person, lift its curve well above the global one but keep it
    finite; a family of 5 hits keeps the global curve."""
    hits = [("rare", -1.0, True)] * 40 + [("few", 0.0, False)] * 5
    curves = fit_family_calibration(hits, (1.0, 0.0))
    assert set(curves) == {"rare"}
    slope, intercept = curves["rare"]
    assert slope > 0.0 and 1.0 < slope * -1.0 + intercept < 10.0


def test_parameters_with_a_decreasing_family_curve_are_rejected() -> None:
    with pytest.raises(ValueError, match="family_calibration"):
        dataclasses.replace(DEFAULT, family_calibration={"dob+forename": (-1.0, 0.0)})
