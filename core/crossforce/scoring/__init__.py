"""Calibrated hit probabilities (spec v2, "Scoring"): Fellegi-Sunter over the fields that agreed.

Public API: ``score`` -> ``Score``; ``label`` with ``Thresholds``; ``ScoringParams`` and ``DEFAULT`` (the
shipped, versioned parameter file); ``agreement_levels``; ``evidence``, ``fit_m`` and ``fit_calibration`` for
``bench.quality --fit``; ``fit_outcome_calibration`` for ``crossforce calibrate``. Pure: the only I/O is
reading the shipped file.
"""

from crossforce.scoring.fit import fit_calibration, fit_family_calibration, fit_m, fit_outcome_calibration
from crossforce.scoring.labels import MEDIUM, NOT_REPORTED, STRONG, WEAK, Thresholds, label
from crossforce.scoring.levels import LEVELS, NONE, agreement_levels, explanations, family, offered_fields
from crossforce.scoring.model import DEFAULT, Score, evidence, field_u, score
from crossforce.scoring.params import NAME_CLASSES, ScoringParams, load_default

__all__ = [
    "DEFAULT",
    "LEVELS",
    "MEDIUM",
    "NAME_CLASSES",
    "NONE",
    "NOT_REPORTED",
    "STRONG",
    "WEAK",
    "Score",
    "ScoringParams",
    "Thresholds",
    "agreement_levels",
    "evidence",
    "explanations",
    "family",
    "field_u",
    "fit_calibration",
    "fit_family_calibration",
    "fit_m",
    "fit_outcome_calibration",
    "label",
    "load_default",
    "offered_fields",
    "score",
]
