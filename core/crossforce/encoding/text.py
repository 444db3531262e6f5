"""Text folding and missing values: the first normalisation steps (docs/spec.md, "Normalisation", T1-T8).

Every other rule (names, dates, identifiers) works on what ``fold_text`` returns, so a difference here is a
difference everywhere: the rules change only with ``SPEC_VERSION``. Pure and cached.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Final

# --- Text folding (spec: Normalisation, step T1-T8) ------------------------------------------------

APOSTROPHES: Final = "'\u2019\u2018\u02bc\u02bb`\u00b4\u2032\uff07\u02b9\u00b7"
"""Removed before anything else, so O'Brien, O’Brien and OBrien fold alike (U+00B4 would otherwise
decompose to a space) and the Catalan middle dot (l·l) joins its word."""
_DROP_APOSTROPHES: Final = str.maketrans("", "", APOSTROPHES)

_SPECIAL_LETTERS: Final = str.maketrans(
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

_DROP_CATEGORIES: Final = frozenset({"Mn", "Mc", "Me", "Lm", "Cf"})
"""Combining marks (accents), modifier letters (ʰ, tatweel) and format characters (soft hyphen, ZWJ)."""


@lru_cache(maxsize=1 << 16)
def fold_text(s: str) -> str:
    """Fold ``s`` to lower-case letters and digits separated by single spaces.

    Idempotent: fold_text(fold_text(s)) == fold_text(s). Hyphens and all other punctuation become
    spaces so "Smith-Jones" and "Smith Jones" agree; the name rules below decide whether to re-join.
    """
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
    return " ".join("".join(out).split())


# --- Missing values ----------------------------------------------------------------------------------

_MISSING: Final = frozenset(
    {
        "",
        "unknown",
        "unk",
        "not known",
        "nk",
        "n k",
        "none",
        "null",
        "nil",
        "n a",
        "not applicable",
        "not given",
        "not stated",
        "refused",
        "withheld",
        "fnu",
        "lnu",
        "nfn",
        "nln",
        "tba",
        "tbc",
        "x",
        "xx",
        "xxx",
        "0",
    }
)
"""Placeholders clerks type when a value is not known. Treated as empty so two "UNKNOWN" surnames never
make a key together. ("Na" is a real surname, so only the spaced "N/A" form is here.)"""


def is_missing(folded: str) -> bool:
    """True when a folded field is empty or a not-known placeholder."""
    return folded in _MISSING
