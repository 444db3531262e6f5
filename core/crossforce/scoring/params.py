"""Scoring parameters: m and u per field level, name-class frequencies, prior, calibration; versioned.

The shipped file ``params-v2.json`` is written by ``python -m bench.quality --fit`` (m and the
calibration fitted on the realistic profile, u from public frequency tables and date and area sizes);
a change to it is a new ``version``, which a stored disclosure request records beside its probability.
Loading is the package's only I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from crossforce.scoring.levels import LEVELS

PARAMS_FILE: Final = "params-v2.json"
NAME_CLASSES: Final = 6
"""Name-frequency classes 0 (commonest) .. 5 (unlisted), as the spec's class tables."""


def _frozen(table: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in table.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoringParams:
    """Everything ``score`` needs besides the hit itself; docs/quality.md says where each value comes from."""

    version: str
    m: Mapping[str, Mapping[str, float]]
    """field -> level -> P(this level is the best agreement seen | same person, field vouched for)."""
    m_none: Mapping[str, float] = field(default_factory=dict)
    """field -> P(the field is offered by the candidate yet no key vouches for it | same person): the
    force's copy lacks it or it disagrees (a date missing in intelligence records, a moved postcode)."""
    u: Mapping[str, Mapping[str, float]]
    """field -> level -> P(a random other person agrees at this level), for fields whose u does not
    depend on the name (dob, location, id, and forename ``initial``)."""
    name_frequency: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """"forename"/"surname" -> representative share of the population for classes 0..5."""
    name_scale: Mapping[str, float] = field(default_factory=dict)
    """Level -> factor on the class frequency (phonetic and fragment agreement are commoner by chance)."""
    name_floor: Mapping[str, float] = field(default_factory=dict)
    """Level -> least u: a rare name's Soundex code or fragment is shared with other names."""
    base_rate: float
    """Expected number of forces holding a checked person per check, over all forces (the prior's scale)."""
    calibration: tuple[float, float] = (1.0, 0.0)
    """(slope, intercept) on the natural log-odds: Platt scaling fitted on the realistic profile, so the
    stated probability matches observed precision where the independence assumption is off."""
    family_calibration: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Pattern family (``levels.family``) -> (slope, intercept) used instead of ``calibration`` for hits of
    that family: fitted where the simulated run held enough hits of the family, anchored to the global
    curve so that a family seen a few dozen times moves only as far as its evidence carries it."""
    outcome_calibration: tuple[float, float] = (1.0, 0.0)
    """(slope, intercept) applied last, on the logit of the calibrated probability: fitted from one
    deployment's own request outcomes by ``crossforce calibrate`` (identity in the shipped file), kept
    apart from ``calibration`` so an operator's adjustment stays visible beside the simulator's fit."""

    _content: str = field(default="", init=False, repr=False, compare=False)
    """The parameters as canonical JSON, kept for ``__hash__``."""

    def __hash__(self) -> int:
        """By content, so a matcher's remembered scores can be keyed by the parameters that made them
        (the mappings inside are read-only views, which Python will not hash)."""
        return hash(self._content)

    def __post_init__(self) -> None:
        for name, table in (("m", self.m), ("u", self.u)):
            for fld, levels in table.items():
                if fld not in LEVELS or not set(levels) <= set(LEVELS[fld]):
                    raise ValueError(f"{name}: unknown field or level under {fld!r}")
                if not all(0.0 < v <= 1.0 for v in levels.values()):
                    raise ValueError(f"{name}[{fld!r}]: every value must be in (0, 1]")
        for fld in LEVELS:
            if set(self.m.get(fld, {})) != set(LEVELS[fld]):
                raise ValueError(f"m[{fld!r}] must give every level of the field")
            if not 0.0 < self.m_none.get(fld, 0.0) <= 1.0:
                raise ValueError(f"m_none[{fld!r}] must be in (0, 1]")
        for fld in ("forename", "surname"):
            freqs = self.name_frequency.get(fld, ())
            if len(freqs) != NAME_CLASSES or not all(0.0 < f < 1.0 for f in freqs):
                raise ValueError(f"name_frequency[{fld!r}] must give {NAME_CLASSES} shares in (0, 1)")
        if not self.base_rate > 0.0:
            raise ValueError("base_rate must be positive")
        curves = {"calibration": self.calibration, "outcome_calibration": self.outcome_calibration}
        curves |= {f"family_calibration[{k!r}]": v for k, v in self.family_calibration.items()}
        for name, (slope, intercept) in curves.items():
            if not (math.isfinite(slope) and math.isfinite(intercept) and slope > 0.0):
                raise ValueError(f"{name} must be a finite (slope > 0, intercept)")
        object.__setattr__(self, "m", _frozen(self.m))
        object.__setattr__(self, "u", _frozen(self.u))
        object.__setattr__(self, "m_none", MappingProxyType(dict(self.m_none)))
        object.__setattr__(
            self, "name_frequency", MappingProxyType({k: tuple(v) for k, v in self.name_frequency.items()})
        )
        object.__setattr__(self, "name_scale", MappingProxyType(dict(self.name_scale)))
        object.__setattr__(self, "name_floor", MappingProxyType(dict(self.name_floor)))
        object.__setattr__(
            self,
            "family_calibration",
            MappingProxyType({k: (float(a), float(b)) for k, (a, b) in self.family_calibration.items()}),
        )
        object.__setattr__(self, "_content", self.to_json())

    @classmethod
    def from_json(cls, text: str) -> ScoringParams:
        data: dict[str, Any] = json.loads(text)
        data.pop("comment", None)
        data["calibration"] = tuple(data.get("calibration", (1.0, 0.0)))
        data["outcome_calibration"] = tuple(data.get("outcome_calibration", (1.0, 0.0)))
        data["family_calibration"] = {k: tuple(v) for k, v in data.get("family_calibration", {}).items()}
        data["name_frequency"] = {k: tuple(v) for k, v in data["name_frequency"].items()}
        return cls(**data)

    def to_json(self, comment: str = "") -> str:
        data: dict[str, Any] = {
            "comment": comment,
            "version": self.version,
            "m": {k: dict(v) for k, v in self.m.items()},
            "m_none": dict(self.m_none),
            "u": {k: dict(v) for k, v in self.u.items()},
            "name_frequency": {k: list(v) for k, v in self.name_frequency.items()},
            "name_scale": dict(self.name_scale),
            "name_floor": dict(self.name_floor),
            "base_rate": self.base_rate,
            "calibration": list(self.calibration),
            "family_calibration": {k: list(v) for k, v in self.family_calibration.items()},
            "outcome_calibration": list(self.outcome_calibration),
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def load_default() -> ScoringParams:
    """The shipped parameters (``params-v2.json`` in this package)."""
    text = resources.files("crossforce.scoring").joinpath(PARAMS_FILE).read_text(encoding="utf-8")
    return ScoringParams.from_json(text)
