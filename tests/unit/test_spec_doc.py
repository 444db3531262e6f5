"""docs/spec.md (version 2) says what the code does: every number, label and hash an implementer copies
from the text is checked against the reference implementation here, so the text cannot drift from it.

Issue 18: an implementer who reads only the spec must not have to guess. These tests hold the parts of
the text another language would copy byte for byte (data-file hashes, the key table, the canonical
prefix, the subkey labels, the limits) and the promises about the text itself (no unfilled marker, the
historical version 1 kept unchanged, every implementer's question answered).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest

from crossforce.encoding import keytypes, tokens
from crossforce.encoding.keytypes import KEY_TYPES, encode_key
from crossforce.limits import DEFAULT_LIMITS

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
SPEC_V1_SHA256 = "d58218ba5c76dfc29f97ec322d2dd3872c82d07087e27176557a5826175fd34d"
"""docs/spec.md as it stood at version 1 (commit 6f3fccc): the historical text must never change."""
PACKAGE_ROOTS = (ROOT / "core", ROOT / "server", ROOT / "client")
UNFILLED = re.compile(
    r"\b(?:MAX_\d+|LIMIT_[A-Z_]+|SETTING_[A-Z_]+|SCORING_[A-Z_]+|KIT_MADE|[A-Z]+_CLASSES_SHA256)\b"
)


def _section(title: str) -> str:
    """The text of one ``## `` section (up to the next one)."""
    start = SPEC.index(f"\n## {title}")
    end = SPEC.find("\n## ", start + 1)
    return SPEC[start : end if end != -1 else len(SPEC)]


def _table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row in ``text``, header and rule rows excluded."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---") and not line.startswith("|--:"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
    return rows[1:] if rows else rows


def _key_rows() -> dict[int, list[str]]:
    return {int(r[0]): r for r in _table_rows(_section("Match keys")) if r[0].isdigit()}


def test_the_historical_version_1_text_is_kept_unchanged() -> None:
    old = (ROOT / "docs" / "spec-v1.md").read_bytes()
    assert hashlib.sha256(old).hexdigest() == SPEC_V1_SHA256
    assert SPEC.startswith("# crossforce encoding spec, version 2\n")


def test_no_placeholder_is_left_unfilled_in_the_text() -> None:
    assert UNFILLED.findall(SPEC) == []


def test_every_spec_data_file_is_listed_with_the_sha256_of_the_shipped_bytes() -> None:
    rows = _table_rows(_section("Spec data files"))
    assert len(rows) >= 4
    for path_cell, digest_cell, _ in rows:
        relative = path_cell.strip("`")
        found = [root / relative for root in PACKAGE_ROOTS if (root / relative).is_file()]
        assert found, f"{relative}: listed in the spec, not shipped"
        assert digest_cell.strip("`") == hashlib.sha256(found[0].read_bytes()).hexdigest(), relative


def test_the_key_table_lists_exactly_the_assigned_codes_with_their_names_and_quota_spans() -> None:
    rows = _key_rows()
    assert sorted(rows) == sorted(KEY_TYPES)
    for code, row in rows.items():
        assert row[1].strip("`") == KEY_TYPES[code].name
        assert int(row[6]) == KEY_TYPES[code].date_span, KEY_TYPES[code].name


def test_the_key_tables_max_column_is_the_matchers_per_type_limit() -> None:
    per_type = getattr(DEFAULT_LIMITS, "max_tokens_per_type", None)
    if per_type is None:
        pytest.skip("Limits.max_tokens_per_type is not in the tree yet (encoding owner)")
    rows = _key_rows()
    assert {code: int(row[5]) for code, row in rows.items()} == dict(per_type)
    assert DEFAULT_LIMITS.max_tokens_per_candidate == sum(int(row[5]) for row in rows.values())


def test_withdrawn_and_unassigned_codes_are_named_as_such() -> None:
    assert "Codes 0, 5-15, 21, 22 and 31-255 are unassigned" in _section("Match keys")
    unassigned = {0, *range(5, 16), 21, 22, *range(31, 256)}
    assert set(KEY_TYPES).isdisjoint(unassigned)
    assert set(KEY_TYPES) | unassigned == set(range(256))


def test_the_canonical_prefix_and_example_are_the_codes() -> None:
    text = _section("Canonical encoding")
    assert f'"{keytypes.CANONICAL_PREFIX.decode()}" (3 bytes, ASCII)' in text
    example = re.search(r"`(636632[0-9a-f ]+)`", text)
    assert example is not None
    assert example[1].replace(" ", "") == encode_key(16, ["william", "smith", "1980-03-05"]).hex()


def test_the_subkey_labels_are_the_codes() -> None:
    text = _section("Subkeys and tokens")
    assert f'salt = "{tokens.HKDF_SALT.decode()}"' in text
    assert f'info = "{tokens.HKDF_INFO_PREFIX[:-1].decode()}" | 0x00 |' in text


def test_the_limits_table_gives_the_matchers_defaults() -> None:
    rows = _table_rows(_section("Checks: candidate structure, quota and limits"))
    defaults = {f.name: getattr(DEFAULT_LIMITS, f.name) for f in dataclasses.fields(DEFAULT_LIMITS)}
    checked = 0
    for names_cell, default_cell, _ in rows:
        names = [n.strip(" `") for n in names_cell.split(",")]
        values = [v.strip() for v in default_cell.split(",")]
        if len(values) != len(names) or not all(re.fullmatch(r"[0-9.e+-]+", v) for v in values):
            continue  # a default stated in words ("the key table's max")
        for name, value in zip(names, values, strict=True):
            assert float(value) == float(defaults[name]), name
            checked += 1
    assert checked >= 10


def test_every_question_of_issue_18_is_answered_in_the_text() -> None:
    questions = [row[0] for row in _table_rows(_section("Questions implementers asked"))]
    for topic in ("nickname", "Unicode", "`T` and `Z`", "Fractional seconds", "ASCII digits",
                  "unknown key code", "test filter", "punctuation-only", "`surname_dob_area`",
                  "previous name equal", "placeholder-digit", "format of the table", "vectors were made",
                  "limits", "JavaScript"):  # fmt: skip
        assert any(topic in q for q in questions), topic
    assert "## Pitfalls for JavaScript" in SPEC


def test_the_scoring_section_states_the_levels_and_agreements_the_scorer_uses() -> None:
    from crossforce.scoring.levels import LEVELS

    text = _section("Scoring (the matcher)")
    flat = " ".join(text.split())
    for field, order in LEVELS.items():
        assert f"`{field}`: {', '.join(order)}" in flat, field
    fields = ("forename", "surname", "dob", "location", "id")
    stated = {int(r[0]): r for r in _table_rows(text) if r[0].isdigit()}
    assert sorted(stated) == sorted(KEY_TYPES)
    for code, row in stated.items():
        said = {f: level for f, level in zip(fields, row[2:], strict=True) if level}
        assert said == dict(KEY_TYPES[code].agrees), KEY_TYPES[code].name


def test_the_index_size_setting_is_the_servers_default() -> None:
    from crossforce.server.policy.settings import ServerSettings

    default = ServerSettings().max_index_bits_per_record
    text = " ".join(_section("Checks: candidate structure, quota and limits").split())
    assert f"`max_index_bits_per_record` (default {default})" in text


def test_every_test_the_tokens_threat_section_cites_exists() -> None:
    text = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    section = text[text.index("## Tokens and name classes") : text.index("## Adversaries")]
    cited = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)
    assert len(cited) >= 5
    for path, name in cited:
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"{path}::{name}"


def test_every_tsv_spec_table_has_the_one_format_the_spec_states() -> None:
    rows = _table_rows(_section("Spec data files"))
    tables = [r[0].strip("`") for r in rows if r[0].strip("`").endswith(".tsv")]
    assert len(tables) >= 3
    for relative in tables:
        data = next(root / relative for root in PACKAGE_ROOTS if (root / relative).is_file()).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data and data.endswith(b"\n"), relative
        lines = data.decode("utf-8").split("\n")[:-1]
        header = [i for i, line in enumerate(lines) if line.startswith("#")]
        assert header == list(range(len(header))), f"{relative}: '#' lines come first"
        keys = []
        for line in lines[len(header) :]:
            key, value = line.split("\t")  # exactly one TAB
            assert key == key.strip() and value == value.strip() and key and value, (relative, line)
            keys.append(key)
        assert keys == sorted(keys) and len(set(keys)) == len(keys), f"{relative}: sorted, no repeats"


def test_every_kit_rule_the_answers_cite_has_vectors() -> None:
    from crossforce.client.conformance import load_kit

    rules = load_kit(ROOT / "tests" / "vectors" / "conformance").rules()
    answers = _section("Questions implementers asked") + _section(
        "Pitfalls for JavaScript (and other UTF-16 languages)"
    )
    cited = set(re.findall(r"`([a-z]{2,}(?:-[a-z0-9]+)+)`", answers)) | set(
        re.findall(r"rule `([a-z-]+)`", answers)
    )
    assert len(cited) >= 10
    assert sorted(rule for rule in cited if rules[rule] == 0) == []
