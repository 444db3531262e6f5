"""bench.quality_ceiling on hand-made snapshots: cells ranked by precision, admitted within the false-rate
budget, measured honestly on another run.

The snapshots are built by hand (no simulated world) so each figure below is known exactly: 200 sightings
of people held at one force and 200 of people held nowhere, so the 0.5% cap allows one false-force query and
one false-trace query.
"""

from __future__ import annotations

from pathlib import Path

from bench import quality_ceiling, quality_snapshot
from bench.quality_snapshot import SnapQuery, Snapshot

NAME_DOB, FORENAME_DOB, NAME_NODATE = 16, 29, 26
SENT = frozenset({NAME_DOB, FORENAME_DOB, NAME_NODATE})


def _query(holders: frozenset[str], matches: dict[str, frozenset[int]]) -> SnapQuery:
    return SnapQuery(holders, (2, 2), "", matches, SENT, {}, {})


def _snapshot(*, forename_dob_false: int) -> Snapshot:
    """Held queries 0-99 agree on name_dob at their holder, 100-109 on name_nodate alone, 110-112 on
    forename_dob alone, the rest on nothing. Absent queries: 5 agree on name_nodate (namesakes), and
    ``forename_dob_false`` on forename_dob."""
    held = frozenset({"big"})
    queries = [_query(held, {"big": frozenset({NAME_DOB})}) for _ in range(100)]
    queries += [_query(held, {"big": frozenset({NAME_NODATE})}) for _ in range(10)]
    queries += [_query(held, {"big": frozenset({FORENAME_DOB})}) for _ in range(3)]
    queries += [_query(held, {}) for _ in range(87)]
    absent = frozenset[str]()
    queries += [_query(absent, {"big": frozenset({NAME_NODATE})}) for _ in range(5)]
    queries += [_query(absent, {"big": frozenset({FORENAME_DOB})}) for _ in range(forename_dob_false)]
    queries += [_query(absent, {}) for _ in range(200 - 5 - forename_dob_false)]
    return Snapshot(1, 50_000, {"big": 50_000}, queries)


def test_cells_are_admitted_best_first_and_one_over_budget_is_skipped_not_the_end() -> None:
    """name_dob (100 of 100 right) goes first; name_nodate (10 right, 5 false traces) would break the
    one-query budget and is skipped; forename_dob after it (3 right, 1 false trace) still fits."""
    snap = _snapshot(forename_dob_false=1)
    cell_of = quality_ceiling.VIEWS["types"]
    admitted = quality_ceiling.admit(quality_ceiling.hits_by_cell(snap, cell_of), snap)
    assert {cell[0] for cell in admitted} == {(NAME_DOB,), (FORENAME_DOB,)}
    rates = quality_ceiling.measure(snap, cell_of, admitted)
    assert rates == {"recall": 0.515, "false_force": 0.0, "false_trace": 0.005}


def test_what_is_admitted_on_one_run_is_measured_on_the_other() -> None:
    """Admitted on a run where forename_dob cost one false trace, it is charged its three on the test run:
    the out-of-sample figure is not the fitted one, and the oracle (fitted on the test run) leaves it out."""
    result = quality_ceiling.ceiling(
        _snapshot(forename_dob_false=1), _snapshot(forename_dob_false=3), "types"
    )
    assert result.fit == {"recall": 0.515, "false_force": 0.0, "false_trace": 0.005}
    assert result.test == {"recall": 0.515, "false_force": 0.0, "false_trace": 0.015}
    assert result.oracle == {"recall": 0.5, "false_force": 0.0, "false_trace": 0.0}
    assert result.reachable == 0.565  # 113 of 200 held pairs agree on any key
    left = result.left_out
    assert left[0] == ("(nothing)", 87, 0, 0)
    assert ("name_nodate", 10, 15, 10) in left


def test_every_view_runs_on_a_saved_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "run.pkl"
    quality_snapshot.save(_snapshot(forename_dob_false=1), path)
    assert quality_ceiling.main([str(path)]) == 0


def test_force_sizes_are_banded_by_doubling() -> None:
    assert quality_ceiling.size_band(40_000) == quality_ceiling.size_band(60_000) == 15
    assert quality_ceiling.size_band(70_000) == 16
    assert quality_ceiling.size_band(0) == 0


def test_the_undated_key_agrees_for_the_person_whose_record_lacks_a_date_and_a_share_of_namesakes() -> None:
    """bench.quality_whatif: the hypothetical key is added to a true name-alone hit only when the held
    record has no date, and to a namesake's hit with the given chance (none at 0, every one at 1)."""
    from bench import quality_whatif

    held = frozenset({"big"})
    name_alone = {"big": frozenset({NAME_NODATE})}
    undated = SnapQuery(held, (2, 2), "", name_alone, SENT, {"big": ("held_no_dob",)}, {})
    dated = SnapQuery(held, (2, 2), "", name_alone, SENT, {"big": ("postcode_moved",)}, {})
    namesake = _query(frozenset(), name_alone)
    snap = Snapshot(1, 50_000, {"big": 50_000}, [undated, dated, namesake])
    for share, namesake_agrees in ((0.0, False), (1.0, True)):
        out = quality_whatif.with_undated_key(snap, share)
        agreed = [quality_whatif.UNDATED in q.matches["big"] for q in out.queries]
        assert agreed == [True, False, namesake_agrees]
        assert all(quality_whatif.UNDATED in q.sent for q in out.queries)
