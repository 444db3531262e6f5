"""Re-estimating the scoring's calibration from request outcomes (``crossforce calibrate``, issue 14).

Why: the shipped parameters were fitted on simulated records; a deployment learns the truth one request
at a time, when a holder confirms the person or answers no match. Each resolved request keeps the
probability its hit stated, and that pair is all the calibration needs: what outcomes identify is a curve
on the stated probability (``scoring.fit_outcome_calibration``), stored as the parameters'
``outcome_calibration`` in a new file the matcher loads with the ``scoring_params`` setting. The
m-probabilities of single key types are not refitted: a request keeps the key types that agreed but
``request_outcomes`` carries only the probability, and a few hundred outcomes could not separate them.

The fit (``calibrate``) is pure over (probability in millionths, request state) rows; ``read_outcomes``
and ``load_scoring_params`` are the I/O around it. Nothing here sees a name, a date or a token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from crossforce import scoring
from crossforce.domain import ReliabilityRow, RequestState
from crossforce.errors import PreconditionError, ValidationError
from crossforce.scoring.params import PARAMS_FILE
from crossforce.server.policy.reliability import PPM, RESOLVED_STATES, reliability_table

MIN_OUTCOMES = 200
"""Fewest resolved requests a refit is made from by default: fewer leave the curve's two numbers
uncertain by more than the 5-point gap the fit is meant to close."""
MIN_EACH = 20
"""Fewest of each outcome (confirmed, no match): with only one kind the curve is not identified at all."""


@dataclass(frozen=True)
class Calibration:
    """A refit and what it changes: the tables compare stated probabilities with outcomes before and,
    on the same outcomes (in sample), after."""

    outcomes: int
    confirmed: int
    fitted: tuple[float, float]
    """The new ``outcome_calibration`` (slope, intercept), composed with the one in force."""
    params: scoring.ScoringParams
    before: tuple[ReliabilityRow, ...]
    after: tuple[ReliabilityRow, ...]


def calibrate(
    rows: Iterable[tuple[int, int]],
    current: scoring.ScoringParams,
    *,
    min_outcomes: int = MIN_OUTCOMES,
    version: str | None = None,
) -> Calibration:
    """Refit ``current``'s outcome calibration on the resolved requests among ``rows``.

    PreconditionError, saying how many there are and how many are needed, when fewer than
    ``min_outcomes`` were resolved or fewer than ``MIN_EACH`` of either outcome: refusing is better
    than a curve drawn through noise that would then move every probability the matcher states.
    """
    if min_outcomes < 1:
        raise ValidationError("must be at least 1", field="min_outcomes")
    resolved = [(ppm, state) for ppm, state in rows if ppm > 0 and state in RESOLVED_STATES]
    confirmed = sum(state != RequestState.NO_MATCH for _, state in resolved)
    no_match = len(resolved) - confirmed
    if len(resolved) < min_outcomes or min(confirmed, no_match) < MIN_EACH:
        raise PreconditionError(
            f"too few outcomes to calibrate from: {len(resolved)} resolved requests ({confirmed} confirmed, "
            f"{no_match} no match); need at least {min_outcomes} in all and {MIN_EACH} of each. "
            "Nothing was written; run it again when more requests have been resolved"
        )
    stated = [min(ppm, PPM) / PPM for ppm, _ in resolved]
    outcomes = [state != RequestState.NO_MATCH for _, state in resolved]
    try:
        fitted = scoring.fit_outcome_calibration(stated, outcomes, current.outcome_calibration)
    except ValueError as exc:
        raise PreconditionError(f"the outcomes do not fit a calibration curve: {exc}") from None
    params = dataclasses.replace(
        current,
        outcome_calibration=fitted,
        version=version or f"{current.version}+outcomes{len(resolved)}",
    )
    after = [
        (max(1, round(PPM * _restated(p, current, params))), state)
        for p, (_, state) in zip(stated, resolved, strict=True)
    ]
    return Calibration(
        outcomes=len(resolved),
        confirmed=confirmed,
        fitted=fitted,
        params=params,
        before=tuple(reliability_table(resolved)),
        after=tuple(reliability_table(after)),
    )


def _restated(stated: float, current: scoring.ScoringParams, new: scoring.ScoringParams) -> float:
    """What ``new`` states for a hit ``current`` stated at ``stated``: the outcome stage is the last step,
    so undoing the old one and applying the new one on the logit is exact."""
    p = min(1.0 - 1e-6, max(1e-6, stated))
    old_slope, old_intercept = current.outcome_calibration
    new_slope, new_intercept = new.outcome_calibration
    before_stage = (math.log(p / (1.0 - p)) - old_intercept) / old_slope
    z = new_slope * before_stage + new_intercept
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def load_scoring_params(path: Path | None) -> tuple[scoring.ScoringParams, str]:
    """The parameters in ``path`` (the shipped ones for None) and the SHA-256 of the bytes they were read
    from, which the matcher logs and reports so that changed probabilities are never silent."""
    if path is None:
        from importlib import resources

        data = resources.files("crossforce.scoring").joinpath(PARAMS_FILE).read_bytes()
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"{path}: cannot read scoring parameters: {exc.strerror}") from None
    try:
        params = scoring.ScoringParams.from_json(data.decode("utf-8"))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        where = path if path is not None else "the shipped scoring parameters"
        raise ValidationError(f"{where}: not a scoring parameter file: {exc}") from None
    return params, hashlib.sha256(data).hexdigest()


def read_outcomes(*, data_dir: Path | None = None, dsn: str | None = None) -> list[tuple[int, int]]:
    """(probability in millionths, state) of every request that stated one, from a matcher's data folder
    or a backup of one (``crossforce backup``: its ``data`` part), opened read-only so that a running
    matcher's folder can be read and a backup is never changed, or from a PostgreSQL database."""
    if (data_dir is None) == (dsn is None):
        raise ValidationError("give a data folder or a database, not both")
    if data_dir is not None:
        from crossforce.server.backupmanifest import DATA_PART
        from crossforce.server.store.readonly import open_stored_log
        from crossforce.server.store.sqlite import DB_FILE

        backed_up = data_dir / DATA_PART
        folder = backed_up if (backed_up / DB_FILE).is_file() else data_dir
        if not (folder / DB_FILE).is_file():
            raise ValidationError(f"no matcher database in {data_dir}")
        with open_stored_log(folder) as stored:
            return stored.request_outcomes()
    from crossforce.server.store.postgres import PostgresStorage

    assert dsn is not None
    shared = PostgresStorage.open(dsn, min_size=1, max_size=1)
    try:
        return shared.request_outcomes()
    finally:
        shared.close()


@dataclass(frozen=True)
class CalibrationRun:
    """``calibrate_outcomes``' answer: the refit, where its outcomes came from (a DSN without its
    password) and the SHA-256 of the parameter file it started from."""

    calibration: Calibration
    source: str
    started_from: str

    def params_file_text(self) -> str:
        """The new parameter file; its comment says what it was fitted from, so the file explains itself."""
        slope, intercept = self.calibration.fitted
        comment = (
            f"Refitted by crossforce calibrate from {self.calibration.outcomes} resolved requests "
            f"({self.calibration.confirmed} confirmed) in {self.source}, starting from parameters with "
            f"SHA-256 {self.started_from}: outcome_calibration ({slope:.4f}, {intercept:.4f}) on the logit "
            "of the stated probability; everything else unchanged."
        )
        return self.calibration.params.to_json(comment)


def calibrate_outcomes(
    *,
    data_dir: Path | None = None,
    dsn: str | None = None,
    params_path: Path | None = None,
    min_outcomes: int = MIN_OUTCOMES,
) -> CalibrationRun:
    """Read the outcomes, refit the parameters in ``params_path`` (those the matcher runs with; the
    shipped ones for None). PreconditionError when there are too few outcomes; nothing is written here."""
    current, digest = load_scoring_params(params_path)
    rows = read_outcomes(data_dir=data_dir, dsn=dsn)
    if dsn is not None:
        from crossforce.server.store.pgschema import safe_dsn

        source = safe_dsn(dsn)
    else:
        source = str(data_dir)
    return CalibrationRun(calibrate(rows, current, min_outcomes=min_outcomes), source, digest)
