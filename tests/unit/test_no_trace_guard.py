""" "No trace" is said in one place only, and only of a search that reached every expected force.

Issue 13: a vetting officer was told "NO TRACE at 0 forces". The words are now written by one function,
``crossforce.cli.render.check_answer``, which prints them only when ``CheckReport.complete``. This test
keeps it that way: it reads every module of the four parts and fails if the literal appears in code
anywhere else (docstrings and comments may explain it; they print nothing), and it shows the function
itself never says it of an incomplete answer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crossforce.auditlog.treehead import SignedTreeHead, TreeHead
from crossforce.cli.render import check_answer
from crossforce.domain import (
    CandidateError,
    CheckOutcome,
    CheckReport,
    CheckResult,
    Coverage,
    ForceHit,
    NotSearchedReason,
    SearchedForce,
    UnsearchedForce,
)

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("client", "core", "server", "testkit")
WORDS = "NO TRACE"
OWNER = (ROOT / "client" / "crossforce" / "cli" / "render.py", "check_answer")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (of a module, class or function)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _uses(path: Path) -> list[tuple[int, str]]:
    """(line, enclosing function) of every string in code (not a docstring) that holds the words."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    uses: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and WORDS in node.value
            and id(node) not in skip
        ):
            uses.append((node.lineno, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return uses


def test_only_check_answer_ever_spells_no_trace() -> None:
    modules = [p for part in PARTS for p in (ROOT / part).rglob("*.py") if ".venv" not in p.parts]
    assert len(modules) > 100, "the scan found too few modules to mean anything"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} in {function}"
        for path in modules
        for line, function in _uses(path)
        if (path, function) != OWNER
    ]
    assert offenders == []
    assert _uses(OWNER[0]), "check_answer no longer says it at all: the scan would prove nothing"


def test_the_scan_catches_a_hand_written_headline(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.py"
    rogue.write_text(
        '"""Mentions NO TRACE in a docstring, which prints nothing."""\n'
        "def show(n):\n"
        '    return f"[green]NO TRACE at {n} forces[/]"\n'
        "def other():\n"
        '    return "no trace".upper()\n',
        encoding="utf-8",
    )
    assert _uses(rogue) == [(3, "show")]


HEAD = SignedTreeHead(head=TreeHead(tree_size=1, timestamp_ms=1, root_hash=b"\0" * 32), signature=b"")


def _searched(org: str) -> SearchedForce:
    return SearchedForce(org=org, epoch=1, version=1, published_at_ms=1, expires_at_ms=2)


INCOMPLETE = [
    pytest.param(Coverage(), id="empty-matcher-no-coverage"),
    pytest.param(
        Coverage(not_searched=(UnsearchedForce("kent", NotSearchedReason.NEVER_PUBLISHED),)),
        id="nothing-searched",
    ),
    pytest.param(
        Coverage(
            searched=(_searched("humberside"),),
            not_searched=(UnsearchedForce("kent", NotSearchedReason.EXPIRED),),
        ),
        id="one-expired",
    ),
    pytest.param(
        Coverage(
            searched=(_searched("humberside"),),
            not_searched=(UnsearchedForce("kent", NotSearchedReason.UNSPECIFIED),),
        ),
        id="reason-unknown-to-this-client",
    ),
]


@pytest.mark.parametrize("coverage", INCOMPLETE)
def test_an_incomplete_answer_never_prints_no_trace(coverage: Coverage) -> None:
    outcome = CheckOutcome(
        results=(CheckResult(check_id="c1", hits=()),),
        forces_searched=len(coverage.searched),
        stale_orgs=(),
        tree_head=HEAD,
        coverage=coverage,
    )
    (report,) = outcome.reports()
    text = "\n".join(check_answer(report))
    assert WORDS not in text
    assert "INCOMPLETE" in text
    for force in coverage.not_searched:
        assert f"{force.org} ({force.reason.label})" in text


def test_a_complete_answer_says_no_trace_and_how_many_forces() -> None:
    coverage = Coverage(searched=(_searched("humberside"), _searched("kent")))
    report = CheckReport(check_id="c1", hits=(), forces_searched=2, stale_orgs=(), coverage=coverage)
    assert check_answer(report)[0].count("NO TRACE at all 2 expected forces") == 1


def test_hits_and_refusals_are_never_no_trace() -> None:
    coverage = Coverage(
        searched=(_searched("humberside"),),
        not_searched=(UnsearchedForce("kent", NotSearchedReason.EXPIRED),),
    )
    hit = CheckReport(
        check_id="c1",
        hits=(ForceHit("humberside", 3, (1,)),),
        forces_searched=1,
        stale_orgs=(),
        coverage=coverage,
    )
    lines = check_answer(hit)
    assert "POSSIBLE TRACE at 1 of 1 forces searched" in lines[0]
    assert "kent (index expired)" in lines[1]
    refused = CheckReport(
        check_id="", hits=(), forces_searched=0, stale_orgs=(), error=CandidateError("INVALID_ARGUMENT", "x")
    )
    assert WORDS not in " ".join(check_answer(refused))
