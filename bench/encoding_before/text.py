"""Text folding and missing values: the first normalisation steps (docs/spec.md, "Normalisation", T1-T8).

Every other rule (names, dates, identifiers) works on what ``fold_text`` returns, so a difference here is a
difference everywhere: the rules change only with ``SPEC_VERSION``. Steps T1-T6 act on one code point at
a time, so they are one lookup each in the spec's Unicode table (``unicodetable``), never the running
interpreter's Unicode database: every Python and every language folds alike. Pure and cached.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from crossforce.encoding.unicodetable import FOLD, is_word, whitespace

# --- Text folding (spec: Normalisation, step T1-T8) ------------------------------------------------

APOSTROPHES: Final = "'\u2019\u2018\u02bc\u02bb`\u00b4\u2032\uff07\u02b9\u00b7"
"""Removed before anything else, so O'Brien, O’Brien and OBrien fold alike (U+00B4 would otherwise
decompose to a space) and the Catalan middle dot (l·l) joins its word. (The table folds them to nothing;
the name rules use the list.)"""
_ANY_APOSTROPHE: Final = re.compile("[" + re.escape(APOSTROPHES) + "]")


@lru_cache(maxsize=1 << 16)
def fold_text(s: str) -> str:
    """Fold ``s`` to lower-case letters and digits separated by single spaces.

    Idempotent: fold_text(fold_text(s)) == fold_text(s). Hyphens and all other punctuation become
    spaces so "Smith-Jones" and "Smith Jones" agree; the name rules below decide whether to re-join.
    The table's output holds only letters, digits and U+0020, so splitting on U+0020 alone collapses.
    """
    return " ".join([w for w in s.translate(FOLD).split(" ") if w])


@lru_cache(maxsize=1)
def _to_space() -> dict[int, str]:
    return dict.fromkeys(map(ord, whitespace()), " ")


def split_whitespace(s: str) -> list[str]:
    """``s.split()`` with the spec's whitespace (White_Space and U+001C..U+001F), not the runtime's."""
    return [w for w in s.translate(_to_space()).split(" ") if w]


def strip_whitespace(s: str) -> str:
    """``s.strip()`` with the spec's whitespace."""
    return s.strip(whitespace())


def space_initial_apostrophes(raw: str) -> str:
    r"""Surname step 1: an apostrophe after a word character that follows no word character becomes a
    space (D'Souza -> D Souza), "word" being L*, N* or "_" in the spec's table.

    Same as ``re.sub(r"(?<!\w)(\w)[apostrophes]", r"\1 ", raw)`` on Python 3.11: a replacement at ``i``
    rules one out at ``i + 1`` (that needs ``raw[i - 1]`` not to be a word character), so the regex's
    non-overlapping matches are exactly these positions."""
    if not _ANY_APOSTROPHE.search(raw):
        return raw
    out = list(raw)
    for i in range(1, len(raw)):
        if raw[i] in APOSTROPHES and is_word(raw[i - 1]) and (i == 1 or not is_word(raw[i - 2])):
            out[i] = " "
    return "".join(out)


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
