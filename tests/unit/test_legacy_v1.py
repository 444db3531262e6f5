"""Spec v1's frozen key derivation (``crossforce.encoding.legacy_v1``), kept for bench.quality's v1-v2
comparison: it must still make v1's keys and strengths, and nothing in production may use it."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from crossforce.encoding import legacy_v1
from crossforce.encoding.legacy_v1 import (
    FORENAME_DOB_AREA,
    FRAGMENT_DOB,
    FRAGMENT_POSTCODE,
    INITIAL_DOB,
    NAME_DOB,
    NI_NUMBER,
    PARTIAL_DOB,
    PHONETIC_DOB,
    PHONETIC_POSTCODE,
    SURNAME_DOB_AREA,
    hit_strength,
)
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser

ROOT = Path(__file__).resolve().parents[2]


def rec(given_names: str = "John", surname: str = "Smith", dob: str = "1980-03-05", **kw: str) -> Record:
    return Record(record_id="r", given_names=given_names, surname=surname, date_of_birth=dob, **kw)  # type: ignore[arg-type]


def test_v1_keys_are_v1s() -> None:
    keys = legacy_v1.key_bytes(rec(postcode="LS1 4AB"))
    assert all(k.startswith(b"cf1") for _, k in keys)
    assert Counter(t for t, _ in keys) == {
        NAME_DOB: 1, PHONETIC_DOB: 1, INITIAL_DOB: 1, FRAGMENT_DOB: 2, PARTIAL_DOB: 3,
        FRAGMENT_POSTCODE: 2, PHONETIC_POSTCODE: 1, SURNAME_DOB_AREA: 1, FORENAME_DOB_AREA: 1,
    }  # fmt: skip


def test_v1_tokens_differ_from_v2_tokens_under_one_secret() -> None:
    secret = bytes(range(32))
    v1 = {t for _, t in legacy_v1.Tokeniser(secret=secret, epoch=1).record_tokens(rec())}
    v2 = {t for _, t in Tokeniser(secret=secret, epoch=1).record_tokens(rec())}
    assert len(v1) == len(legacy_v1.key_bytes(rec())) and not v1 & v2


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([], 0),
        ([PARTIAL_DOB], 0),
        ([PARTIAL_DOB, INITIAL_DOB], 1),
        ([PARTIAL_DOB, FRAGMENT_POSTCODE], 2),
        ([PARTIAL_DOB, SURNAME_DOB_AREA], 2),
        ([SURNAME_DOB_AREA, FORENAME_DOB_AREA], 2),
        ([FRAGMENT_POSTCODE, PHONETIC_POSTCODE], 1),
        ([PHONETIC_DOB, FRAGMENT_DOB], 2),
        ([PHONETIC_DOB, NI_NUMBER], 3),
        ([PHONETIC_DOB, FRAGMENT_POSTCODE], 3),
        ([NAME_DOB], 3),
        ([99], 0),
        ([21], 0),
    ],
)
def test_v1_hit_strength_rule(types: list[int], expected: int) -> None:
    assert hit_strength(types) == expected


def test_only_the_bench_imports_legacy_v1() -> None:
    run = subprocess.run(
        ["git", "grep", "-l", "legacy_v1", "--", "core", "client", "server", "wire", "testkit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    users = set(run.stdout.split())
    assert users <= {"core/crossforce/encoding/legacy_v1.py"}
