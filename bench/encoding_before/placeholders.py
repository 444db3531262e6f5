"""Placeholder names: values a clerk typed to fill a box, which spec v2 treats as missing (docs/spec.md,
"Normalisation", "Placeholder names").

One rule for every door: the key derivation (``normalise``) ignores these values, and the record rules
(``recordrules``) empty them with a warning before a record is stored or checked, so a force's file, a
typed check and a simulator all agree on what is a name. The rules act on ``placeholder_form``: the
spec's folding (``fold_text``, its own Unicode table) with dots dropped and slashes kept, so "N/K", "n/k"
and "N.K." are placeholders while "N K" and "N. K." stay two initials.

Why a rule at all: two records whose surname is "Unknown", or two babies recorded as "Female Child", are
not the same person, yet as names they would make equal keys on every date of birth they share.
"""

from __future__ import annotations

from typing import Final

from bench.encoding_before.text import fold_text

PLACEHOLDER_NAMES: Final = frozenset(
    {
        # spec v1's missing values (bench.encoding_before.text), folded
        "unknown",
        "unk",
        "not known",
        "nk",
        "n/k",
        "none",
        "null",
        "nil",
        "n/a",
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
        "xx",
        "xxx",
        "zz",
        "zzz",
        "0",
        # issue 13: forms seen in police nominal systems in place of a name
        "nfa",
        "n/f/a",
        "no fixed abode",
        "male",
        "female",
        "female child",
        "male child",
        "baby",
        "child",
        "infant",
        "person",
        "of the house",
    }
)
"""Whole name fields (in ``placeholder_form``) that stand for "not known", whichever name field holds them.
A lone "x" is not among them: as a forename it is an initial (Xiaoling), as a surname the one-letter rule
already drops it."""

PLACEHOLDER_FORENAME_WORDS: Final = frozenset(
    {
        "male",
        "female",
        "man",
        "woman",
        "boy",
        "girl",
        "baby",
        "child",
        "infant",
        "unknown",
        "unnamed",
        "unk",
        "person",
    }
)
"""A forename field made only of these words describes a person instead of naming one ("Female Child",
"Baby Boy", "Unnamed Male"); one real word among them ("Baby Jane") keeps it a name."""

DOE_FORENAMES: Final = frozenset({"john", "jane"})
""""Doe" is a placeholder surname only beside these forenames: John Doe and Jane Doe stand for a person
not identified, while a Doe with another forename is a real family name."""


def placeholder_form(raw: str) -> str:
    """``fold_text`` of each slash-separated piece with dots removed, rejoined by "/": the form the rules
    compare. Slashes are what tell "N/A" (not applicable) from "N A" (two initials); dots are dropped so
    "N.K." is "NK"."""
    return "/".join(fold_text(piece.replace(".", "")) for piece in raw.split("/"))


def is_placeholder_forenames(raw: str) -> bool:
    """True when a forename field (or a whole previous name) is empty or stands for "not known"."""
    form = placeholder_form(raw)
    if not form.replace("/", "") or form in PLACEHOLDER_NAMES:
        return True
    return all(word in PLACEHOLDER_FORENAME_WORDS for word in form.split(" "))


def is_placeholder_surname(raw: str) -> bool:
    """True when a surname field is empty, a placeholder, or a single letter (an initial says too little
    to key on). "Doe" needs the forenames too: ``is_placeholder_doe``."""
    form = placeholder_form(raw)
    return form in PLACEHOLDER_NAMES or len(form.replace(" ", "").replace("/", "")) <= 1


def is_placeholder_doe(compact_surname: str, first_forename: str | None) -> bool:
    """True for the (compact, folded) surname "doe" when the first folded forename is John or Jane."""
    return compact_surname == "doe" and first_forename in DOE_FORENAMES
