"""Name classes (spec v2, "Name classes"): the shipped tables are the spec's, derived reproducibly from
their public source, and a candidate's classes come from its current first forename and surname."""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from crossforce.encoding import nameclasses
from crossforce.encoding.nameclasses import (
    CLASS_TABLE_SHA256,
    NAME_CLASS_COMMONEST,
    NAME_CLASS_UNLISTED,
    name_classes,
    parse_classes,
    table_bytes,
)
from crossforce.encoding.records import Record

ROOT = Path(__file__).resolve().parents[2]


def classes(given_names: str, surname: str) -> tuple[int, int]:
    return name_classes(Record(record_id="c", given_names=given_names, surname=surname))


@pytest.mark.parametrize("name", sorted(CLASS_TABLE_SHA256))
def test_shipped_table_is_the_one_the_spec_pins(name: str) -> None:
    data = table_bytes(name)
    assert hashlib.sha256(data).hexdigest() == CLASS_TABLE_SHA256[name]
    text = data.decode("utf-8")
    assert "\r" not in text and text.endswith("\n")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("licence:" in line and "OGL v3" in line for line in header)
    assert any(line.startswith("# source:") and "sha256=" in line for line in header)
    rows = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
    assert [r[0] for r in rows] == sorted({r[0] for r in rows}), "sorted, one row per name"
    assert all(int(r[1]) in range(NAME_CLASS_COMMONEST, NAME_CLASS_UNLISTED) for r in rows)


def test_tables_regenerate_byte_for_byte_from_their_source() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_name_classes.py"), "--classes", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_common_names_are_class_0_and_rare_ones_unlisted() -> None:
    assert classes("John", "Smith") == (0, 0)
    assert classes("Wojciech", "Kowalski") == (NAME_CLASS_UNLISTED, NAME_CLASS_UNLISTED)
    assert classes("Susan", "Patel") == (0, 1)


def test_nickname_takes_the_class_of_its_canonical_forename() -> None:
    assert classes("Bill", "Smith") == classes("William", "Smith")
    assert classes("Jack", "Smith") == classes("John", "Smith")


def test_class_is_of_the_first_full_forename_not_an_initial() -> None:
    assert classes("J. Wojciech", "Smith") == classes("Wojciech", "Smith")


def test_surname_is_classed_after_folding_and_particles() -> None:
    assert classes("Sean", "O’BRIEN") == classes("Sean", "obrien")
    assert classes("Ann", "SMITH")[1] == classes("Ann", "smith")[1] == 0


@pytest.mark.parametrize(
    ("given", "surname"), [("", ""), ("Female Child", "Unknown"), ("John", "Doe"), ("J.", "Q")]
)
def test_missing_or_placeholder_name_is_the_conservative_class_0(given: str, surname: str) -> None:
    assert classes(given, surname) == (NAME_CLASS_COMMONEST, NAME_CLASS_COMMONEST)


def test_a_changed_table_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossforce.errors import VerificationError

    nameclasses._table.cache_clear()
    monkeypatch.setattr(nameclasses, "table_bytes", lambda name: b"# edited\nsmith\t5\n")
    try:
        with pytest.raises(VerificationError):
            nameclasses._table(nameclasses.SURNAME_TABLE)
    finally:
        nameclasses._table.cache_clear()


def test_parse_classes_reads_name_and_class() -> None:
    assert dict(parse_classes(b"# header\nab\t1\ncd\t4\n")) == {"ab": 1, "cd": 4}


def test_no_runtime_unicode_in_the_class_lookup() -> None:
    tree = ast.parse(Path(nameclasses.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "unicodedata" not in imported | modules
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"casefold", "lower", "upper", "normalize", "isalpha", "isalnum"}


def test_a_candidate_states_the_commonest_class_a_key_may_have_agreed_on() -> None:
    """name_dob and name_nodate key F2 and every surname variant: a rare first forename or a rare
    compound surname must not make a namesake on the common part look like rare evidence."""
    assert nameclasses.forename_class("Lincoln") == 5 and nameclasses.forename_class("Daniel") == 0
    assert nameclasses.surname_class("Smith-Quartermaine") == 5 and nameclasses.surname_class("Smith") == 0
    record = Record(record_id="r", given_names="Lincoln Daniel", surname="Smith-Quartermaine")
    assert nameclasses.name_classes(record) == (0, 0)
    assert nameclasses.name_classes(Record(record_id="r", given_names="Lincoln", surname="Quartermaine")) == (
        5,
        5,
    )
