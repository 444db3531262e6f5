"""Normalisation of nominal fields: the first half of the Encode step (docs/spec.md, "Normalisation").

This module holds the name rules and is the one import for the whole step: text folding
(``bench.encoding_before.text``), dates (``dates``) and identifiers (``identifiers``) live beside it, one
concern each, and their public names are re-exported here.

Every force and every query must turn the same person into the same bytes, whatever keyboard, code page
or clerk produced the record, so each rule here is part of the published spec and changes only with
``SPEC_VERSION``. The functions are pure and deterministic (the only outside input is today's UTC date, used
to reject births in the future) and cached, because the same names and dates recur millions of times.

Errors raised here are ``ValidationError`` naming the field only: texts never carry the raw value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from bench.encoding_before.identifiers import (
    IDENTIFIER_KINDS,
    normalise_identifier,
    normalise_postcode,
    postcode_district,
)
from bench.encoding_before.placeholders import (
    is_placeholder_doe,
    is_placeholder_forenames,
    is_placeholder_surname,
)
from bench.encoding_before.text import (
    fold_text,
    is_missing,
    space_initial_apostrophes,
    split_whitespace,
)
from crossforce.encoding.dates import MIN_BIRTH_YEAR, DateParts, NormalisedDate, parse_date, parse_date_parts

__all__ = [
    "IDENTIFIER_KINDS",
    "MIN_BIRTH_YEAR",
    "DateParts",
    "NormalisedDate",
    "NormalisedName",
    "fold_text",
    "is_missing",
    "normalise_given_names",
    "normalise_identifier",
    "normalise_name",
    "normalise_postcode",
    "normalise_previous_name",
    "normalise_surname",
    "parse_date",
    "parse_date_parts",
    "postcode_district",
]

# --- Names -------------------------------------------------------------------------------------------

_TITLES: Final = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "revd", "sir", "dame", "lord", "lady", "fr"}
)
_SUFFIXES: Final = frozenset({"jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv"})
_CONJUNCTIONS: Final = frozenset({"y", "e", "i"})
"""Spanish "García y López", Portuguese "Silva e Santos", Catalan "Puig i Ferrer": the conjunction is
dropped when it stands between two surname words."""

_ATTACHED_PREFIXES: Final = frozenset({"o", "mc", "st", "fitz"})
"""Prefixes that belong to the name (nobody called O'Brien is filed as Brien): joined to the next word
and never dropped."""

_DROPPABLE_PARTICLES: Final = frozenset(
    {
        "van",
        "von",
        "vander",
        "vanden",
        "de",
        "der",
        "den",
        "des",
        "del",
        "della",
        "delle",
        "dello",
        "dei",
        "degli",
        "da",
        "das",
        "dos",
        "do",
        "di",
        "du",
        "la",
        "le",
        "les",
        "lo",
        "ter",
        "ten",
        "te",
        "d",
        "l",
        "al",
        "el",
        "bin",
        "bint",
        "binti",
        "ibn",
        "ben",
        "ap",
        "ab",
    }
)
"""Particles that records keep or drop at random (van der Berg / Berg, De Souza / Souza, Al-Hassan /
Hassan): joined to the next word in the compact surname, and also dropped to give a core variant."""

_SAINT: Final = frozenset({"saint", "st", "ste", "sainte"})
_HYPHENS: Final = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"

MAX_SURNAME_VARIANTS: Final = 4


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """One person's name as the match keys see it.

    ``given``: folded forenames in written order, titles and generational suffixes removed; a one-letter
    entry is an initial. A hyphenated forename (Anne-Marie) gives its pieces and then the joined form.
    ``surname``: the compact surname, every part and particle joined without spaces (vanderberg, obrien,
    mcdonald, smithjones). ``surname_parts``: each part of a multi-part surname (smith, jones), or just
    the compact surname. ``surname_variants``: what surname keys are built on: the compact surname first,
    then the parts, then cores without droppable particles (berg), at most ``MAX_SURNAME_VARIANTS``.
    """

    given: tuple[str, ...]
    surname: str
    surname_parts: tuple[str, ...]
    surname_variants: tuple[str, ...]

    @property
    def first_forename(self) -> str | None:
        """The first given name, or None; may be an initial."""
        return self.given[0] if self.given else None

    @property
    def full_forenames(self) -> tuple[str, ...]:
        """Given names that are more than an initial."""
        return tuple(g for g in self.given if len(g) > 1)


def _canonical_surname_word(word: str) -> str:
    if word in _SAINT:
        return "st"
    if word.startswith("mac"):
        # MacDonald, Mac Donald, McDonald and M'Donald-style spellings file under one form.
        return "mc" + word[3:]
    return word


@lru_cache(maxsize=1 << 16)
def _surname_from_words(words: tuple[str, ...]) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    ws = list(words)
    while len(ws) > 1 and ws[-1] in _SUFFIXES:
        ws.pop()
    ws = [w for i, w in enumerate(ws) if not (w in _CONJUNCTIONS and 0 < i < len(ws) - 1)]
    ws = [_canonical_surname_word(w) for w in ws]
    if not ws:
        return None
    parts: list[list[str]] = []
    pending: list[str] = []
    for w in ws:
        pending.append(w)
        if w not in _ATTACHED_PREFIXES and w not in _DROPPABLE_PARTICLES:
            parts.append(pending)
            pending = []
    if pending:
        if parts:
            parts[-1].extend(pending)
        else:
            parts.append(pending)
    compact = "".join(ws)
    part_forms = tuple("".join(p) for p in parts)
    cores = ["".join(w for w in p if w not in _DROPPABLE_PARTICLES) for p in parts]
    variants: list[str] = [compact]
    if len(part_forms) > 1:
        variants.extend(part_forms)
    variants.extend(c for c in cores if c)
    out: list[str] = []
    for v in variants:
        if len(v) > 1 and v not in out:
            out.append(v)
    if not out:
        return None
    return compact, part_forms, tuple(out[:MAX_SURNAME_VARIANTS])


@lru_cache(maxsize=1 << 16)
def normalise_surname(raw: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """(compact, parts, variants) of a surname field, or None when it is empty, a placeholder or one
    letter (an initial says too little to key on). "Doe" is left to ``normalise_name``: it is a
    placeholder only beside John or Jane."""
    if is_placeholder_surname(raw):
        return None
    folded = fold_text(space_initial_apostrophes(raw))  # D'Souza, O'Brien: the prefix is its own word
    if not folded:
        return None
    return _surname_from_words(tuple(folded.split()))


@lru_cache(maxsize=1 << 16)
def normalise_given_names(raw: str) -> tuple[str, ...]:
    """Folded forenames in order (see ``NormalisedName.given``); () when empty or a placeholder
    ("Unknown", "Female Child", "Baby Boy": ``placeholders.is_placeholder_forenames``)."""
    if is_placeholder_forenames(raw):
        return ()
    out: list[str] = []
    for token in split_whitespace(raw):
        words = fold_text(token).split()
        out.extend(words)
        if len(words) > 1 and any(h in token for h in _HYPHENS) and all(len(w) > 1 for w in words):
            out.append("".join(words))
    while len(out) > 1 and out[0] in _TITLES:
        out.pop(0)
    while len(out) > 1 and out[-1] in _SUFFIXES:
        out.pop()
    seen: list[str] = []
    for g in out:
        if g not in seen:
            seen.append(g)
    return tuple(seen)


def normalise_name(given_names: str, surname: str) -> NormalisedName | None:
    """The normalised name, or None when the surname is missing (a forename alone keys nothing) or is
    the placeholder "Doe" beside John or Jane."""
    sur = normalise_surname(surname)
    if sur is None:
        return None
    compact, parts, variants = sur
    given = normalise_given_names(given_names)
    if is_placeholder_doe(compact, given[0] if given else None):
        return None
    return NormalisedName(
        given=given,
        surname=compact,
        surname_parts=parts,
        surname_variants=variants,
    )


@lru_cache(maxsize=1 << 14)
def normalise_previous_name(raw: str, current_given: str) -> NormalisedName | None:
    """A previous name: "Given Names Surname", "Surname, Given Names" or just a surname.

    A lone surname (maiden name) borrows the current given names. The last word group is the surname,
    with any particles before it and with hyphenated words kept together (Mary Smith-Jones).
    """
    if is_placeholder_forenames(raw):  # "Unknown", "Female Child": no previous name at all
        return None
    if "," in raw:
        sur_raw, _, given_raw = raw.partition(",")
        return normalise_name(_given_or_current(given_raw, current_given), sur_raw)
    tokens = split_whitespace(raw)
    if not tokens:
        return None
    # Walk back from the last token over any particles so "Mary van der Berg" keeps "van der Berg".
    start = len(tokens) - 1
    while start > 0 and fold_text(space_initial_apostrophes(tokens[start - 1])) in (
        _DROPPABLE_PARTICLES | _ATTACHED_PREFIXES | _SAINT | {"mac"}
    ):
        start -= 1
    given_raw = " ".join(tokens[:start])
    return normalise_name(_given_or_current(given_raw, current_given), " ".join(tokens[start:]))


def _given_or_current(given_raw: str, current_given: str) -> str:
    """A previous name's own given names, or the current ones when it has none or only a placeholder
    (a maiden name is written without forenames)."""
    return current_given if is_placeholder_forenames(given_raw) else given_raw
