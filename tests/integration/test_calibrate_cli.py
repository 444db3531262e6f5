"""``crossforce calibrate`` on a real matcher store (SQLite folder, or PostgreSQL with ``--backend``).

The store holds resolved disclosure requests whose stated probabilities are off by a known curve; the
command must print the tables, write a parameter file that loads and states other probabilities, refuse
too few outcomes with exit status BAD_INPUT and write nothing then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce import scoring
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.domain import RequestState
from crossforce.server.store import PostgresStorage, RequestRow, SQLiteStorage, Storage

ROW = RequestRow(
    request_id="",
    check_id="c",
    requester_org="dbs",
    holder_org="kent",
    purpose="p",
    legal_basis="l",
    case_reference="r",
    officer_id="o",
    key_types=(28,),
    strength=1,
    tokens=b"t",
    state=int(RequestState.OPEN),
    created_at_ms=0,
    deadline_ms=100,
    updated_at_ms=0,
    log_index=0,
)


def _seed(storage: Storage, n: int) -> None:
    """``n`` resolved requests stated too low: P(confirmed) = sigmoid(0.6 * logit(stated) + 0.9)."""
    rng = random.Random(3)
    rows = []
    for i in range(n):
        z = rng.uniform(-5.0, 5.0)
        confirmed = rng.random() < 1.0 / (1.0 + math.exp(-(0.6 * z + 0.9)))
        state = RequestState.CONFIRMED if confirmed else RequestState.NO_MATCH
        ppm = round(1_000_000 / (1.0 + math.exp(-z)))
        rows.append(dataclasses.replace(ROW, request_id=f"r{i:05d}", state=int(state), probability_ppm=ppm))
    with storage.lock:
        size = storage.begin()
        tx = storage.staged(size)
        for row in rows:
            tx.insert_request(row)
        storage.keep_staged()
        storage.commit()


@pytest.fixture
def source(tmp_path: Path, matcher_db: str | None) -> Iterator[tuple[list[str], Storage]]:
    """The command's ``--data``/``--db`` option and the store behind it (closed before the command runs)."""
    if matcher_db is None:
        folder = tmp_path / "matcher"
        folder.mkdir()
        storage: Storage = SQLiteStorage(folder)
        yield ["--data", str(folder)], storage
    else:
        storage = PostgresStorage.open(matcher_db)
        yield ["--db", matcher_db], storage


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_calibrate_writes_parameters_that_state_the_observed_precision(
    source: tuple[list[str], Storage], tmp_path: Path
) -> None:
    option, storage = source
    _seed(storage, 3000)
    storage.close()
    out = tmp_path / "scoring.json"
    code, text = _run("calibrate", *option, "--out", str(out))
    assert code == 0, text
    assert "before" in text and "after" in text and "3000 resolved requests" in text
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest in text and "scoring_params" in text
    params = scoring.ScoringParams.from_json(out.read_text(encoding="utf-8"))
    slope, intercept = params.outcome_calibration
    assert slope == pytest.approx(0.6, abs=0.1) and intercept == pytest.approx(0.9, abs=0.2)
    assert params.m == scoring.DEFAULT.m and params.calibration == scoring.DEFAULT.calibration
    code, again = _run("calibrate", *option, "--out", str(out))
    assert code == ExitStatus.BAD_INPUT and "exists" in again  # never overwritten


def test_calibrate_json_dry_run_writes_nothing(source: tuple[list[str], Storage], tmp_path: Path) -> None:
    option, storage = source
    _seed(storage, 400)
    storage.close()
    code, text = _run("calibrate", *option, "--dry-run", "--json")
    assert code == 0, text
    facts = json.loads(text)
    assert facts["outcomes"] == 400 and facts["written"] is None and len(facts["sha256"]) == 64
    assert sum(row["n"] for row in facts["before"]) == 400
    assert list(tmp_path.glob("*.json")) == []


def test_calibrate_refuses_too_few_outcomes(source: tuple[list[str], Storage], tmp_path: Path) -> None:
    option, storage = source
    _seed(storage, 150)
    storage.close()
    out = tmp_path / "scoring.json"
    code, text = _run("calibrate", *option, "--out", str(out))
    assert code == ExitStatus.BAD_INPUT
    assert "too few outcomes" in text and "150 resolved requests" in text
    assert not out.exists()
    code, text = _run("calibrate", *option, "--out", str(out), "--min-outcomes", "100")
    assert code == 0, text


def test_calibrate_needs_one_source_and_somewhere_to_write(tmp_path: Path) -> None:
    code, text = _run("calibrate", "--out", str(tmp_path / "x.json"))
    assert code == ExitStatus.BAD_INPUT and "--data DIR or --db DSN" in text
    code, text = _run("calibrate", "--data", str(tmp_path))
    assert code == ExitStatus.BAD_INPUT and "--out FILE" in text
    code, text = _run("calibrate", "--data", str(tmp_path), "--dry-run")
    assert code == ExitStatus.BAD_INPUT and "no matcher database" in text


def test_calibrate_reads_a_running_matchers_folder_and_a_backup_without_changing_either(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "matcher"
    folder.mkdir()
    storage = SQLiteStorage(folder)  # holds the folder lock, as a running matcher does
    try:
        _seed(storage, 3000)
        code, text = _run("calibrate", "--data", str(folder), "--dry-run")
        assert code == 0 and "3000 resolved requests" in text, text
        backup = tmp_path / "backup"
        assert _run("backup", "--data", str(folder), "--to", str(backup))[0] == 0
    finally:
        storage.close()
    before = {p: p.read_bytes() for p in backup.rglob("*") if p.is_file()}
    code, text = _run("calibrate", "--data", str(backup), "--out", str(tmp_path / "scoring.json"))
    assert code == 0 and "3000 resolved requests" in text, text
    assert {p: p.read_bytes() for p in backup.rglob("*") if p.is_file()} == before
