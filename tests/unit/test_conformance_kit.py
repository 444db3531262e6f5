"""The conformance kit (tests/vectors/conformance, issue 18): complete, consistent, and able to fail.

The reference adapter must pass every vector through the same subprocess door another language's
implementation uses; a deliberately wrong adapter must fail with a diff; a hanging, crashing or chatty
implementation must fail only the vectors it spoils. The kit must also agree with the older normative
vectors (encoding.json, index.json) and cover every rule issue 18 found settled by nothing but a guess.
Nothing here calls the reference adapter in-process: record-level answers set the adapter's clock, so
they run in a subprocess only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crossforce.cli.main import cli
from crossforce.client.conformance import (
    Kit,
    Outcome,
    Vector,
    diff_lines,
    json_line,
    judge,
    load_kit,
    run_kit,
    same,
)
from crossforce.client.conformance_ref import OPS
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.encoding.placeholders import PLACEHOLDER_NAMES
from crossforce.encoding.recordrules import PLACEHOLDER_DATES
from crossforce.limits import DEFAULT_LIMITS

ROOT = Path(__file__).resolve().parents[2]
KIT_DIR = ROOT / "tests" / "vectors" / "conformance"
KIT = load_kit(KIT_DIR)
MANIFEST: dict[str, Any] = KIT.manifest
REFERENCE = [sys.executable, "-m", "crossforce.client.conformance_ref"]
RUN_TIMEOUT_S = 600
VERIFICATION_FAILED = 7
BAD_INPUT = 3


def _vectors(op: str) -> list[Vector]:
    return [v for v in KIT.vectors if v.op == op]


# --- the kit passes our implementation, and fails a wrong one -----------------------------------------


def test_the_reference_adapter_passes_every_vector_through_the_command_line() -> None:
    # One command, as an implementer runs it: the CLI starts the adapter and speaks JSON Lines to it.
    done = subprocess.run(
        [sys.executable, "-m", "crossforce.cli", "conformance", "run", "--json", "--", *REFERENCE],
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        cwd=ROOT,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["failures"] == []
    assert (report["passed"], report["failed"], done.returncode) == (len(KIT.vectors), 0, 0)
    assert report["by_op"].keys() == KIT.ops().keys()


def test_an_adapter_that_lowercases_instead_of_folding_fails_with_a_diff(tmp_path: Path) -> None:
    wrong = tmp_path / "lowercase_adapter.py"
    wrong.write_text(
        "from crossforce.client import conformance_ref as ref\n"
        "ref.OPS = {**ref.OPS, 'fold': lambda i: i['text'].lower()}\n"
        "ref.main()\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["conformance", "run", "--only", "fold", "--max-diffs", "0", "--", sys.executable, str(wrong)]
    )
    assert result.exit_code == VERIFICATION_FAILED
    folds = len(_vectors("fold"))
    failed = result.output.count("FAIL fold-")
    assert 0 < failed < folds  # plain lower-case ASCII still passes: the kit judges each vector
    assert f"{folds - failed} passed, {failed} failed" in result.output
    assert '    -"zoe lukasz obrien"' in result.output
    assert '    +"zoë łukasz-o’brien"' in result.output


def test_an_adapter_blind_to_key_types_fails_the_relabel_attack_vectors_with_a_diff(tmp_path: Path) -> None:
    # An index that ignores partitions (v1's one filter for every type) lets a relabelled token match.
    wrong = tmp_path / "one_filter_adapter.py"
    wrong.write_text(
        "from crossforce.client import conformance_ref as ref\n"
        "def blind(i):\n"
        "    inserted = {e['token'] for e in i['inserted']}\n"
        "    return [q['token'] in inserted for q in i['queries']]\n"
        "ref.OPS = {**ref.OPS, 'partitioned_contains': blind}\n"
        "ref.main()\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["conformance", "run", "--only", "partitioned_contains", "--", sys.executable, str(wrong)]
    )
    assert result.exit_code == VERIFICATION_FAILED
    assert f"0 passed, {len(_vectors('partitioned_contains'))} failed" in result.output
    assert "rule relabel-attack" in result.output
    assert "    -" in result.output and "    +" in result.output


def test_a_missing_command_is_bad_input() -> None:
    result = CliRunner().invoke(cli, ["conformance", "run", "--only", "limits", "--", "/nonexistent/impl"])
    assert result.exit_code == BAD_INPUT


def test_list_shows_every_operation_and_the_data_files() -> None:
    result = CliRunner().invoke(cli, ["conformance", "list", "--json"])
    listing = json.loads(result.output)
    assert listing["ops"] == dict(KIT.ops())
    assert listing["vectors"] == len(KIT.vectors)
    assert [d["path"] for d in listing["data_files"]] == [d["path"] for d in MANIFEST["data_files"]]


# --- a misbehaving implementation fails only what it spoils -------------------------------------------

FAKE = """
import json, sys, time
script = json.load(open(sys.argv[1], encoding="utf-8"))
for line in sys.stdin:
    request = json.loads(line)
    act = script[request["id"]]
    if act == "hang":
        time.sleep(60)
    if act == "exit":
        sys.exit(3)
    if act == "stray":
        print("debug: thinking", flush=True)
        act = {"output": 1}
    print(json.dumps({"id": request["id"], **act}), flush=True)
"""


def _mini_kit(tmp_path: Path, vectors: list[dict[str, Any]]) -> Kit:
    header = {
        "kit": "crossforce-conformance",
        "made": "2026-11-30",
        "file": "mini.jsonl",
        "vectors": len(vectors),
    }
    lines = [json_line(header)] + [
        json_line({"rule": "test", "note": "test", "input": {}, **v}) for v in vectors
    ]
    (tmp_path / "mini.jsonl").write_text("".join(lines), encoding="utf-8")
    manifest = {"made": "2026-11-30", "vector_files": [{"file": "mini.jsonl"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return load_kit(tmp_path)


def test_a_hanging_crashing_or_chatty_implementation_fails_only_those_vectors(tmp_path: Path) -> None:
    script = {
        "v-1": {"output": 1},
        "v-2": "hang",
        "v-3": {"output": [1]},
        "v-4": "stray",
        "v-5": "exit",
        "v-6": {"error": {"code": "invalid_date", "message": "extra fields are allowed"}},
        "v-7": {"output": 0.1000000000001},
        "v-8": {"output": 1},
    }
    kit = _mini_kit(
        tmp_path,
        [
            {"id": "v-1", "op": "x", "expected": {"output": 1}},
            {"id": "v-2", "op": "x", "expected": {"output": 1}},
            {"id": "v-3", "op": "x", "expected": {"output": [True]}},
            {"id": "v-4", "op": "x", "expected": {"output": 1}},
            {"id": "v-5", "op": "x", "expected": {"output": 1}},
            {"id": "v-6", "op": "y", "expected": {"error": {"code": "invalid_date"}}},
            {"id": "v-7", "op": "y", "expected": {"output": 0.1}, "tolerance": 1e-9},
            {"id": "v-8", "op": "y", "expected": {"output": 1}},
        ],
    )
    (tmp_path / "script.json").write_text(json.dumps(script), encoding="utf-8")
    (tmp_path / "fake.py").write_text(FAKE, encoding="utf-8")
    report = run_kit(
        kit, [sys.executable, str(tmp_path / "fake.py"), str(tmp_path / "script.json")], timeout_s=2
    )
    problems = {o.vector.id: o.problem for o in report.outcomes}
    assert problems == {
        "v-1": None,
        "v-2": "no answer within 2 s",
        "v-3": "the output differs",
        "v-4": "1 stray line(s) on stdout before the answer",
        "v-5": "the implementation exited (status 3)",
        "v-6": None,
        "v-7": None,
        "v-8": None,
    }
    assert (report.passed, len(report.failures), report.restarts) == (4, 4, 2)
    assert report.by_op() == {"x": {"passed": 1, "failed": 4}, "y": {"passed": 3, "failed": 0}}


def test_strict_comparison_never_takes_a_boolean_for_a_number() -> None:
    assert not same(True, 1)
    assert not same([1], [True])
    assert not same(None, "")
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert same({"a": 1, "b": [2.0]}, {"b": [2], "a": 1})
    assert same(8.639108309051117e-17, 8.639108309051118e-17, 1e-9)
    assert not same(8.6e-17, 8.7e-17, 1e-9)
    assert not same(0.0, 1e-300, 1e-9)


def test_judge_names_what_is_wrong() -> None:
    vector = Vector(
        "keys-9", "keys", "r", "n", {}, {"error": {"code": "invalid_record", "field": "surname"}}, None, "f"
    )
    assert judge(vector, {"id": "keys-9", "error": {"code": "invalid_record", "field": "surname"}}) is None
    assert judge(vector, {"id": "keys-9", "error": {"code": "invalid_record", "field": "given_names"}})
    assert judge(vector, {"id": "keys-9", "output": []}) == "expected an error, got an output"
    fold = Vector("fold-1", "fold", "r", "n", {"text": "a"}, {"output": "a"}, None, "f")
    assert (
        judge(fold, {"id": "fold-1", "error": {"code": "unsupported_op"}}) == "the operation is not supported"
    )
    assert judge(fold, {"id": "fold-1"}) == "the answer has neither output nor error"
    assert judge(fold, [1]) == "the answer is not a JSON object"


def test_a_diff_shows_invisible_characters_and_decodes_keys() -> None:
    vector = next(v for v in _vectors("keys") if v.rule == "zero-width")
    expected = vector.expected["output"]
    answer = {"id": vector.id, "output": expected[:-1]}
    lines = diff_lines(Outcome(vector, judge(vector, answer), answer))
    assert "\\u200d" in lines[1]  # the zero-width joiner in the input is shown, not hidden
    assert any(line.startswith("    -type ") and " | " in line for line in lines)


# --- the kit is complete and consistent --------------------------------------------------------------

ISSUE_18_RULES = {
    "date-markers": "the case of the T and Z date markers after folding",
    "date-fraction-zone": "fractional seconds and time-zone syntax",
    "date-unicode-digits": "date patterns take only ASCII digits",
    "punctuation-only-piece": "a punctuation-only forename piece",
    "previous-surname-area-key": "whether surname_dob_area keys previous surnames",
    "previous-name-repeat": "a previous name equal to an earlier one",
    "placeholder-names": "every placeholder name",
    "placeholder-dates": "every placeholder date",
    "identifier-placeholders": "the placeholder-digit rule",
    "combining-marks": "combining marks",
    "zero-width": "ZWJ, ZWNJ, soft hyphen",
    "mixed-scripts": "mixed scripts",
    "long-names": "10,000-code-point names",
    "unknown-key-code": "unknown key codes (no strength in v2: an error everywhere)",
    "filter-contents": "which tokens went into each test filter",
    "nickname-table": "the nickname table's every mapping",
    "unicode-table": "every code point's folding",
    "whitespace": "the spec's whitespace against JavaScript's \\s",
    "code-points": "code points, not UTF-16 units",
    "date-today": "today as an explicit input",
    "limits": "the limits a client must respect",
    # spec v2
    "worst-case": "the worst-case record: every key type at its max per record",
    "middle-name": "name_dob and name_nodate on the second forename",
    "no-date": "the date-free keys",
    "year-only": "name_year",
    "name-classes": "the name classes of a record",
    "partitions": "index format 2: a partition per key type",
    "relabel-attack": "a token relabelled as another type does not match",
    "quota-span": "quota units per token",
    "scoring": "the matcher's probability",
}


@pytest.mark.parametrize("rule", sorted(ISSUE_18_RULES), ids=str)
def test_every_rule_issue_18_names_has_vectors(rule: str) -> None:
    assert KIT.rules()[rule] > 0, ISSUE_18_RULES[rule]


def test_every_operation_has_vectors_and_a_row_in_the_contract() -> None:
    contract = (KIT_DIR / "runner.md").read_text(encoding="utf-8")
    assert set(KIT.ops()) == set(OPS)
    assert [op for op in OPS if f"| `{op}` |" not in contract] == []


def test_every_placeholder_form_has_a_record_vector() -> None:
    given = {v.input["record"].get("given_names") for v in _vectors("record")}
    surnames = {v.input["record"].get("surname") for v in _vectors("record")}
    previous = {n for v in _vectors("record") for n in v.input["record"].get("previous_names", [])}
    dates = {v.input["record"].get("date_of_birth") for v in _vectors("record")}
    assert not PLACEHOLDER_NAMES - (given & surnames & previous)
    assert not PLACEHOLDER_DATES - dates
    for v in _vectors("record"):
        if v.rule == "placeholder-names" and v.input["record"].get("given_names") in PLACEHOLDER_NAMES:
            assert v.expected["output"]["emptied"] == ["given_names"], v.id


def test_every_nickname_mapping_has_a_vector() -> None:
    text = (ROOT / "core" / "crossforce" / "data" / "nicknames.tsv").read_text(encoding="utf-8")
    table = dict(line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    kit = {v.input["name"]: v.expected["output"] for v in _vectors("nickname")}
    assert len(table) == 557
    assert {name: kit[name] for name in table} == table


def test_fold_range_vectors_cover_every_code_point_once() -> None:
    spans = sorted((v.input["first"], v.input["last"]) for v in _vectors("fold_range"))
    assert spans[0][0] == 0 and spans[-1][1] == 0x10FFFF
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))


def test_the_kit_records_its_date_and_every_date_dependent_vector_carries_today() -> None:
    for entry in MANIFEST["vector_files"]:
        header = json.loads((KIT_DIR / entry["file"]).read_text(encoding="utf-8").split("\n", 1)[0])
        assert header["made"] == MANIFEST["made"]
    dated = [v for v in KIT.vectors if v.op in ("date", "date_strict", "record", "keys", "tokens")]
    assert dated and all(len(v.input["today"]) == 10 for v in dated)


def test_the_manifest_hashes_match_the_shipped_data_and_vector_files() -> None:
    for data in MANIFEST["data_files"]:
        assert hashlib.sha256((ROOT / data["path"]).read_bytes()).hexdigest() == data["sha256"], data["path"]
    for entry in MANIFEST["vector_files"]:
        assert hashlib.sha256((KIT_DIR / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]


def test_the_generator_rewrites_the_kit_byte_for_byte() -> None:
    # In a subprocess: the generator asks the adapter in-process, which sets the adapter's clock.
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_conformance_vectors.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_worst_case_record_reaches_every_types_max_exactly() -> None:
    (vector,) = [v for v in _vectors("keys") if v.input["record"]["record_id"] == "worst"]
    counts: dict[int, int] = {}
    for key in vector.expected["output"]:
        counts[key["type"]] = counts.get(key["type"], 0) + 1
    assert counts == {code: kt.max_per_record for code, kt in KEY_TYPES.items()}
    assert sum(counts.values()) == DEFAULT_LIMITS.max_tokens_per_candidate


def test_the_kit_states_the_key_table_and_limits_of_the_code() -> None:
    (table,) = [v.expected["output"] for v in _vectors("key_types")]
    assert {row["code"]: (row["name"], row["span"], row["max"], row["agrees"]) for row in table} == {
        code: (kt.name, kt.date_span, kt.max_per_record, dict(kt.agrees)) for code, kt in KEY_TYPES.items()
    }
    (limits,) = [v.expected["output"] for v in _vectors("limits")]
    assert limits["max_tokens_per_type"] == {str(c): n for c, n in DEFAULT_LIMITS.max_tokens_per_type.items()}
    assert limits["max_tokens_per_candidate"] == DEFAULT_LIMITS.max_tokens_per_candidate


def test_relabelled_tokens_never_match_in_the_sparse_relabel_vector() -> None:
    for vector in _vectors("partitioned_contains"):
        inserted = {(e["type"], e["token"]) for e in vector.input["inserted"]}
        for query, hit in zip(vector.input["queries"], vector.expected["output"], strict=True):
            if (query["type"], query["token"]) in inserted:
                assert hit is True  # no false negatives
            elif vector.input["partitions"][0]["num_blocks"] >= 64:
                assert hit is False, query  # relabelled: tested in a partition it was never put into


def test_previous_names_equal_to_the_current_name_add_no_key() -> None:
    keys = {v.input["record"]["record_id"]: v.expected.get("output") for v in _vectors("keys")}
    assert keys["k03"] == keys["k02"]
    assert len(keys["k03b"]) > len(keys["k02"])  # Bill is not William until the nickname table


# --- the kit agrees with the older normative vectors --------------------------------------------------


def test_keys_and_tokens_agree_with_the_encoding_vectors() -> None:
    encoding = json.loads((ROOT / "tests" / "vectors" / "encoding.json").read_text(encoding="utf-8"))
    keys = {
        v.input["record"]["record_id"]: v.expected["output"]
        for v in _vectors("keys")
        if v.rule == "golden-records"
    }
    tokens = {
        v.input["record"]["record_id"]: v.expected["output"]
        for v in _vectors("tokens")
        if v.rule == "tokens"
        and v.input["epoch"] == encoding["epoch"]
        and v.input["secret_hex"] == encoding["secret_hex"]
    }
    for record in encoding["records"]:
        rid = record["record"]["record_id"]
        assert keys[rid] == [
            {"type": k["key_type"], "canonical_hex": k["canonical_hex"]} for k in record["keys"]
        ]
        assert tokens[rid] == [{"type": k["key_type"], "token_hex": k["token_hex"]} for k in record["keys"]]
    subkeys = {
        str(v.input["type"]): v.expected["output"]
        for v in _vectors("subkey")
        if v.rule == "subkeys" and v.input["epoch"] == encoding["epoch"] and len(v.input["secret_hex"]) == 64
    }
    assert subkeys == encoding["subkeys_hex"]


def test_index_vectors_agree_with_the_index_vectors() -> None:
    index = json.loads((ROOT / "tests" / "vectors" / "index.json").read_text(encoding="utf-8"))
    built = {
        (v.input["num_blocks"], v.input["num_probes"], len(v.input["tokens"])): v.expected["output"]
        for v in _vectors("index_build")
    }
    for f in index["filters"]:
        assert built[(f["num_blocks"], f["num_probes"], f["token_count"])] == {
            "sha256": f["sha256"],
            "set_bits": f["set_bits"],
        }
    for v in _vectors("index_contains"):
        f = next(
            f
            for f in index["filters"]
            if (f["num_blocks"], f["num_probes"], f["token_count"])
            == (v.input["num_blocks"], v.input["num_probes"], len(v.input["inserted"]))
        )
        assert v.expected["output"] == f["absent_contains"] + [True] * min(8, len(v.input["inserted"]))
    positions = {
        (v.input["token"], v.input["num_blocks"], v.input["num_probes"]): v.expected["output"]
        for v in _vectors("positions")
    }
    for g in index["geometry"]:
        for t in g["tokens"]:
            assert positions[(t["token"], g["num_blocks"], g["num_probes"])] == {
                "block": t["block"],
                "probes": t["probes"],
            }
    fprs = {
        (v.input["num_blocks"], v.input["num_probes"], v.input["token_count"]): v.expected["output"]
        for v in _vectors("fpr")
    }
    for p in index["params"]:
        assert same(fprs[(p["num_blocks"], p["num_probes"], p["token_count"])], p["theoretical_fpr"], 1e-9)


def test_partition_vectors_agree_with_the_index_vectors() -> None:
    index = json.loads((ROOT / "tests" / "vectors" / "index.json").read_text(encoding="utf-8"))
    built = {v.note: v.expected.get("output") for v in _vectors("partitioned_build")}
    contains = {v.note: v.expected["output"] for v in _vectors("partitioned_contains")}
    for entry in index["partitioned"]:
        out = built[f"index.json '{entry['name']}': partitions, digest and size"]
        assert (out["partitions"], out["sha256"], out["size_bytes"]) == (
            entry["partitions"],
            entry["sha256"],
            entry["size_bytes"],
        )
        note = f"index.json '{entry['name']}': each query tested in its own type's partition only"
        assert contains[note] == [q["contains"] for q in entry["queries"]]


def test_cost_vectors_are_what_the_matcher_charges() -> None:
    from crossforce.domain.checks import Candidate, TokenBlock
    from crossforce.server.policy.candidates import cost

    checked = 0
    for vector in _vectors("cost"):
        if "output" not in vector.expected:
            continue
        types = vector.input["types"]
        tokens = b"".join(i.to_bytes(32, "big") for i in range(len(types)))
        candidate = Candidate(blocks=(TokenBlock(epoch=1, key_types=bytes(types), tokens=tokens),))
        assert cost(candidate) == vector.expected["output"], vector.id
        checked += 1
    assert checked >= 8


def test_class_and_placeholder_vectors_agree_with_the_encoding_vectors() -> None:
    encoding = json.loads((ROOT / "tests" / "vectors" / "encoding.json").read_text(encoding="utf-8"))
    classes = {
        (v.input["record"]["given_names"], v.input["record"]["surname"]): v.expected["output"]
        for v in _vectors("name_classes")
    }
    for entry in encoding["name_classes"]:
        assert classes[(entry["given_names"], entry["surname"])] == {
            "forename_class": entry["forename_class"],
            "surname_class": entry["surname_class"],
        }
    given = {v.input["text"]: v.expected["output"]["given"] for v in _vectors("given_names")}
    name_keys = {
        (v.input["record"]["given_names"], v.input["record"]["surname"]): {
            k["type"] for k in v.expected["output"]
        }
        for v in _vectors("keys")
        if v.note.startswith("encoding.json placeholders")
    }
    for entry in encoding["placeholders"]:
        assert (given[entry["given_names"]] == []) == entry["given_missing"], entry
        keyed = name_keys[(entry["given_names"], entry["surname"])]
        if entry["name_missing"]:
            assert not keyed & {16, 17, 18, 19, 20, 26, 27, 28}, entry  # no key of the current name


def test_fold_soundex_and_canonical_vectors_agree_with_the_encoding_vectors() -> None:
    encoding = json.loads((ROOT / "tests" / "vectors" / "encoding.json").read_text(encoding="utf-8"))
    folds = {v.input["text"]: v.expected["output"] for v in _vectors("fold")}
    codes = {v.input["text"]: v.expected["output"] for v in _vectors("soundex")}
    canonical = {
        (v.input["type"], tuple(v.input["fields"])): v.expected.get("output") for v in _vectors("canonical")
    }
    assert {e["input"]: folds[e["input"]] for e in encoding["fold_text"]} == {
        e["input"]: e["output"] for e in encoding["fold_text"]
    }
    assert all(codes[e["input"]] == e["output"] for e in encoding["soundex"])
    for e in encoding["canonical_encoding"]:
        assert canonical[(e["key_type"], tuple(e["fields"]))] == e["canonical_hex"]
