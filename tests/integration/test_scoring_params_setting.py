"""The ``scoring_params`` setting: the matcher states probabilities with the file ``crossforce calibrate``
wrote, and a file it cannot read stops it at start rather than leaving it on other parameters unnoticed."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from crossforce import scoring
from crossforce.domain import Justification, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.server import ServerSettings
from crossforce.server.usecases.calibration import calibrate
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
HELD = Record(record_id="HUM-1", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
ASKED = Record(record_id="Q-1", given_names="Marcus", surname="Abernethy", date_of_birth="1979-04-09")
"""Day and month swapped: a hit the model states well below certainty, so a refit visibly moves it."""


def _refit_file(tmp_path: Path) -> Path:
    """Parameters refitted to outcomes that say the shipped probabilities are far too low:
    P(confirmed) = sigmoid(0.6 * logit(stated) + 0.9)."""
    rng = random.Random(5)
    outcomes = []
    for _ in range(4000):
        stated = 1.0 / (1.0 + math.exp(-rng.uniform(-5.0, 5.0)))
        truth = 1.0 / (1.0 + math.exp(-(0.6 * math.log(stated / (1.0 - stated)) + 0.9)))
        state = RequestState.CONFIRMED if rng.random() < truth else RequestState.NO_MATCH
        outcomes.append((round(stated * 1_000_000), int(state)))
    refit = calibrate(outcomes, scoring.DEFAULT).params
    path = tmp_path / "scoring.json"
    path.write_text(refit.to_json("test"), encoding="utf-8")
    return path


def _stated(tmp_path: Path, settings: ServerSettings) -> float:
    net = LocalNet.create(tmp_path)
    net.start_server(settings=settings)
    net.add_org("humberside", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        with net.client("humberside", Role.FORCE_SYSTEM) as c:
            c.publish_records([HELD])
        with net.client("dbs", Role.VETTING_OFFICER) as c:
            report = c.check(ASKED, WHY, open_requests=False)
        assert report.hits, "the swapped date should still hit"
        return report.hits[0].probability
    finally:
        net.stop_server()


def test_the_matcher_states_probabilities_with_the_configured_file(tmp_path: Path) -> None:
    shipped = _stated(tmp_path / "shipped", ServerSettings(expected_forces=()))
    refit = _stated(
        tmp_path / "refit",
        ServerSettings(expected_forces=(), scoring_params=str(_refit_file(tmp_path))),
    )
    assert refit != pytest.approx(shipped, abs=1e-4)


def test_a_missing_parameter_file_stops_the_matcher_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-scoring.json"
    net = LocalNet.create(tmp_path / "net")
    with pytest.raises(ValidationError, match=r"no-such-scoring\.json"):
        net.start_server(settings=ServerSettings(expected_forces=(), scoring_params=str(missing)))
    net.stop_server()
