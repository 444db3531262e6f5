"""The golden encoding vectors are the contract (docs/spec.md): the code must reproduce every value.

Regenerate with scripts/make_encoding_vectors.py only for a deliberate spec change.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from crossforce.encoding import SPEC_VERSION
from crossforce.encoding.keytypes import MAX_PREVIOUS_NAMES
from crossforce.encoding.matchkeys import KEY_TYPES, derive_keys, encode_key, soundex
from crossforce.encoding.nameclasses import CLASS_TABLE_SHA256, name_classes
from crossforce.encoding.normalise import (
    IDENTIFIER_KINDS,
    fold_text,
    normalise_given_names,
    normalise_identifier,
    normalise_name,
    normalise_postcode,
    normalise_previous_name,
    parse_date_parts,
    postcode_district,
)
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import HKDF_INFO_PREFIX, HKDF_SALT, Tokeniser, derive_subkey
from crossforce.errors import ValidationError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "encoding.json").read_text(encoding="utf-8")
)
SECRET = bytes.fromhex(VECTORS["secret_hex"])
EPOCH = VECTORS["epoch"]
RECORDS = VECTORS["records"]


def _record(data: dict[str, Any]) -> Record:
    return Record(**{**data, "previous_names": tuple(data["previous_names"])})


def test_vectors_are_for_this_spec_version() -> None:
    assert VECTORS["spec_version"] == SPEC_VERSION
    assert VECTORS["hkdf"] == {"salt_ascii": HKDF_SALT.decode(), "info_prefix_hex": HKDF_INFO_PREFIX.hex()}


def test_key_type_table() -> None:
    assert VECTORS["max_previous_names"] == MAX_PREVIOUS_NAMES
    assert VECTORS["key_types"] == [
        {
            "code": kt.code,
            "name": kt.name,
            "agrees": dict(sorted(kt.agrees.items())),
            "date_span": kt.date_span,
            "max_per_record": kt.max_per_record,
        }
        for kt in (KEY_TYPES[c] for c in sorted(KEY_TYPES))
    ]


@pytest.mark.parametrize("case", VECTORS["placeholders"], ids=lambda c: f"{c['given_names']}|{c['surname']}")
def test_placeholder_vectors(case: dict[str, Any]) -> None:
    assert (normalise_given_names(case["given_names"]) == ()) is case["given_missing"]
    assert (normalise_name(case["given_names"], case["surname"]) is None) is case["name_missing"]


def test_name_class_tables_are_the_vectors_tables() -> None:
    assert VECTORS["name_class_tables_sha256"] == dict(CLASS_TABLE_SHA256)


@pytest.mark.parametrize("case", VECTORS["name_classes"], ids=lambda c: f"{c['given_names']}|{c['surname']}")
def test_name_class_vectors(case: dict[str, Any]) -> None:
    record = Record(record_id="c", given_names=case["given_names"], surname=case["surname"])
    assert name_classes(record) == (case["forename_class"], case["surname_class"])


def test_subkeys() -> None:
    for code, subkey in VECTORS["subkeys_hex"].items():
        assert derive_subkey(SECRET, int(code), EPOCH).hex() == subkey


@pytest.mark.parametrize("case", VECTORS["fold_text"], ids=lambda c: c["input"])
def test_fold_text_vectors(case: dict[str, str]) -> None:
    assert fold_text(case["input"]) == case["output"]


@pytest.mark.parametrize("case", VECTORS["soundex"], ids=lambda c: c["input"])
def test_soundex_vectors(case: dict[str, str]) -> None:
    assert soundex(case["input"]) == case["output"]


@pytest.mark.parametrize("case", VECTORS["canonical_encoding"], ids=lambda c: c["canonical_hex"])
def test_canonical_encoding_vectors(case: dict[str, Any]) -> None:
    assert encode_key(case["key_type"], case["fields"]).hex() == case["canonical_hex"]


@pytest.mark.parametrize("case", RECORDS, ids=lambda c: c["record"]["record_id"])
def test_record_normalisation_vectors(case: dict[str, Any]) -> None:
    record = _record(case["record"])
    expected = case["normalised"]
    names = [normalise_name(record.given_names, record.surname)] + [
        normalise_previous_name(raw, record.given_names) for raw in record.previous_names
    ]
    for name, view in zip(names, expected["names"], strict=True):
        if view.get("missing"):
            assert name is None
            continue
        assert name is not None
        assert list(name.given) == view["given"]
        assert name.surname == view["surname"]
        assert list(name.surname_parts) == view["surname_parts"]
        assert list(name.surname_variants) == view["surname_variants"]
    parts = parse_date_parts(record.date_of_birth, today=datetime.date(2025, 1, 1))
    if expected["date_of_birth"] is None:
        assert parts is None
    else:
        assert parts is not None
        dob = expected["date_of_birth"]
        assert (parts.year, parts.month, parts.day, parts.valid) == (
            dob["year"],
            dob["month"],
            dob["day"],
            dob["valid"],
        )
        unordered = list(parts.day_month_unordered) if parts.day_month_unordered else None
        assert unordered == dob["day_month_unordered"]
    for kind in IDENTIFIER_KINDS:
        try:
            value: str | None = normalise_identifier(kind, getattr(record, kind))
        except ValidationError:
            value = "INVALID"
        assert value == expected["identifiers"][kind]
    postcode = normalise_postcode(record.postcode)
    assert postcode == expected["postcode"]
    assert (None if postcode is None else postcode_district(postcode)) == expected["postcode_district"]


@pytest.mark.parametrize("case", RECORDS, ids=lambda c: c["record"]["record_id"])
def test_record_key_and_token_vectors(case: dict[str, Any]) -> None:
    record = _record(case["record"])
    keys = derive_keys(record)
    assert [(k.key_type, k.canonical.hex()) for k in keys] == [
        (k["key_type"], k["canonical_hex"]) for k in case["keys"]
    ]
    tokens = Tokeniser(secret=SECRET, epoch=EPOCH).record_tokens(record)
    assert [(kt, t.hex()) for kt, t in tokens] == [(k["key_type"], k["token_hex"]) for k in case["keys"]]
