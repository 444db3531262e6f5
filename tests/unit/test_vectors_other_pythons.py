"""The encoding vectors pass, and tokens agree, on every Python this machine has (3.11 and later).

Python 3.12 and 3.13 ship newer Unicode databases than 3.11; the spec's own table (crossforce.encoding
.unicodetable) is what makes them agree. Each interpreter found (this one, ~/.pyenv/versions/3.*, and
python3.N on PATH) runs this file as a script with ``-S`` (no site-packages: the project's dependencies
are not installed there) and PYTHONPATH at the core source, with ``unicodedata`` made unimportable. It
checks tests/vectors/encoding.json (tokens from the vectors' own subkeys, which a stdlib HKDF re-derives)
and prints a digest of the encoders' outputs over every code point and a fixed corpus, which must be the
same everywhere. An interpreter that is absent is skipped: a machine with only one passes with one.

Run by hand: ``PYTHONPATH=core python3.13 -S tests/unit/test_vectors_other_pythons.py``.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import hmac
import json
import os
import shutil
import struct
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VECTORS_FILE = ROOT / "tests" / "vectors" / "encoding.json"
MIN_VERSION = (3, 11)
TIMEOUT_S = 180

# --- the check each interpreter runs (stdlib and crossforce.encoding only) ---------------------------


def _hkdf_sha256(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, so the subkeys are checked without the cryptography package."""
    prk = hmac.digest(salt, secret, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out, counter = out + block, counter + 1
    return out[:length]


def _check_vectors(vectors: dict[str, Any]) -> list[str]:
    """Every value of the vector file that the encoders (not the index) produce; the failures."""
    from crossforce.encoding import SPEC_VERSION
    from crossforce.encoding.matchkeys import derive_keys, encode_key, soundex
    from crossforce.encoding.nameclasses import name_classes
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
    from crossforce.errors import ValidationError

    bad: list[str] = []
    if vectors["spec_version"] != SPEC_VERSION:
        bad.append("spec_version")
    secret = bytes.fromhex(vectors["secret_hex"])
    salt, prefix = vectors["hkdf"]["salt_ascii"].encode(), bytes.fromhex(vectors["hkdf"]["info_prefix_hex"])
    subkeys = {int(kt): bytes.fromhex(h) for kt, h in vectors["subkeys_hex"].items()}
    for kt, subkey in subkeys.items():
        if _hkdf_sha256(secret, salt, prefix + struct.pack(">BI", kt, vectors["epoch"]), 32) != subkey:
            bad.append(f"subkey {kt}")
    bad += [f"fold {c['input']!r}" for c in vectors["fold_text"] if fold_text(c["input"]) != c["output"]]
    bad += [f"soundex {c['input']!r}" for c in vectors["soundex"] if soundex(c["input"]) != c["output"]]
    for c in vectors["canonical_encoding"]:
        if encode_key(c["key_type"], c["fields"]).hex() != c["canonical_hex"]:
            bad.append(f"canonical {c['fields']}")
    for c in vectors["placeholders"]:
        given, surname = c["given_names"], c["surname"]
        missing = ((normalise_given_names(given) == ()), (normalise_name(given, surname) is None))
        if missing != (c["given_missing"], c["name_missing"]):
            bad.append(f"placeholder {given!r} {surname!r}")
    for c in vectors["name_classes"]:
        classes = name_classes(Record(record_id="c", given_names=c["given_names"], surname=c["surname"]))
        if classes != (c["forename_class"], c["surname_class"]):
            bad.append(f"classes {c['given_names']!r} {c['surname']!r}")
    for case in vectors["records"]:
        raw = case["record"]
        record = Record(**{**raw, "previous_names": tuple(raw["previous_names"])})
        rid, expected = raw["record_id"], case["normalised"]
        names = [normalise_name(record.given_names, record.surname)]
        names += [normalise_previous_name(p, record.given_names) for p in record.previous_names]
        seen = [
            {"missing": True}
            if n is None
            else {
                "given": list(n.given),
                "surname": n.surname,
                "surname_parts": list(n.surname_parts),
                "surname_variants": list(n.surname_variants),
            }
            for n in names
        ]
        if [{k: v for k, v in view.items() if k != "name"} for view in expected["names"]] != seen:
            bad.append(f"{rid} names")
        parts = parse_date_parts(record.date_of_birth, today=datetime.date(2025, 1, 1))
        dob: dict[str, Any] | None = None
        if parts is not None:
            unordered = list(parts.day_month_unordered) if parts.day_month_unordered else None
            dob = {"year": parts.year, "month": parts.month, "day": parts.day, "valid": parts.valid}
            dob["day_month_unordered"] = unordered
        if dob != expected["date_of_birth"]:
            bad.append(f"{rid} date")
        for kind in IDENTIFIER_KINDS:
            try:
                value: str | None = normalise_identifier(kind, getattr(record, kind))
            except ValidationError:
                value = "INVALID"
            if value != expected["identifiers"][kind]:
                bad.append(f"{rid} {kind}")
        postcode = normalise_postcode(record.postcode)
        district = None if postcode is None else postcode_district(postcode)
        if (postcode, district) != (expected["postcode"], expected["postcode_district"]):
            bad.append(f"{rid} postcode")
        keys = [(k.key_type, k.canonical.hex()) for k in derive_keys(record)]
        if keys != [(k["key_type"], k["canonical_hex"]) for k in case["keys"]]:
            bad.append(f"{rid} keys")
        tokens = [hmac.digest(subkeys[k.key_type], k.canonical, "sha256").hex() for k in derive_keys(record)]
        if tokens != [k["token_hex"] for k in case["keys"]]:
            bad.append(f"{rid} tokens")
    return bad


COMMON_PIECES: tuple[str, ...] = (
    *"abcxyzKSAÉÖñçøłßæœĸŋİıﬁﬀ①⑴Ⅻ½²ẞ0123456789０９٠٣०१-/.:, \t\u00a0\u3000\u2028\u200d\u00ad",
    *"'\u2019\u02bc\u02bb\u00b7\u0301\u0308\u0345\u0327\u0338αᾳΩДжЖ한국가日本ⅯⅫ",
    *("jan", "March", "1980", "12", "th", "T", "Z", "+01:00", "12:30", "O'", "van ", "Mc", "AB", "/"),
)
NEWER_THAN_14: tuple[str, ...] = (
    *"\u0cf3\U00011f04\U00011f41\U0001e4d0\U0001e4f5\U0001e030\U00031350\U0001e4f0\U0001df25",
    *"\u2ffc\u31ef\U0002ebf0\U00011f50\U0001fbcb\U0001f7d9\U0001e4ec",
)
"""Code points assigned after Unicode 14.0 (Kannada, Kawi and Nag Mundari letters and digits, Cyrillic
modifiers, CJK extensions, 15.1 ideographic description characters): what 3.12 and 3.13 see differently."""


def _corpus(count: int, pieces: tuple[str, ...], seed: int) -> list[str]:
    """Fixed strings from a fixed generator (no ``random``: its algorithms may change between versions)."""
    state, out = seed, []
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        length, s, word = 1 + (state >> 60), "", state
        for _ in range(length):
            word = (word * 2862933555777941757 + 3037000493) % 2**64
            s += pieces[(word >> 33) % len(pieces)]
        out.append(s)
    return out


def _digests() -> dict[str, str]:
    """SHA-256 over what the encoders make of every code point and of fixed corpora.

    "core": fold_text of every code point; dates, identifiers and postcodes of strings mixing every
    kind of character, including ones newer than Unicode 14; names of strings of Unicode 14 characters.
    "names_newer": names of strings with characters newer than 14 next to apostrophes (normalise.py's
    surname step 1 still uses ``re``'s ``\\w``, the interpreter's table: kept apart until it switches)."""
    from crossforce.encoding.normalise import (
        IDENTIFIER_KINDS,
        fold_text,
        normalise_identifier,
        normalise_name,
        normalise_postcode,
        parse_date_parts,
    )
    from crossforce.errors import ValidationError

    def ids(s: str) -> list[str | None]:
        out: list[str | None] = []
        for kind in IDENTIFIER_KINDS:
            try:
                out.append(normalise_identifier(kind, s))
            except ValidationError:
                out.append("INVALID")
        return out

    def name(s: str) -> object:
        n = normalise_name(s, s)
        return None if n is None else (n.given, n.surname_parts, n.surname_variants)

    today = datetime.date(2025, 1, 1)
    core, newer = hashlib.sha256(), hashlib.sha256()
    core.update(fold_text("\x00".join(map(chr, range(0x110000)))).encode("utf-8", "surrogatepass"))
    common = _corpus(4000, COMMON_PIECES, seed=20260518)
    mixed = _corpus(2000, COMMON_PIECES + NEWER_THAN_14 * 3, seed=18)
    for s in common + mixed + [f"1980-0{ch}-02" for ch in NEWER_THAN_14]:
        fields = [fold_text(s), repr(parse_date_parts(s, today=today)), ids(s), normalise_postcode(s)]
        core.update(repr(fields).encode("utf-8", "surrogatepass"))
    for s in common:
        core.update(repr(name(s)).encode("utf-8", "surrogatepass"))
    for s in mixed + [f"{ch}a'b" for ch in NEWER_THAN_14]:
        newer.update(repr(name(s)).encode("utf-8", "surrogatepass"))
    return {"core": core.hexdigest(), "names_newer": newer.hexdigest()}


def run_check() -> dict[str, Any]:
    """The whole check in this interpreter, as the JSON a subprocess prints."""
    sys.modules["unicodedata"] = None  # type: ignore[assignment]  # the encoders must not need it
    from crossforce.encoding.unicodetable import UNICODE_VERSION, table

    bad = _check_vectors(json.loads(VECTORS_FILE.read_text(encoding="utf-8")))
    return {
        "python": sys.version.split()[0],
        "table_unicode": table().header["unicode"],
        "spec_unicode": UNICODE_VERSION,
        "failures": bad,
        "digests": _digests(),
    }


# --- the pytest side ----------------------------------------------------------------------------------


def _interpreters() -> dict[str, str]:
    """Python 3.11+ interpreters on this machine, one per version: version -> path."""
    home = Path.home()
    candidates = [
        sys.executable,
        *sorted(glob.glob(str(home / ".pyenv" / "versions" / "3.*" / "bin" / "python3"))),
    ]
    candidates += [p for n in range(11, 20) if (p := shutil.which(f"python3.{n}"))]
    found: dict[str, str] = {}
    for path in candidates:
        try:
            out = subprocess.run(
                [path, "-S", "-c", "import sys; print(*sys.version_info[:3], sep='.')"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue  # absent, or a pyenv shim for a version not installed
        if tuple(map(int, out.split(".")[:2])) >= MIN_VERSION:
            found.setdefault(out, path)
    return found


@lru_cache(maxsize=1)
def _results() -> dict[str, dict[str, Any]]:
    """The check's output from every reachable interpreter, by version (each run takes a few seconds).

    A cached function, not a fixture: the interpreters that run this file as a script have no pytest,
    so nothing at module level may use it."""
    out: dict[str, dict[str, Any]] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "core"), "PYTHONDONTWRITEBYTECODE": "1"}
    for version, path in sorted(_interpreters().items()):
        run = subprocess.run(
            [path, "-S", str(Path(__file__))],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert run.returncode == 0, f"Python {version}: {run.stderr[-2000:]}"
        out[version] = json.loads(run.stdout.strip().splitlines()[-1])
    print("encoding vectors ran on Python " + ", ".join(out))  # shown with pytest -s or -rA
    return out


def test_vectors_and_tokens_agree_on_every_reachable_python() -> None:
    results = _results()
    assert sys.version.split()[0] in results  # this interpreter at least: a fresh machine passes with one
    for version, result in results.items():
        assert result["failures"] == [], f"Python {version}: {result['failures']}"
        assert result["table_unicode"] == result["spec_unicode"] == "14.0.0"
    digests = {version: result["digests"]["core"] for version, result in results.items()}
    assert len(set(digests.values())) == 1, f"encoders disagree between Pythons: {digests}"


def test_names_with_characters_newer_than_unicode_14_agree_between_pythons() -> None:
    import pytest

    results = _results()
    if len(results) < 2:
        pytest.skip("one Python on this machine: nothing to compare")
    digests = {version: result["digests"]["names_newer"] for version, result in results.items()}
    assert len(set(digests.values())) == 1, digests


if __name__ == "__main__":
    print(json.dumps(run_check()))
