"""Write the conformance kit's vectors, tests/vectors/conformance/*.jsonl and manifest.json (runner.md).

The kit lets a force's implementer, in any language, test an implementation of docs/spec.md with one
command (``crossforce conformance run -- CMD``). This script chooses the inputs: every rule the spec
states, every rule that issue 18 found settled only by vectors or by nothing (date markers, fractional
seconds and zones, Unicode digits, punctuation-only pieces, previous names, every placeholder form,
combining marks, zero-width characters, mixed scripts, 10,000-code-point names, unknown key codes, the
tokens in each test filter, the nickname table's every mapping, the limits) and every rule version 2
added (placeholder names in every form, the worst-case record, name classes, partitions and the relabel
attack, quota spans, scoring). The expected values are
the reference implementation's answers (``crossforce.client.conformance_ref.answer``), so the vectors
are spec v2 as this code defines it: regenerate only with a spec change, and review the diff as one.

Deterministic: the kit records the date it was made (``MADE``, also every vector's ``today`` unless the
vector is about the date) and the SHA-256 of the data files an implementation needs; nothing depends on
the clock. The script is over 400 lines because most of it is the inputs themselves, a table per rule,
kept together so a reviewer sees what each rule is tested with.

    python scripts/make_conformance_vectors.py          # rewrite the kit
    python scripts/make_conformance_vectors.py --check  # exit 1 if the kit differs from what it would write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossforce.client.conformance import json_line
from crossforce.client.conformance_ref import answer
from crossforce.encoding import SPEC_VERSION
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.encoding.placeholders import DOE_FORENAMES, PLACEHOLDER_FORENAME_WORDS, PLACEHOLDER_NAMES
from crossforce.encoding.recordrules import PLACEHOLDER_DATES
from crossforce.encoding.text import _MISSING  # the spec's missing values: every one gets a vector
from crossforce.encoding.unicodetable import UNICODE_VERSION
from crossforce.index.params import choose_params

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "vectors" / "conformance"
MADE = "2026-11-30"
"""The day this kit was cut: the ``today`` of every vector that is not about the date itself."""
KIT_VERSION = 2
SECRET_HEX = bytes(range(32)).hex()
"""Test secret only (00 01 .. 1f, as tests/vectors/encoding.json). Never a real network secret."""
EPOCH = 7
FLOAT_TOLERANCE = 1e-9
FOLD_RANGE_STEP = 0x1000
DATA_FILES = {
    "core/crossforce/data/nicknames.tsv": "the nickname table (docs/spec.md, Nickname table)",
    f"core/crossforce/encoding/data/unicode-{UNICODE_VERSION}.txt": (
        "the per-code-point Unicode table every text rule reads (docs/spec.md, Unicode table)"
    ),
    "core/crossforce/encoding/data/v2/forename-classes.tsv": "forename classes (docs/spec.md, Name classes)",
    "core/crossforce/encoding/data/v2/surname-classes.tsv": "surname classes (docs/spec.md, Name classes)",
    "core/crossforce/scoring/params-v2.json": "the matcher's scoring parameters (docs/spec.md, Scoring)",
}
FILES = {  # vector file -> the operations it holds, in order
    "text.jsonl": ("fold", "fold_range"),
    "names.jsonl": ("given_names", "surname", "previous_name", "nickname", "soundex"),
    "dates.jsonl": ("date", "date_strict"),
    "identifiers.jsonl": ("identifier", "postcode"),
    "records.jsonl": ("record",),
    "classes.jsonl": ("name_classes",),
    "keys.jsonl": ("keys", "canonical", "key_types", "cost"),
    "tokens.jsonl": ("tokens", "subkey"),
    "index.jsonl": (
        "positions",
        "index_build",
        "index_contains",
        "fpr",
        "fill",
        "partitioned_build",
        "partitioned_contains",
    ),
    "scoring.jsonl": ("score",),
    "limits.jsonl": ("limits",),
}


@dataclass(frozen=True)
class Case:
    op: str
    rule: str
    note: str
    input: dict[str, Any]
    tolerance: float | None = None


CASES: list[Case] = []


def case(op: str, rule: str, note: str, tolerance: float | None = None, **given: Any) -> None:
    CASES.append(Case(op, rule, note, dict(given), tolerance))


# --- text -------------------------------------------------------------------------------------------

FOLD = {
    "fold": [
        ("Zoë Łukasz-O’Brien", "the spec's example"),
        ("ẞTRASSE", "capital sharp s: full case folding, not lower-casing"),
        ("  Ærø  Smith--Jones ", "special letters, hyphens and outer spaces"),
        ("Ŀlull Paul·la", "Catalan middle dot is an apostrophe (deleted)"),
        ("İstanbul", "dotted capital I folds to i plus a combining dot (deleted)"),
        ("ℌenry", "a compatibility letter becomes foldable only after NFKD: steps 4-5"),
        ("ŉ", "casefold gives U+02BC (modifier letter, Lm): deleted after step 1 ran"),
        ("ΣΑΣ σας", "final sigma: casefold is context-free"),
        ("ǅ ǈ ǋ", "title-case digraphs"),
        ("ﬃ ﬅ", "ligatures decompose"),
        ("Ⅻ ① ½ ² ¼", "number forms: compatibility decompositions, fraction slash is a space"),
        ("K ſ", "Kelvin sign and long s"),
        ("ꭰꭱ ᎠᎡ", "Cherokee folds to upper case (full case folding; toLowerCase gets it wrong)"),
        ("Ⴀ", "Georgian capital folds to the small letter"),
        ("ß æ ø ł đ þ ı œ ð ŧ ħ ŀ ĸ ŋ", "every special letter of step 3"),
        ("SS ÆØŁĐÞ ŒÐŦĦĿ Ŋ", "the special letters in upper case"),
        ("O'Brien O’Brien O‘Brien Oʼ Oʻ O`B O´B O′B O＇B OʹB O·B", "every apostrophe of step 1"),
        ("Nguyễn Thị Minh Khai", "stacked Vietnamese diacritics"),
        ("Иван Петров", "Cyrillic passes through folded, not transliterated"),
        ("D'Souza", "fold alone deletes the apostrophe (the surname rule spaces it first)"),
        ("a_b a-b a.b a/b a+b", "underscore and punctuation are spaces"),
        ("１２３ＡＢＣ", "full-width forms"),
        ("", "empty"),
    ],
    "combining-marks": [
        ("Zoe\u0308", "decomposed diaeresis: same as the precomposed letter"),
        ("e\u0301\u0301\u0301x", "stacked marks"),
        ("\u0301abc", "a mark with no base"),
        ("Z\u0351\u0344\u0322a\u0334l\u0337g\u0336o\u0335", "zalgo text"),
        ("α\u0345 ᾳ", "ypogegrammeni: the one mark that folds to a letter (ι)"),
        ("한국", "Hangul syllables decompose to jamo (letters, kept)"),
        ("नमस्ते", "Devanagari: virama and vowel signs are marks (deleted)"),
        ("ab\u0cf3cd", "U+0CF3 is unassigned in Unicode 14 (a space); a mark from Unicode 15 on"),
        ("a\u20dd b\u0488", "enclosing marks (Me)"),
    ],
    "zero-width": [
        ("Jo\u200dhn", "zero-width joiner (Cf): deleted"),
        ("Jo\u200chn", "zero-width non-joiner (Cf): deleted"),
        ("Smi\u00adth", "soft hyphen (Cf): deleted, not a hyphen"),
        ("Jo\u200bhn", "zero-width space is Cf, not White_Space: deleted"),
        ("Jo\u2060hn \ufeffJo", "word joiner and byte order mark (Cf)"),
        ("Jo\u180ehn", "Mongolian vowel separator (Cf since Unicode 6.3)"),
        ("Jo\u200ehn \u202enhoJ", "bidirectional controls (Cf)"),
        ("Jo\u034fhn Jo\ufe0fhn", "combining grapheme joiner and a variation selector (Mn)"),
        ("Jo\U000e0041hn", "a tag character (Cf)"),
        ("Jo\u3164hn Jo\u115fhn", "Hangul fillers are letters (Lo): kept, decomposed"),
        ("Jo\u2800hn", "braille blank is a symbol: a space"),
    ],
    "mixed-scripts": [
        ("Smіth", "Cyrillic і inside a Latin name: not folded to i"),
        ("Ѕmith ΟΒrien", "Cyrillic DZE and Greek capitals that look Latin"),
        ("Ivan Иван", "two scripts, two words"),
        ("محمد Khan", "Arabic and Latin"),
        ("王 Wang 山田", "Han and Latin"),
        ("Jo😀hn", "an emoji is a symbol: a space"),
        ("𠀀𠀁 﨎", "an astral ideograph (two UTF-16 units) and a compatibility ideograph"),
        ("Ա Ⴁ ᏸ", "Armenian, Georgian, Cherokee small letter"),
    ],
    "long-names": [
        ("a" * 10_000, "10,000 code points"),
        ("Anne-Marie " * 1_000, "11,000 code points of words"),
        ("e\u0301" * 5_000, "10,000 code points, every other a mark"),
        ("𠀀" * 10_000, "10,000 astral code points (20,000 UTF-16 units)"),
    ],
}
WHITESPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680]
WHITESPACE += [*range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
NOT_WHITESPACE = [0x180E, 0x200B, 0x2060, 0xFEFF]


def text_cases() -> None:
    for rule, examples in FOLD.items():
        for text, note in examples:
            case("fold", rule, note, text=text)
    for first in range(0, 0x110000, FOLD_RANGE_STEP):
        last = first + FOLD_RANGE_STEP - 1
        note = f"every code point U+{first:04X}..U+{last:04X}, one folded line each (runner.md)"
        case("fold_range", "unicode-table", note, first=first, last=last)


# --- names ------------------------------------------------------------------------------------------

GIVEN = {
    "given-names": [
        ("William Henry", "two forenames"),
        ("Anne-Marie", "hyphenated: the pieces, then the joined form"),
        ("Mary-Jane-Ann", "three pieces joined"),
        ("Anne-M", "a one-letter piece: no joined form"),
        ("Jean–Luc Jean‐Luc Jean−Luc Jean﹣Luc Jean－Luc", "every hyphen the spec names"),
        ("Jean/Luc", "a slash is no hyphen: pieces without the joined form"),
        ("Mr Dr John", "titles removed while more than one word remains"),
        ("Mr", "a lone title stays"),
        ("John Jr III", "generational suffixes removed"),
        ("John John Paul john", "repeats removed, first kept"),
        ("J. P.", "initials"),
        ("J.P. Smith", "initials without a space"),
        ("UNKNOWN", "a missing value: no forenames"),
        ("N K", "folded 'n k' is a missing value"),
        ("Siobhán Ní Bhriain", "accents"),
        ("𠀀 Anne", "an astral letter is one code point: an initial, not a forename"),
        ("𠀀𠀁 Anne", "two astral code points: a full forename"),
        ("a" * 10_000, "a 10,000-code-point forename"),
        ("Jo " * 3_333, "3,333 repeats of one forename"),
    ],
    "punctuation-only-piece": [
        ("Anne - Marie", "a lone hyphen adds nothing"),
        ("John . Paul", "a lone full stop adds nothing"),
        ("-- Jane", "leading punctuation-only piece"),
        ("John ' Paul", "an apostrophe-only piece"),
        ("Mary & Jo", "an ampersand"),
        ("Jean -Luc", "a hyphen at a piece's edge: one word, no joined form"),
        ("( John )", "brackets"),
        ("- - -", "nothing but punctuation"),
    ],
}
SURNAMES = [
    ("Smith-Jones", "two parts"),
    ("de la Cruz García", "particles: compact, parts and cores"),
    ("de la Cruz García López Pérez", "at most four variants"),
    ("Al-Hassan", "a particle hyphenated"),
    ("St. John", "saint abbreviated"),
    ("Saint John", "saint"),
    ("Sainte-Marie", "sainte"),
    ("Ste Marie", "ste"),
    ("D'Souza", "an initial apostrophe becomes a space"),
    ("N'Diaye", "an initial apostrophe after a non-particle"),
    ("dell'Orto", "an apostrophe after two letters is deleted"),
    ("O’Brien", "o is an attached prefix"),
    ("Ó Súilleabháin", "o with an accent"),
    ("Mac Donald", "mac becomes mc"),
    ("MacDonald", "mac at the start of a word"),
    ("Mackenzie", "any word starting mac"),
    ("FitzGerald", "fitz joined"),
    ("Fitz Gerald", "fitz as a word"),
    ("van der Berg", "droppable particles"),
    ("Le", "only a particle"),
    ("García y López", "a conjunction between words"),
    ("Silva e Santos", "Portuguese conjunction"),
    ("Puig i Ferrer", "Catalan conjunction"),
    ("y López", "a conjunction first stays"),
    ("Smith Jr", "a generational suffix"),
    ("Jr", "a lone suffix stays"),
    ("bin Abdullah", "bin"),
    ("ap Rhys", "ap"),
    ("Q", "one letter: every variant shorter than 2, so missing"),
    ("𠀀", "one astral code point: missing"),
    ("𠀀𠀁", "two astral code points: a surname"),
    ("Smіth", "Cyrillic і: letters outside a-z"),
    ("ж" * 10_000, "a 10,000-code-point surname"),
    ("x'", "an apostrophe at the end"),
    ("'t Hooft", "an apostrophe first"),
]
PREVIOUS = [
    ("Smith, John", "Bill", "surname, given names"),
    ("Smith,", "Bill", "a blank given part borrows the record's given names"),
    ("Smith,   ", "Bill", "a blank given part with spaces"),
    ("Mary van der Berg", "Bill", "particles go with the surname"),
    ("van der Berg", "Bill", "no given names: borrowed"),
    ("Mary Smith-Jones", "Bill", "a hyphenated surname is one token"),
    ("Mary O Brien", "Bill", "an attached prefix goes with the surname"),
    ("Mary Mac Donald", "Bill", "mac goes with the surname"),
    ("Ann Saint John", "Bill", "saint goes with the surname"),
    ("Mary D'Souza", "Bill", "an apostrophe prefix"),
    ("Jean-Luc de la Cruz", "Bill", "hyphenated given names"),
    ("Mary Le", "Bill", "a particle as the whole surname"),
    ("Williams", "Margaret", "a maiden name alone borrows the current forenames"),
    ("   ", "Bill", "blank: skipped"),
    ("UNKNOWN", "Bill", "a missing value"),
    ("Smith, UNKNOWN", "Bill", "given names that are a missing value"),
]


def nickname_table() -> list[tuple[str, str]]:
    text = (ROOT / "core/crossforce/data/nicknames.tsv").read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if line and not line.startswith("#")]
    return [(variant, canonical) for variant, canonical in (line.split("\t") for line in lines)]


SOUNDEX = ["robert", "rupert", "ashcraft", "ashcroft", "pfister", "tymczak", "lee", "mcdonald", "1234"]
SOUNDEX += ["o", "", "honeyman", "lloyd", "jackson", "washington", "gutierrez", "müller", "smіth", "bbbbb"]
SOUNDEX += ["hhh", "ahwa", "schmidt", "a" * 10_000]


def name_cases() -> None:
    for rule, examples in GIVEN.items():
        for text, note in examples:
            case("given_names", rule, note, text=text)
    for cp in WHITESPACE:
        note = f"U+{cp:04X} is whitespace: it splits forenames (JavaScript's \\s differs)"
        case("given_names", "whitespace", note, text=f"Anne{chr(cp)}Marie")
    for cp in NOT_WHITESPACE:
        note = f"U+{cp:04X} is not whitespace (Cf): deleted, so the forename is one word"
        case("given_names", "whitespace", note, text=f"Anne{chr(cp)}Marie")
    for text, note in SURNAMES:
        case("surname", "long-names" if len(text) > 1000 else "surname", note, text=text)
    for value in sorted(_MISSING):
        case("surname", "missing-values", "a missing value of the spec's list", text=value.upper())
    for text, note in [("N/A", "n a"), ("Not  Known", "spaces"), ("N.K.", "dots")]:
        case("surname", "missing-values", f"a missing value typed another way ({note})", text=text)
    for text, given, note in PREVIOUS:
        case("previous_name", "previous-names", note, text=text, given_names=given)
    for variant, canonical in nickname_table():
        case("nickname", "nickname-table", f"table line {variant} -> {canonical}", name=variant)
    for name, note in [("zebedee", "not in the table"), ("william", "a canonical form"), ("", "empty")]:
        case("nickname", "nickname-table", note, name=name)
    for text in SOUNDEX:
        case("soundex", "soundex", "American Soundex of the a-z letters", text=text)


# --- dates ------------------------------------------------------------------------------------------

# fmt: off
DATES = {
    "date-formats": [
        "1980-03-05", "1980/3/5", "1980.03.05", "1980-3-5", "05/03/1980", "5-3-1980", "5.3.1980", "19800305",
        "05031980", "12121980", "19801305", "1st March 1980", "March 1st, 1980", "Mar 1 1980", "1 mar 1980",
        "1-Mar-1980", "1 Sept 1980", "1 Sep. 1980", "5 MARCH 1980", "5 März 1980", "03/1980", "1980-03",
        "1980", "", "   ", "00/03/1980", "1980-00-00", "1980-02-30", "1980-13-05", "05/13/1980",
        "31/04/1980", "1980-02-29", "1981-02-29", "2000-02-29", "1900-02-29", "1899-12-31", "0001-01-01",
        "1900-01-01", "99-03-05", "+1980-03-05", "13/13/1980", "2100-01-01",
    ],
    "date-markers": [
        "1980-03-05T10:30", "1980-03-05t10:30", "1980-03-05T10:30:00Z", "1980-03-05T10:30:00z",
        "1980-03-05 10:30:00Z", "05/03/1980T10:30", "19800305T103000", "1980-03-05T10:30Z",
        "1980-03-05T1:30", "1980-03-05T10", "1980-03-05Z", "1980-03-05 T10:30", "1980-03-05Ｔ10:30",
        "1980-03-05T10:30Ｚ", "1980-03-05T10:30:00ｚ",
    ],
    "date-fraction-zone": [
        "1980-03-05T10:30:00.5", "1980-03-05T10:30:00.123456789", "1980-03-05T10:30:00.1234567890",
        "1980-03-05T10:30:00.", "1980-03-05T10:30+01:00", "1980-03-05T10:30+0100", "1980-03-05T10:30-05:00",
        "1980-03-05T10:30+01", "1980-03-05T10:30+1:00", "1980-03-05T10:30Z+01:00",
        "1980-03-05T10:30:00.5+01:00", "1980-03-05T10:30.5", "1980-03-05T10:30:00,5", "1980-03-05T25:99",
        "1980-03-05T10:30 +01:00", "1980-03-05T10:30:00 UTC", "1980-03-05T10:30:00-0500",
    ],
    "date-unicode-digits": [
        "１９８０-０３-０５", "１９８０－０３－０５", "١٩٨٠-٠٣-٠٥", "१९८०-०३-०५", "𝟏𝟗𝟖𝟎-𝟎𝟑-𝟎𝟓", "198０-03-05",
        "\U0001ccf1\U0001ccf9\U0001ccf8\U0001ccf0-03-05", "¹⁹⁸⁰-⁰³-⁰⁵", "①⑨⑧⓪-03-05", "1980‐03‐05",
        "1980‑03‑05", "１９８０年３月５日", "5 ＭＡＲ 1980", "5\u00a0Mar\u00a01980", "\u30001980-03-05\u3000",
        "1980-03-05\u200b", "1980-03-05\u0085",
    ],
}
# fmt: on
TODAY_CASES = [
    ("2026-11-30", "2026-11-29", "a date after today: year kept, date not valid"),
    ("2026-11-30", "2026-11-30", "today itself is valid"),
    ("2027-01-01", MADE, "a year after today's: no year part"),
    ("2000-02-29", "2000-02-28", "the day before a leap day"),
    ("1980-03-05", "1980-03-05", "born today"),
    ("05/13/2026", "2026-05-12", "swapped day and month both after today"),
]


DATE_NOTES = {
    "date-formats": "the parts as written, each kept when plausible",
    "date-markers": "T and Z match in either case (after folding); a time needs H:MM",
    "date-fraction-zone": "a fraction needs seconds; a zone is Z or +-HH[:]MM right after the time",
    "date-unicode-digits": "per code point NFKC: digits that become ASCII count, other digits do not",
}


def date_cases() -> None:
    for rule, texts in DATES.items():
        for text in texts:
            case("date", rule, DATE_NOTES[rule], text=text, today=MADE)
    for text, today, note in TODAY_CASES:
        case("date", "date-today", note, text=text, today=today)
    strict = [*DATES["date-formats"][:20], *DATES["date-markers"][:6], *DATES["date-unicode-digits"][:6]]
    for text in [*strict, "1980-02-30", "1980-13-05", "1899-12-31", "2100-01-01", ""]:
        case(
            "date_strict",
            "date-formats",
            "strict use: a valid date, blank, or invalid_date",
            text=text,
            today=MADE,
        )


# --- identifiers and postcodes ----------------------------------------------------------------------


def _pnc(year: int, serial: int, *, pad: bool = True) -> str:
    check = "ZABCDEFGHJKLMNPQRTUVWXY"[int(f"{year % 100:02d}{serial:07d}") % 23]
    return f"{year}/{serial:07d}{check}" if pad else f"{year % 100:02d}/{serial}{check}"


def _spaced(pnc: str) -> str:
    return f"{pnc[2:4]} / {pnc[5:-1]} {pnc[-1]}"


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and c != "/" else c for c in text)


P = _pnc(2001, 123456)
"""A well-formed PNC ID: 2001/0123456 and its check letter."""

# fmt: off
IDENTIFIERS: dict[str, list[tuple[str, str, str]]] = {
    "pnc_id": [
        (P, "identifiers", "YYYY/NNNNNNNC with a correct check letter"),
        (_pnc(2001, 123456, pad=False), "identifiers", "YY/ and the serial without leading zeros"),
        (P.replace("/", ""), "identifiers", "12 characters without a slash: YYYY + rest"),
        (P[2:].replace("/", ""), "identifiers", "10 characters without a slash: YY + rest"),
        (_pnc(1985, 4567).lower(), "identifiers", "lower case"),
        (_spaced(P), "identifiers", "spaces anywhere"),
        (_full_width(P), "identifiers", "full-width letters and digits (NFKC)"),
        ("2001/0000000Z", "identifier-placeholders", "an all-zero serial"),
        ("00/0000000Z", "identifier-placeholders", "no digit 1-9, yet not a missing value"),
        (P[:-1] + "Z", "identifiers", "a wrong check letter"),
        ("unknown", "identifier-placeholders", "a missing value"),
        ("N/K", "identifier-placeholders", "a missing value with a slash"),
        ("0", "identifier-placeholders", "zero is a missing value"),
        ("2001/12345678A", "identifiers", "an eight-digit serial"),
        ("2001/123456", "identifiers", "no check letter"),
    ],
    "ni_number": [
        ("JK 12 34 57 D", "identifiers", "spaces and the suffix (dropped)"),
        ("jk123457d", "identifiers", "lower case"),
        ("JK123457", "identifiers", "no suffix"),
        ("DA123457", "identifier-placeholders", "first letter D is never issued"),
        ("AO123457", "identifier-placeholders", "second letter O is never issued"),
        ("GB123457", "identifier-placeholders", "prefix GB is never issued"),
        ("NT123457", "identifier-placeholders", "prefix NT is never issued"),
        ("AB111111", "identifier-placeholders", "six equal digits"),
        ("AB123456", "identifier-placeholders", "digits 123456"),
        ("AB123457E", "identifiers", "suffix E is not A-D"),
        ("ＡＢ１２３４５７", "identifiers", "full-width (folded)"),
        ("AB 12 34 57 Ｃ", "identifiers", "a full-width suffix"),
        ("N/K", "identifier-placeholders", "a missing value"),
        ("NK", "identifier-placeholders", "a missing value without a slash"),
        ("XX", "identifier-placeholders", "a filler"),
        ("AB12345", "identifiers", "five digits"),
    ],
    "passport_number": [
        ("502135326", "identifiers", "nine digits"),
        ("p 5021-35326", "identifiers", "lower case and punctuation dropped"),
        ("000000000", "identifier-placeholders", "all one character"),
        ("123456789", "identifier-placeholders", "a run of 01234567890"),
        ("1234567890", "identifier-placeholders", "a run of 01234567890 wrapping to 0"),
        ("0123456789", "identifier-placeholders", "a run of 01234567890"),
        ("987654321", "identifier-placeholders", "a run of 98765432109"),
        ("890123", "identifier-placeholders", "not a run: the run does not wrap past its end"),
        ("0987654321", "identifier-placeholders", "not a run of 98765432109"),
        ("AAAAAA", "identifier-placeholders", "all one character"),
        ("11111A", "identifier-placeholders", "five equal digits"),
        ("1111A2", "identifier-placeholders", "five digits, not all equal"),
        ("12345", "identifiers", "too short"),
        ("A1234567890", "identifiers", "too long"),
    ],
    "driving_licence": [
        ("MORGA753116SM9IJ 35", "identifiers", "GB licence with an issue number (dropped)"),
        ("MORGA753116SM9IJ", "identifiers", "GB licence"),
        ("morga753116sm9ij", "identifiers", "lower case"),
        ("MORGA 753116 SM9IJ", "identifiers", "spaces"),
        ("MORGA753116SM9IJ3", "identifiers", "a one-digit issue number"),
        ("19283746", "identifiers", "Northern Ireland: eight digits"),
        ("12345678", "identifier-placeholders", "eight digits in a run"),
        ("55555555", "identifier-placeholders", "eight equal digits"),
        ("9999", "identifiers", "four digits"),
    ],
}
POSTCODES = [
    ("LS1 4AB", "a full UK postcode: the district is the outward code"), ("ls14ab", "lower case, no space"),
    ("SW1A 1AA", "outward code with a letter"), ("B331AA", "B33"), ("EC1A 1BB", "EC1A"), ("W1A 0AX", "W1A"),
    ("M1 1AE", "M1"), ("GIR 0AA", "not the UK pattern: the whole postcode"), ("K1A 0B1", "Canadian"),
    ("2323", "Australian: the whole postcode"), ("90210", "a ZIP code"), ("123456", "a run of digits"),
    ("LS1", "a bare outward code"), ("AB", "too short"), ("12345678901", "too long"),
    ("N/A", "NA: too short"), ("UNKNOWN", "a missing value"), ("NONE", "a missing value"),
    ("00000", "a placeholder"), ("AAAAA", "a placeholder"), ("LS1\u00a04AB", "a no-break space"),
    ("ＬＳ１ ４ＡＢ", "full-width"), ("LS1\u200d4AB", "a zero-width joiner"),
]
# fmt: on


def identifier_cases() -> None:
    for kind, values in IDENTIFIERS.items():
        for text, rule, note in values:
            case("identifier", rule, note, kind=kind, text=text)
    for text, note in POSTCODES:
        case("postcode", "postcode", note, text=text)


# --- record rules: placeholders ---------------------------------------------------------------------

BASE = {"record_id": "r1", "given_names": "John", "surname": "Smith", "date_of_birth": "1980-03-05"}


def _typed_forms(value: str) -> list[str]:
    forms = [value, value.upper()]
    if " " in value:
        forms.append(value.replace(" ", "  ").title())
    if value.isalpha() and len(value) <= 3:
        forms.append(".".join(value.upper()) + ".")
    return list(dict.fromkeys(forms))


def _placeholder_forms() -> list[tuple[str, str, str]]:
    """Spec v2's placeholder names in every form: each describing word alone and in pairs, typed three
    ways; every placeholder surname; Doe with and without John or Jane; and near misses that are names."""
    words = sorted(PLACEHOLDER_FORENAME_WORDS)
    forms = [(w.upper(), "Smith", "a describing word alone is a placeholder forename") for w in words]
    forms += [(f"{a.title()} {b.title()}", "Smith", "describing words only: a placeholder forename")
              for a, b in zip(words, [*words[1:], words[0]], strict=True)]  # fmt: skip
    forms += [
        ("Female  Child", "Smith", "extra spaces"),
        ("baby-boy", "Smith", "a hyphen folds to a space"),
        ("BABY\u00a0GIRL", "Smith", "a no-break space"),
        ("Unnamed Male Infant", "Smith", "three describing words"),
        ("Baby Jane", "Smith", "one real word keeps the field a name"),
        ("Babyface", "Smith", "a word containing a describing word is a name"),
        ("Mr Male", "Smith", "a title before a describing word"),
        ("ＦＥＭＡＬＥ ＣＨＩＬＤ", "Smith", "full-width letters fold to the placeholder"),
        ("Unkno\u200bwn", "Smith", "a zero-width space is deleted by folding: a placeholder"),
        ("Unknоwn", "Smith", "a Cyrillic о: not the placeholder, a name"),
        ("Bab\u0301y", "Smith", "a combining accent is deleted: a placeholder"),
        ("baby " * 2_000, "Smith", "10,000 code points of one describing word"),
    ]
    surnames = ["X", "j", "J.", "?", "-", "Ø", "𠀀", "Unk", "UNKNOWN", "Of The House", "not known", "NK"]
    surnames.append("N.K.")
    forms += [("John", surname, "a placeholder surname") for surname in surnames]
    for first in sorted(DOE_FORENAMES):
        forms.append((first.title(), "Doe", "Doe beside John or Jane is a placeholder surname"))
        forms.append((f"{first.upper()} Paul", "DOE", "Doe beside John or Jane first"))
    forms += [
        ("Mary", "Doe", "Doe beside another forename is a family name"),
        ("Paul John", "Doe", "John second: Doe is a family name"),
        ("", "Doe", "Doe with no forename"),
        ("John", "Doe-Smith", "a double-barrelled Doe is a name"),
        ("John", "Ab", "two letters are a surname"),
    ]
    return forms


PLACEHOLDER_V2 = _placeholder_forms()


def record_cases() -> None:
    for value in sorted(PLACEHOLDER_NAMES):
        for form in _typed_forms(value):
            note = "a placeholder name: the field is emptied and reported"
            case("record", "placeholder-names", note, record={**BASE, "given_names": form}, today=MADE)
        case(
            "record",
            "placeholder-names",
            "a placeholder surname",
            record={**BASE, "surname": value},
            today=MADE,
        )
        case(
            "record",
            "placeholder-names",
            "a placeholder previous name: dropped",
            record={**BASE, "previous_names": [value, "Mary Jones"]},
            today=MADE,
        )
    for given, surname, note in PLACEHOLDER_V2:
        record = {**BASE, "given_names": given, "surname": surname}
        case("record", "placeholder-names", note, record=record, today=MADE)
    for value in sorted(PLACEHOLDER_DATES):
        case(
            "record",
            "placeholder-dates",
            "a placeholder date of birth: emptied",
            record={**BASE, "date_of_birth": value},
            today=MADE,
        )
    others: list[tuple[dict[str, Any], str]] = [
        ({"date_of_birth": " 1900-01-01 "}, "a placeholder date with outer spaces"),
        ({"date_of_birth": "1900-1-1"}, "a placeholder written another way is no date: refused"),
        ({"date_of_birth": "1900-01-02"}, "the day after a placeholder date is a date"),
        ({"surname": "J"}, "a one-letter surname is a placeholder"),
        ({"surname": "-"}, "a surname with no letter is a placeholder"),
        ({"given_names": "N K"}, "two initials are a name, not 'nk'"),
        ({"given_names": "Baby Jane"}, "a placeholder inside a name is a name"),
        ({"given_names": "J"}, "a one-letter forename is an initial"),
        ({"given_names": "a" * 201}, "a field over 200 characters is refused"),
        ({"surname": "ж" * 10_000}, "a 10,000-code-point surname is refused"),
        ({"given_names": "Jo\u0007hn"}, "a control character is refused"),
        ({"previous_names": [f"Name{i} Smith" for i in range(21)]}, "more than 20 previous names"),
        ({"date_of_birth": "2026-12-01"}, "a date after today is refused"),
        ({"date_of_birth": "05/03/1980"}, "a record file writes YYYY-MM-DD only"),
        ({"given_names": "", "surname": "Smith"}, "no forename and no identifier"),
        ({"given_names": "", "ni_number": "AB123457"}, "an identifier instead of a forename"),
        ({"ni_number": "AB123456"}, "a placeholder NI number is refused"),
        ({"sex": "Female"}, "sex as a word"),
        ({"postcode": "LS1 4AB!"}, "a postcode with punctuation"),
    ]
    for change, note in others:
        rule = "long-names" if "10,000" in note else "record-rules"
        case("record", rule, note, record={**BASE, **change}, today=MADE)


# --- keys and tokens --------------------------------------------------------------------------------


def _rec(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"record_id": record_id, **fields}


WORST_CASE = _rec(
    "worst",
    given_names="Bill Peggy Jack",
    surname="Smith-Jones-Brown",
    date_of_birth="1980-03-05",
    postcode="SW1A 1AA",
    pnc_id=_pnc(2001, 123456),
    ni_number="JK123457D",
    passport_number="502135326",
    driving_licence="MORGA753116SM9IJ",
    previous_names=[
        "Bill Peggy Jack Abbott-Baker-Clark",
        "Bill Peggy Jack Dunn-Evans-Ford",
        "Bill Peggy Jack Green-Hughes-Irwin",
        "Bill Peggy Jack King-Lewis-Moore",
        "Bill Peggy Jack Nash-Owen-Price",
    ],
)
"""Three forenames whose as-written and canonical Soundex codes all differ (Bill/William, Peggy/Margaret,
Jack/John), surnames of four variants with four different codes, four previous names (a fifth ignored),
a full date, a postcode and every identifier: each key type's count is its 'max'."""

V2_KEYS = [
    ("middle-name", "the second forename keys name_dob and name_nodate too",
     _rec("v01", given_names="John Paul", surname="Smith", date_of_birth="1980-03-05")),
    ("no-date", "no date of birth: name_nodate, and name_district with a postcode",
     _rec("v02", given_names="John Paul", surname="Smith-Jones", postcode="LS1 4AB")),
    ("year-only", "a year alone: name_year and no full-date key",
     _rec("v03", given_names="Ann", surname="Lee", date_of_birth="1980")),
    ("placeholder-names", "a placeholder forename: surname_dob and surname_dob_area remain",
     _rec("v04", given_names="Female Child", surname="Smith", date_of_birth="1980-03-05",
          postcode="LS1 4AB")),
    ("placeholder-names", "a placeholder surname: forename_dob and forename_dob_area remain",
     _rec("v05", given_names="John", surname="Unk", date_of_birth="1980-03-05", postcode="LS1 4AB")),
    ("placeholder-names", "John Doe: the surname is a placeholder",
     _rec("v06", given_names="John", surname="Doe", date_of_birth="1980-03-05")),
    ("placeholder-names", "Mary Doe: Doe is a name",
     _rec("v07", given_names="Mary", surname="Doe", date_of_birth="1980-03-05")),
    ("placeholder-names", "a one-letter surname is a placeholder",
     _rec("v08", given_names="John", surname="J", date_of_birth="1980-03-05")),
    ("placeholder-names", "placeholder previous names add nothing",
     _rec("v09", given_names="Mary", surname="Jones", date_of_birth="1980-03-05",
          previous_names=["Unknown", "Baby Girl Smith", "Mary X", "Mary Evans"])),
    ("placeholder-names", "every name field a placeholder: identifiers only",
     _rec("v10", given_names="Unknown Male", surname="Of The House", date_of_birth="1980-03-05",
          ni_number="JK123457D")),
    ("previous-names", "name_year and surname_dob key previous names too",
     _rec("v11", given_names="Mary", surname="Jones", date_of_birth="1980-03-05", previous_names=["Smith"])),
]  # fmt: skip

KEYS = [
    (
        "previous-surname-area-key",
        "surname_dob_area keys a previous surname too (its Soundex, date, district)",
        _rec(
            "k01",
            given_names="Mary",
            surname="Jones",
            date_of_birth="1980-03-05",
            postcode="LS1 4AB",
            previous_names=["Mary Smith"],
        ),
    ),
    (
        "previous-name-repeat",
        "the record alone: compare with the next vector",
        _rec("k02", given_names="William", surname="Smith", date_of_birth="1980-03-05", postcode="LS1 4AB"),
    ),
    (
        "previous-name-repeat",
        "previous names equal to the current name after normalisation add nothing: same keys as k02",
        _rec(
            "k03",
            given_names="William",
            surname="Smith",
            date_of_birth="1980-03-05",
            postcode="LS1 4AB",
            previous_names=["William Smith", "Smith", "Smith, William", "SMITH", "Smith,", "WILLIAM  SMITH"],
        ),
    ),
    (
        "previous-name-repeat",
        "a nickname is not normalisation: 'Bill Smith' adds its as-written Soundex and initial to k02's keys",
        _rec(
            "k03b",
            given_names="William",
            surname="Smith",
            date_of_birth="1980-03-05",
            postcode="LS1 4AB",
            previous_names=["Bill Smith"],
        ),
    ),
    (
        "previous-name-repeat",
        "a previous name repeated",
        _rec(
            "k04",
            given_names="Mary",
            surname="Jones",
            date_of_birth="1980-03-05",
            previous_names=["Mary Evans", "Mary Evans", "EVANS"],
        ),
    ),
    (
        "previous-names",
        "only the first 4 previous names are used",
        _rec(
            "k05",
            given_names="Ann",
            surname="Lee",
            date_of_birth="1970-01-02",
            previous_names=[f"Ann Name{chr(97 + i)}" for i in range(6)],
        ),
    ),
    (
        "punctuation-only-piece",
        "a punctuation-only forename piece adds nothing",
        _rec("k06", given_names="- Paul", surname="Smith", date_of_birth="1980-03-05", postcode="LS1 4AB"),
    ),
    (
        "date-markers",
        "a date with a time and Z keys like the date",
        _rec("k07", given_names="Ann", surname="Lee", date_of_birth="1980-03-05T10:30:00Z"),
    ),
    (
        "date-unicode-digits",
        "full-width digits are digits after NFKC",
        _rec("k08", given_names="Ann", surname="Lee", date_of_birth="１９８０-０３-０５"),
    ),
    (
        "date-unicode-digits",
        "Arabic-Indic digits are not: no date keys, postcode keys only",
        _rec("k09", given_names="Ann", surname="Lee", date_of_birth="١٩٨٠-٠٣-٠٥", postcode="B1 1AA"),
    ),
    (
        "combining-marks",
        "decomposed accents and a soft hyphen",
        _rec("k10", given_names="Zoe\u0308", surname="Smi\u00adth", date_of_birth="1980-03-05"),
    ),
    (
        "zero-width",
        "zero-width joiner inside the forename",
        _rec("k11", given_names="Jo\u200dhn", surname="Smith", date_of_birth="1980-03-05"),
    ),
    (
        "mixed-scripts",
        "a Cyrillic і inside a Latin surname: its own fragments, Soundex of the a-z letters",
        _rec("k12", given_names="John", surname="Smіth", date_of_birth="1980-03-05", postcode="LS1 4AB"),
    ),
    (
        "code-points",
        "pairs are in code-point order: U+FA0E before U+20000 (UTF-16 order is the reverse)",
        _rec("k13", given_names="𠀀𠀁", surname="﨎﨎", date_of_birth="1980-03-05", postcode="LS1 4AB"),
    ),
    (
        "code-points",
        "pre and suf are three code points, not UTF-16 units",
        _rec("k14", given_names="𠀀𠀁𠀂𠀃", surname="Smith", date_of_birth="1980-03-05"),
    ),
    (
        "long-names",
        "a 10,000-code-point surname",
        _rec("k15", given_names="Anne", surname="Ab" * 5_000, date_of_birth="1980-03-05"),
    ),
    (
        "long-names",
        "a field over 65,535 UTF-8 bytes cannot be encoded: the record is refused",
        _rec("k16", given_names="Anne", surname="ж" * 33_000, date_of_birth="1980-03-05"),
    ),
    (
        "placeholder-names",
        "keys take the record as given: the record rules drop 'Female Child' first",
        _rec("k17", given_names="Female Child", surname="Smith", date_of_birth="1980-03-05"),
    ),
    (
        "missing-values",
        "a surname that is a missing value: only forename_dob_area",
        _rec("k18", given_names="John", surname="Unknown", date_of_birth="1980-03-05", postcode="LS1 4AB"),
    ),
    (
        "worst-case",
        "the worst-case record: every key type at its 'max' (docs/spec.md, Match keys), no more",
        WORST_CASE,
    ),
    (
        "worst-case",
        "nicknamed forenames, four surname variants, eight previous names (four used), swapped date",
        _rec(
            "k19",
            given_names="Bill Bob Peggy",
            surname="de la Cruz García-López",
            date_of_birth="1980-13-05",
            postcode="SW1A 1AA",
            pnc_id=_pnc(2001, 123456),
            ni_number="JK123457D",
            previous_names=[f"Jim Name{chr(97 + i)}-Other" for i in range(8)],
        ),
    ),
    (
        "date-fraction-zone",
        "a zone offset and a fraction",
        _rec("k20", given_names="Ann", surname="Lee", date_of_birth="1980-03-05T10:30:00.25+01:00"),
    ),
]
TODAY_KEYS = [
    ("2026-11-30", "born today: every date key"),
    ("2026-11-29", "born after today: no full or day-month date key; partial-date and postcode keys stay"),
]


def key_cases() -> None:
    golden = json.loads((ROOT / "tests/vectors/encoding.json").read_text(encoding="utf-8"))["records"]
    for entry in golden:
        case("keys", "golden-records", entry["description"], record=entry["record"], today=MADE)
    for rule, note, record in [*KEYS, *V2_KEYS]:
        case("keys", rule, note, record=record, today=MADE)
    for given, surname, note in PLACEHOLDER_V2:
        record = {**BASE, "given_names": given, "surname": surname, "postcode": "LS1 4AB"}
        case("keys", "placeholder-names", note, record=record, today=MADE)
    for today, note in TODAY_KEYS:
        record = _rec("k30", given_names="Ann", surname="Lee", date_of_birth="2026-11-30", postcode="LS1 4AB")
        case("keys", "date-today", note, record=record, today=today)
    canonical = [
        (16, ["william", "smith", "1980-03-05"], "the spec's example"),
        (1, ["01/123456A"], "an identifier key"),
        (99, ["x"], "an unassigned type code still encodes"),
        (0, ["x"], "type 0"),
        (255, ["é", "𠀀"], "type 255, two- and four-byte UTF-8"),
        (16, ["a"] * 255, "255 fields, the most a key has room for"),
        (16, ["a"] * 256, "256 fields: invalid_key"),
        (16, [], "no field: invalid_key"),
        (16, ["a", ""], "an empty field: invalid_key"),
        (16, ["a" * 65_535], "a field of 65,535 bytes"),
        (16, ["a" * 65_536], "a field of 65,536 bytes: invalid_key"),
        (256, ["a"], "type 256: invalid_key"),
    ]
    for key_type, fields, note in canonical:
        case("canonical", "canonical-encoding", note, type=key_type, fields=fields)
    costs = [[], [16], [17], [20], [27], [1, 2, 3, 4], [16, 17, 20, 27, 26], sorted(KEY_TYPES)]
    costs.append([c for c in sorted(KEY_TYPES) for _ in range(KEY_TYPES[c].max_per_record)])
    for types in costs:
        case("cost", "quota-span", "quota units: the sum of each token's span", types=types)
    for types in [[21], [22], [5], [31], [0], [255], [16, 99]]:
        note = "an unassigned code (21 and 22 withdrawn) has no span: unknown_key_type"
        case("cost", "unknown-key-code", note, types=types)
    case("key_types", "key-types", "the key type table: code, name, agrees, span, max")


def token_cases() -> None:
    golden = json.loads((ROOT / "tests/vectors/encoding.json").read_text(encoding="utf-8"))["records"]
    for entry in golden:
        case(
            "tokens",
            "tokens",
            entry["description"],
            record=entry["record"],
            today=MADE,
            secret_hex=SECRET_HEX,
            epoch=EPOCH,
        )
    record = golden[0]["record"]
    for secret, epoch, note in [
        (SECRET_HEX, 0, "epoch 0"),
        (SECRET_HEX, 0xFFFFFFFF, "the largest epoch: four bytes big-endian"),
        (bytes(range(64)).hex(), EPOCH, "a 64-byte secret"),
    ]:
        case("tokens", "tokens", note, record=record, today=MADE, secret_hex=secret, epoch=epoch)
    case(
        "tokens",
        "code-points",
        "tokens of astral names",
        record=next(r for _, _, r in KEYS if r["record_id"] == "k13"),
        today=MADE,
        secret_hex=SECRET_HEX,
        epoch=EPOCH,
    )
    for code in sorted(KEY_TYPES):
        case("subkey", "subkeys", "HKDF-SHA256 subkey", secret_hex=SECRET_HEX, type=code, epoch=EPOCH)
    for epoch in (0, 0xFFFFFFFF):
        case("subkey", "subkeys", f"epoch {epoch}", secret_hex=SECRET_HEX, type=16, epoch=epoch)
    for code in (0, 5, 21, 22, 31, 99, 255):
        case(
            "subkey",
            "unknown-key-code",
            "an unassigned code has no subkey",
            secret_hex=SECRET_HEX,
            type=code,
            epoch=EPOCH,
        )
    case("subkey", "subkeys", "a 31-byte secret is refused", secret_hex=bytes(31).hex(), type=16, epoch=EPOCH)
    for epoch in (-1, 2**32):
        case("subkey", "subkeys", "an epoch outside 32 bits", secret_hex=SECRET_HEX, type=16, epoch=epoch)


# --- index ------------------------------------------------------------------------------------------


def _token(label: str, i: int) -> str:
    return hashlib.sha256(f"{label}-{i}".encode()).hexdigest()


def index_cases() -> None:
    """The geometries, filters and parameters of tests/vectors/index.json, with each filter's tokens
    listed in the vector itself (issue 18: which tokens went into each test filter)."""
    spec = json.loads((ROOT / "tests/vectors/index.json").read_text(encoding="utf-8"))
    tokens = [_token("token", i) for i in range(300)]
    for geometry in spec["geometry"]:
        for entry in geometry["tokens"]:
            case(
                "positions",
                "index-positions",
                "fastrange block and 9-bit probes (64-bit arithmetic)",
                token=entry["token"],
                num_blocks=geometry["num_blocks"],
                num_probes=geometry["num_probes"],
            )
    for entry in spec["filters"]:
        params = {"num_blocks": entry["num_blocks"], "num_probes": entry["num_probes"]}
        inserted = tokens[: entry["token_count"]]
        note = f"filter '{entry['name']}': SHA-256 of its bytes and its set bits"
        case("index_build", "filter-contents", note, tokens=inserted, **params)
        if entry["size_bytes"] <= 1 << 20:
            note = f"filter '{entry['name']}': absent tokens (some false positives), then inserted ones"
            case(
                "index_contains",
                "filter-contents",
                note,
                inserted=inserted,
                queries=spec["absent"] + inserted[:8],
                **params,
            )
    for entry in spec["params"]:
        case(
            "fpr",
            "fpr",
            "the theoretical false-positive rate",
            FLOAT_TOLERANCE,
            num_blocks=entry["num_blocks"],
            num_probes=entry["num_probes"],
            token_count=entry["token_count"],
        )
    for blocks, probes, count, note in [
        (1, 1, 65_536, "saturated: 1"),
        (4_294_967_295, 21, 1, "the most blocks"),
    ]:
        case("fpr", "fpr", note, FLOAT_TOLERANCE, num_blocks=blocks, num_probes=probes, token_count=count)
    for entry in spec["fill"]:
        case(
            "fill",
            "fill",
            "expected fill and its standard deviation bound",
            FLOAT_TOLERANCE,
            num_blocks=entry["num_blocks"],
            num_probes=entry["num_probes"],
            token_count=entry["token_count"],
        )
    case("limits", "limits", "the matcher's limits a client must respect (crossforce.limits defaults)")


def partition_cases() -> None:
    """Index format 2: partitions per key type, their layout and digest, and the relabel attack (a token
    tested under another type's label must not match). Each vector gives the partition geometry itself:
    choose_params is advisory, so the kit does not depend on it."""
    spec = json.loads((ROOT / "tests/vectors/index.json").read_text(encoding="utf-8"))
    golden_tokens = [_token("token", i) for i in range(300)]
    for entry in spec["partitioned"]:
        pairs = [
            {"type": key_type, "token": token}
            for key_type, first, last in entry["pairs"]
            for token in golden_tokens[first:last]
        ]
        geometry = [
            {"key_type": p["key_type"], "num_blocks": p["num_blocks"], "num_probes": p["num_probes"]}
            for p in entry["partitions"]
        ]
        note = f"index.json '{entry['name']}': partitions, digest and size"
        case("partitioned_build", "partitions", note, entries=pairs, partitions=geometry)
        queries = [{"type": q["key_type"], "token": q["token"]} for q in entry["queries"]]
        note = f"index.json '{entry['name']}': each query tested in its own type's partition only"
        case(
            "partitioned_contains",
            "relabel-attack",
            note,
            inserted=pairs,
            partitions=geometry,
            queries=queries,
        )
    tokens = [_token("token", i) for i in range(64)]
    small = [{"type": 16, "token": t} for t in tokens[:5]] + [{"type": 17, "token": t} for t in tokens[5:8]]
    small += [{"type": 1, "token": tokens[8]}]
    geometry = [{"key_type": 1, "num_blocks": 1, "num_probes": 3}, {"key_type": 16, "num_blocks": 2,
                "num_probes": 7}, {"key_type": 17, "num_blocks": 1, "num_probes": 5}]  # fmt: skip
    note = "three partitions, ascending type: layout, digest of the concatenated bits"
    case("partitioned_build", "partitions", note, entries=small, partitions=geometry)
    repeated = [*small, *small[:3], {"type": 17, "token": tokens[0]}]
    note = "a repeated pair counts once; one token under two types is in both partitions"
    case("partitioned_build", "partitions", note, entries=repeated, partitions=geometry)
    wide = [{"type": t, "token": _token(f"type-{t}", i)} for t in (1, 16, 20, 26, 30) for i in range(12 * t)]
    chosen = []
    for key_type in (1, 16, 20, 26, 30):
        params = choose_params(12 * key_type, 1e-8)
        chosen.append(
            {"key_type": key_type, "num_blocks": params.num_blocks, "num_probes": params.num_probes}
        )
    note = "partitions sized by choose_params at 1e-8 (advisory; the vector fixes the geometry)"
    case("partitioned_build", "partitions", note, entries=wide, partitions=chosen)
    for bad, why in [
        (list(reversed(geometry)), "partitions out of order: invalid_partitions"),
        (geometry[:2], "a type with tokens and no partition: invalid_partitions"),
        ([*geometry, {"key_type": 20, "num_blocks": 1, "num_probes": 1}], "a partition without tokens"),
        ([{**geometry[0], "num_probes": 22}, *geometry[1:]], "probes out of range: invalid_params"),
    ]:
        case("partitioned_build", "partitions", why, entries=small, partitions=bad)
    queries = [{"type": e["type"], "token": e["token"]} for e in small]
    queries += [{"type": 17 if e["type"] == 16 else 16, "token": e["token"]} for e in small]
    queries += [{"type": 20, "token": tokens[0]}, {"type": 1, "token": tokens[40]}]
    note = "inserted pairs match; relabelled tokens and types without a partition do not (relabel attack)"
    case("partitioned_contains", "relabel-attack", note, inserted=small, partitions=geometry, queries=queries)
    sparse = [{"key_type": 1, "num_blocks": 64, "num_probes": 12}, {"key_type": 16, "num_blocks": 64,
              "num_probes": 12}, {"key_type": 17, "num_blocks": 64, "num_probes": 12}]  # fmt: skip
    note = "a sparse index: every relabelled token is absent"
    case("partitioned_contains", "relabel-attack", note, inserted=small, partitions=sparse, queries=queries)


SCORES = [
    ([16], 0, 0, "exact name and date, the commonest names"),
    ([16], 5, 5, "exact name and date, rare names"),
    ([16, 26, 28, 29], 0, 0, "nested keys of one agreement count once"),
    ([26], 0, 0, "exact name, no date, common names"),
    ([26], 5, 5, "exact name, no date, rare names"),
    ([26, 30], 3, 3, "exact name and district"),
    ([20], 2, 2, "exact name, one date part wrong"),
    ([27], 2, 2, "exact name, year only"),
    ([17], 1, 1, "phonetic name, unordered date"),
    ([18], 0, 4, "initial and surname with the date"),
    ([19], 4, 4, "fragments with the date"),
    ([24], 0, 0, "surname, date, district"),
    ([25, 23], 1, 1, "forename, date, district and postcode"),
    ([1], 0, 0, "an identifier alone"),
    ([2, 16], 0, 0, "an identifier and the name and date"),
    ([], 0, 0, "nothing agreed: 0"),
    ([99], 0, 0, "an unassigned code is ignored"),
]


def score_cases() -> None:
    """The matcher's probability (docs/spec.md, Scoring) for typical agreements, name classes and force
    sizes; doubles within the tolerance."""
    for types, fc, sc, note in SCORES:
        for force, total, fpr in [(500_000, 20_000_000, 1e-8), (20_000, 20_000_000, 0.0)]:
            case("score", "scoring", note, FLOAT_TOLERANCE, types=types, forename_class=fc, surname_class=sc,
                 force_records=force, total_records=total, fpr=fpr)  # fmt: skip
    bad_inputs: list[tuple[dict[str, Any], str]] = [
        ({"forename_class": 6}, "class 6: invalid_score_input"),
        ({"surname_class": -1}, "class -1: invalid_score_input"),
        ({"force_records": 10, "total_records": 5}, "more force records than in total"),
        ({"fpr": 1.5}, "an fpr above 1"),
    ]
    for agreed, sent, note in [
        ([26], [16, 26, 28, 29], "the name agreed, the date offered and not: dob counts against (none)"),
        ([26], [26], "the name agreed, no date offered: nothing against"),
        ([16], [16, 26, 30, 1], "an identifier and a district offered, neither agreed"),
        ([], [16], "nothing agreed: 0 whatever was offered"),
    ]:
        given = {"types": agreed, "sent_types": sent, "forename_class": 2, "surname_class": 2,
                 "force_records": 500_000, "total_records": 20_000_000, "fpr": 1e-8}  # fmt: skip
        case("score", "scoring", note, FLOAT_TOLERANCE, **given)
    for bad, note in bad_inputs:
        given = {"types": [16], "forename_class": 0, "surname_class": 0, "force_records": 100,
                 "total_records": 1000, "fpr": 0.0, **bad}  # fmt: skip
        case("score", "scoring", note, FLOAT_TOLERANCE, **given)
    case("score", "scoring", "an empty force: 0", FLOAT_TOLERANCE, types=[16], forename_class=0,
         surname_class=0, force_records=0, total_records=1000, fpr=0.0)  # fmt: skip


CLASSES = [
    ("John", "Smith", "the commonest names: class 0"),
    ("Bill", "Jones", "a nickname takes its canonical form's class (william)"),
    ("Zebedee", "Featherstonehaugh", "names in no table: class 5"),
    ("", "", "missing names: class 0, the conservative class"),
    ("Female Child", "Unk", "placeholder names are missing: class 0"),
    ("J. Paul", "van der Berg", "F1 is the first full forename; the surname is the compact form"),
    ("JOHN", "SMITH", "case folds"),
    ("Zoë", "Núñez", "accents fold"),
    ("Mohammed", "Khan", "a transliteration in the nickname table"),
    ("Anne-Marie", "Smith-Jones", "hyphenated names"),
    ("Иван", "Петров", "another script: not in the tables"),
    ("Jo\u200dhn", "Smi\u00adth", "zero-width characters are deleted first"),
    ("David", "Patel", "listed names"),
    ("Margaret", "O'Brien", "an apostrophe"),
    ("ＪＯＨＮ", "ＳＭＩＴＨ", "full-width letters fold"),
    ("John", "Smіth", "a Cyrillic і: another name, unlisted"),
    ("John", "Doe", "John Doe: a placeholder surname, class 0"),
    ("Mary", "Doe", "Mary Doe: Doe is looked up"),
    ("Mr John", "Smith", "a title is not the first forename"),
    ("J", "S", "an initial and a one-letter surname: both missing"),
    ("a" * 10_000, "b" * 10_000, "10,000-code-point names: unlisted"),
]


def class_cases() -> None:
    golden = json.loads((ROOT / "tests/vectors/encoding.json").read_text(encoding="utf-8"))
    for entry in golden["fold_text"]:
        case("fold", "fold", "encoding.json fold_text", text=entry["input"])
    for entry in golden["soundex"]:
        case("soundex", "soundex", "encoding.json soundex", text=entry["input"])
    for entry in golden["canonical_encoding"]:
        note = "encoding.json canonical_encoding"
        case("canonical", "canonical-encoding", note, type=entry["key_type"], fields=entry["fields"])
    for entry in golden["name_classes"]:
        record = {**BASE, "given_names": entry["given_names"], "surname": entry["surname"]}
        case("name_classes", "name-classes", "encoding.json name_classes", record=record)
    for entry in golden["placeholders"]:
        note = "encoding.json placeholders: a placeholder forename field gives no forenames"
        case("given_names", "placeholder-names", note, text=entry["given_names"])
        record = {**BASE, "given_names": entry["given_names"], "surname": entry["surname"]}
        note = "encoding.json placeholders: keys of the name (none of the name keys when it is missing)"
        case("keys", "placeholder-names", note, record=record, today=MADE)
    for given, surname, note in CLASSES:
        record = {**BASE, "given_names": given, "surname": surname}
        case("name_classes", "name-classes", note, record=record)
    for _, note, record in V2_KEYS[:3]:
        case("name_classes", "name-classes", note, record=record)
    case("name_classes", "worst-case", "the worst-case record", record=WORST_CASE)


# --- writing ----------------------------------------------------------------------------------------


def _rounded(value: Any) -> Any:
    """Floats to 12 significant digits, for vectors judged within a tolerance: the reference may sum the
    same terms in another order from one run to the next (a set's order), which moves the last bits,
    and the kit must still be rewritten byte for byte."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def render() -> dict[str, str]:
    """Every file of the kit (name -> text), computed from the reference implementation."""
    CASES.clear()
    for build in (
        text_cases,
        name_cases,
        date_cases,
        identifier_cases,
        record_cases,
        class_cases,
        key_cases,
        token_cases,
        index_cases,
        partition_cases,
        score_cases,
    ):
        build()
    numbers: Counter[str] = Counter()
    lines: dict[str, list[str]] = {name: [] for name in FILES}
    where = {op: name for name, ops in FILES.items() for op in ops}
    ordered = sorted(CASES, key=lambda c: list(where).index(c.op))
    for c in ordered:
        numbers[c.op] += 1
        vid = f"{c.op}-{numbers[c.op]:04d}"
        reply = answer({"id": vid, "op": c.op, "input": c.input})
        expected = {"error": reply["error"]} if "error" in reply else {"output": reply["output"]}
        if c.tolerance is not None:
            expected = _rounded(expected)
        vector: dict[str, Any] = {
            "id": vid,
            "op": c.op,
            "rule": c.rule,
            "note": c.note,
            "input": c.input,
            "expected": expected,
        }
        if c.tolerance is not None:
            vector["tolerance"] = c.tolerance
        lines[where[c.op]].append(json_line(vector))
    out: dict[str, str] = {}
    manifest_files = []
    for name, body in lines.items():
        ops = Counter(json.loads(line)["op"] for line in body)
        header = {
            "kit": "crossforce-conformance",
            "kit_version": KIT_VERSION,
            "spec_version": SPEC_VERSION,
            "made": MADE,
            "file": name,
            "vectors": len(body),
        }
        out[name] = json_line(header) + "".join(body)
        manifest_files.append(
            {
                "file": name,
                "sha256": hashlib.sha256(out[name].encode()).hexdigest(),
                "vectors": len(body),
                "ops": dict(ops),
            }
        )
    manifest = {
        "kit": "crossforce-conformance",
        "kit_version": KIT_VERSION,
        "spec_version": SPEC_VERSION,
        "unicode_version": UNICODE_VERSION,
        "made": MADE,
        "generator": "scripts/make_conformance_vectors.py",
        "contract": "runner.md",
        "data_files": [
            {"path": path, "sha256": hashlib.sha256((ROOT / path).read_bytes()).hexdigest(), "what": what}
            for path, what in DATA_FILES.items()
        ],
        "vector_files": manifest_files,
    }
    out["manifest.json"] = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the kit is not what would be written")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    files = render()
    if args.check:
        stale = [
            n
            for n, text in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text(encoding="utf-8") != text
        ]
        if stale:
            print(
                f"out of date: {', '.join(stale)}: run python scripts/make_conformance_vectors.py",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {args.out} ({len(CASES)} vectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
