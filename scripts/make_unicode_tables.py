"""Write core/crossforce/encoding/data/unicode-14.0.0.txt: the spec's own per-code-point Unicode table.

Usage (on CPython 3.11, whose ``unicodedata`` is Unicode 14.0.0, the version docs/spec.md pins):
    python scripts/make_unicode_tables.py            # rewrite the table and TABLE_SHA256 in unicodetable.py
    python scripts/make_unicode_tables.py --check    # regenerate in memory, compare byte for byte

Why a generated table: Python 3.12 and 3.13 ship newer Unicode databases (15.0, 15.1), so a force on them
folded thousands of rare code points differently from one on 3.11, and so would any other language's
runtime. The encoders (crossforce.encoding.text, dates, identifiers) read this table instead of the
runtime's database; this script is the only place the old ``unicodedata``-based rules still run. They
are kept here verbatim (``reference_*``) so tests can prove the table reproduces them on 3.11.

Why per code point is exact for ``fold_text``: every step (apostrophes, casefold, special letters, NFKD
decomposition, category filter) maps one code point at a time, except NFKD's canonical reordering, which
only permutes code points of non-zero combining class within a run. Every such code point is a mark that
folds to nothing, except U+0345 (folds to iota, and every U+0345 folds alike), so reordering never changes
the surviving output (``reordering_survivors`` checks it over every code point).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "core" / "crossforce" / "encoding" / "data" / "unicode-14.0.0.txt"
CONSTANT_FILE = ROOT / "core" / "crossforce" / "encoding" / "unicodetable.py"
UNICODE_VERSION = "14.0.0"
FORMAT = "crossforce-unicode-table 1"
CODE_POINTS = 0x110000

# --- the rules as they were written against unicodedata (spec v1, docs/spec.md "Normalisation") -------

APOSTROPHES = "'\u2019\u2018\u02bc\u02bb`\u00b4\u2032\uff07\u02b9\u00b7"
_DROP_APOSTROPHES = str.maketrans("", "", APOSTROPHES)
_SPECIAL_LETTERS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "þ": "th",
        "ı": "i",
        "œ": "oe",
        "ð": "d",
        "ŧ": "t",
        "ħ": "h",
        "ŀ": "l",
        "ĸ": "k",
        "ŋ": "n",
    }
)
"""Letters that Unicode does not decompose to a base letter plus marks, spelt as English-language
clerks and passport MRZs usually transliterate them."""
_DROP_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Lm", "Cf"})
"""Combining marks (accents), modifier letters (ʰ, tatweel) and format characters (soft hyphen, ZWJ)."""
_STRIP_PNC = re.compile(r"[^A-Z0-9/]")
_STRIP_ID = re.compile(r"[^A-Z0-9]")


def _reference_fold_steps(s: str) -> str:
    """fold_text steps T1-T6 (docs/spec.md), before spaces are collapsed."""
    s = s.translate(_DROP_APOSTROPHES).casefold().translate(_SPECIAL_LETTERS)
    s = unicodedata.normalize("NFKD", s).casefold().translate(_SPECIAL_LETTERS)
    s = unicodedata.normalize("NFKD", s)
    out: list[str] = []
    for ch in s:
        if ch.isascii():
            out.append(ch if ch.isalnum() else " ")
            continue
        cat = unicodedata.category(ch)
        if cat in _DROP_CATEGORIES:
            continue
        out.append(ch if cat[0] in "LN" else " ")
    return "".join(out)


def reference_fold_text(s: str) -> str:
    """crossforce.encoding.text.fold_text as it was before the table."""
    return " ".join(_reference_fold_steps(s).split())


def reference_pnc_chars(s: str) -> str:
    """What the PNC parser kept of a field: NFKC, upper case, only A-Z 0-9 and /."""
    return _STRIP_PNC.sub("", (s if s.isascii() else unicodedata.normalize("NFKC", s)).upper())


def reference_strip_id(s: str) -> str:
    """The NI number, passport, licence and postcode clean-up: fold, upper case, only A-Z 0-9."""
    return _STRIP_ID.sub("", (s if s.isascii() else reference_fold_text(s)).upper())


_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_YMD = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", re.ASCII)
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", re.ASCII)
_YM = re.compile(r"(\d{4})[-/.](\d{1,2})", re.ASCII)
_MY = re.compile(r"(\d{1,2})[-/.](\d{4})", re.ASCII)
_D_MON_Y = re.compile(r"(\d{1,2})[-/. ]*([a-z]+)[-/. ,]*(\d{4})", re.ASCII)
_MON_D_Y = re.compile(r"([a-z]+)[-/. ]*(\d{1,2})(?:st|nd|rd|th)?[-/. ,]*(\d{4})", re.ASCII)
_TIME_SUFFIX = re.compile(r"(?:[t ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)$", re.ASCII)
_ORDINAL = re.compile(r"(\d)(?:st|nd|rd|th)\b", re.ASCII)


def reference_split_date(s: str) -> tuple[int, int, int] | str | None:
    """crossforce.encoding.dates: the numbers as written, None if no format fits, "blank" if blank."""
    if not s.strip():
        return "blank"
    t = (s if s.isascii() else unicodedata.normalize("NFKC", s)).strip()
    if match := _ISO.fullmatch(t):
        return int(match[1]), int(match[2]), int(match[3])
    t = t.casefold()
    if ":" in t:
        t = _TIME_SUFFIX.sub("", t).strip()
    if not t.isdigit():
        t = _ORDINAL.sub(r"\1", t)
    if len(t) == 8 and t.isascii() and t.isdigit():
        y, m, d = int(t[:4]), int(t[4:6]), int(t[6:])
        if 1900 <= y <= 2100 or not 1 <= int(t[2:4]) <= 12:
            return y, m, d
        return int(t[4:]), int(t[2:4]), int(t[:2])
    if match := _YMD.fullmatch(t):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _DMY.fullmatch(t):
        return int(match[3]), int(match[2]), int(match[1])
    if (match := _D_MON_Y.fullmatch(t)) and match[2] in _MONTHS:
        return int(match[3]), _MONTHS[match[2]], int(match[1])
    if (match := _MON_D_Y.fullmatch(t)) and match[1] in _MONTHS:
        return int(match[3]), _MONTHS[match[1]], int(match[2])
    if match := _YM.fullmatch(t):
        return int(match[1]), int(match[2]), 0
    if match := _MY.fullmatch(t):
        return int(match[2]), int(match[1]), 0
    return None


def reference_is_word(ch: str) -> bool:
    """``re``'s ``\\w`` for str patterns: what normalise.py's initial-apostrophe rule uses."""
    return ch.isalnum() or ch == "_"


# --- per code point ---------------------------------------------------------------------------------


class Columns(NamedTuple):
    """The table's values for every code point, index = code point. None means "the code point itself"."""

    fold: list[str | None]
    pnc: list[str | None]
    date: list[str | None]
    classes: list[str]


def _fold_of(ch: str) -> str | None:
    out = re.sub(" +", " ", _reference_fold_steps(ch))
    return None if out == ch else out


def _pnc_of(ch: str) -> str | None:
    out = _STRIP_PNC.sub("", unicodedata.normalize("NFKC", ch).upper())
    return None if out == ch else out


def _date_of(ch: str) -> str | None:
    """NFKC then casefold when that gives ASCII; a code point that stays non-ASCII stays itself, since no
    date pattern can match it (nothing after this step removes a non-ASCII code point but trimming)."""
    out = unicodedata.normalize("NFKC", ch).casefold()
    return out if out.isascii() and out != ch else None


def _classes_of(ch: str) -> str:
    return ("s" if ch.isspace() else "") + ("w" if reference_is_word(ch) else "")


@lru_cache(maxsize=1)
def compute_columns() -> Columns:
    """Every code point through the reference rules (about 8 s); cached for the tests that share it."""
    chars = [chr(c) for c in range(CODE_POINTS)]
    return Columns(
        fold=[_fold_of(ch) for ch in chars],
        pnc=[_pnc_of(ch) for ch in chars],
        date=[_date_of(ch) for ch in chars],
        classes=[_classes_of(ch) for ch in chars],
    )


def reordering_survivors() -> set[int]:
    """Code points of non-zero combining class that leave output after the first NFKD (the only
    reordering that could reach output): the exactness argument needs this to be {U+0345} alone."""
    survivors: set[int] = set()
    for c in range(CODE_POINTS):
        ch = chr(c)
        if unicodedata.combining(ch) == 0:
            continue
        rest = unicodedata.normalize("NFKD", ch.casefold().translate(_SPECIAL_LETTERS))
        kept = [x for x in rest if x.isascii() or unicodedata.category(x) not in _DROP_CATEGORIES]
        if kept or unicodedata.category(ch) not in ("Mn", "Mc", "Me"):
            survivors.add(c)
    return survivors


# --- rendering --------------------------------------------------------------------------------------


def _value(v: str | None) -> str:
    if v is None:
        return "="
    if v == "":
        return "-"
    return " ".join(f"{ord(x):04X}" for x in v)


def _ranges(cols: Columns) -> Iterator[tuple[int, int, tuple[str, str, str, str]]]:
    start = 0
    key = (cols.fold[0], cols.pnc[0], cols.date[0], cols.classes[0])
    for c in range(1, CODE_POINTS + 1):
        nxt = (cols.fold[c], cols.pnc[c], cols.date[c], cols.classes[c]) if c < CODE_POINTS else None
        if nxt != key:
            fold, pnc, date, classes = key
            yield start, c - 1, (_value(fold), _value(pnc), _value(date), classes or "-")
            if nxt is not None:
                start, key = c, nxt


def render(cols: Columns, generated_by: str) -> bytes:
    header = [
        "# crossforce spec: per-code-point Unicode table (docs/spec.md, Normalisation)",
        f"# unicode: {UNICODE_VERSION}",
        f"# generated-by: {generated_by}",
        f"# format: {FORMAT}",
        "# Lines: first<TAB>last<TAB>fold<TAB>pnc<TAB>date<TAB>classes, one per range of code points",
        "# (hex, inclusive) whose values are all alike; ranges are sorted and cover 0000..10FFFF.",
        "# Values: '=' the code point itself, '-' nothing, else hex code points separated by spaces.",
        "# fold: fold_text steps 1-6 for the code point (spaces then collapse and trim over the string).",
        "# pnc: the PNC ID clean-up (NFKC, upper case, only A-Z 0-9 /) for the code point.",
        "# date: NFKC then casefold when that is ASCII, else the code point itself.",
        "# classes: s = whitespace (White_Space or U+001C..U+001F), w = word (L*, N* or _), '-' neither.",
    ]
    lines = header + [
        f"{first:04X}\t{last:04X}\t{fold}\t{pnc}\t{date}\t{classes}"
        for first, last, (fold, pnc, date, classes) in _ranges(cols)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _this_python() -> str:
    return f"CPython {sys.version.split()[0]} (scripts/make_unicode_tables.py)"


def _recorded_generator(data: bytes) -> str | None:
    for line in data.decode("utf-8").splitlines():
        if line.startswith("# generated-by: "):
            return line.removeprefix("# generated-by: ")
    return None


_CONSTANT = re.compile(r'^TABLE_SHA256: Final = "([0-9a-f]{64})"', re.M)


def _constant_in_module() -> str | None:
    match = _CONSTANT.search(CONSTANT_FILE.read_text("utf-8"))
    return match[1] if match else None


def _write_constant(digest: str) -> None:
    source = CONSTANT_FILE.read_text("utf-8")
    CONSTANT_FILE.write_text(_CONSTANT.sub(f'TABLE_SHA256: Final = "{digest}"', source, count=1), "utf-8")


def check() -> list[str]:
    """Problems with the committed table and its hash constant (empty when both are current).

    The table is rendered with the generator line it records, so another 3.11 patch release (same
    Unicode 14.0.0 database) checks the content byte for byte."""
    if unicodedata.unidata_version != UNICODE_VERSION:
        return [f"needs Unicode {UNICODE_VERSION} (CPython 3.11); this is {unicodedata.unidata_version}"]
    if not TABLE.exists():
        return [f"{TABLE} is missing"]
    committed = TABLE.read_bytes()
    problems = []
    expected = render(compute_columns(), _recorded_generator(committed) or _this_python())
    if committed != expected:
        problems.append(f"{TABLE.name} differs from what the generator writes")
    digest = hashlib.sha256(committed).hexdigest()
    if _constant_in_module() != digest:
        problems.append(f"TABLE_SHA256 in {CONSTANT_FILE.name} is not the table's SHA-256 {digest}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed table")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if unicodedata.unidata_version != UNICODE_VERSION:
        print(f"run on CPython 3.11 (Unicode {UNICODE_VERSION})", file=sys.stderr)
        return 1
    survivors = reordering_survivors()
    if survivors != {0x345}:
        print(f"per-code-point folding is not exact: {sorted(map(hex, survivors))}", file=sys.stderr)
        return 1
    data = render(compute_columns(), _this_python())
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    _write_constant(digest)
    print(f"{TABLE.relative_to(ROOT)}: {len(data)} bytes, sha256 {digest} (also in {CONSTANT_FILE.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
