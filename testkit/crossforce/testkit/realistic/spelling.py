"""Misspellings of one name word, for the realistic error model: typed, heard, scanned or romanised.

Each ``*_options`` function lists what the word could become (empty: this error cannot happen to this
word), so the error model can tell whether an error applies before drawing it; ``pick`` chooses one.
The rule tables follow the corruptors of GeCo/FEBRL (Christen & Pudjijono, PAKDD 2009; Tran, Vatsalan &
Christen, CIKM 2013): keyboard neighbours, sound-alike spellings, OCR shape confusions.

Invariants: a variant is never equal to the word and always keeps at least two letters; the first
letter of a heard name is kept (a clerk hears the initial right); no randomness except in ``pick``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from crossforce.testkit import _names

_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    out: dict[str, str] = {}
    for r, row in enumerate(_QWERTY_ROWS):
        for c, ch in enumerate(row):
            near = [row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)]
            for other in (r - 1, r + 1):
                if 0 <= other < len(_QWERTY_ROWS):
                    near += [_QWERTY_ROWS[other][j] for j in (c - 1, c) if 0 <= j < len(_QWERTY_ROWS[other])]
            out[ch] = "".join(near)
    return out


_NEIGHBOURS = _neighbours()


def _letters(word: str) -> int:
    return sum(ch.isalpha() for ch in word)


def _keep(word: str, variants: Sequence[str]) -> list[str]:
    return sorted({v for v in variants if v != word and _letters(v) >= 2 and v.lower() != word.lower()})


def can_typo(word: str) -> bool:
    """True when ``typo_options`` has something: any name of two letters (a letter can be doubled)."""
    return _letters(word) >= 2


def typo_options(word: str) -> list[str]:
    """One keyboard slip: a neighbouring key, a dropped, doubled or swapped letter."""
    out: list[str] = []
    for i, ch in enumerate(word):
        if not ch.isalpha():
            continue
        for near in _NEIGHBOURS.get(ch.lower(), ""):
            out.append(word[:i] + (near.upper() if ch.isupper() else near) + word[i + 1 :])
        out.append(word[:i] + word[i + 1 :])
        out.append(word[: i + 1] + ch.lower() + word[i + 1 :])
        if i + 1 < len(word) and word[i + 1].isalpha() and word[i + 1].lower() != ch.lower():
            first, second = word[i + 1], ch
            if i == 0:  # keep the capital at the front
                first, second = first.upper() if ch.isupper() else first, second.lower()
            out.append(word[:i] + first + second + word[i + 2 :])
    return _keep(word, out)


_SOUND_RULES: tuple[tuple[str, str], ...] = (
    (r"ph", "f"), (r"(?<=[aeiou])f(?=[aeiou])", "ph"), (r"ck", "k"), (r"(?<=[aeiou])k", "ck"),
    (r"ie$", "y"), (r"(?<=[^aeiou])y$", "ie"), (r"ey$", "y"), (r"([bdfglmnprst])\1", r"\1"),
    (r"(?<=[aeiou])([bdglmnprt])(?=[aeiouy])", r"\1\1"), (r"ai", "ay"), (r"ou", "ow"), (r"ee", "ea"),
    (r"ea", "ee"), (r"son$", "sen"), (r"c(?=[aou])", "k"), (r"(?<=.)th", "t"), (r"z", "s"), (r"ei", "ie"),
    (r"ie(?=.)", "ei"), (r"(?<=[aeiou])s(?=[aeiou])", "z"), (r"e$", ""), (r"(?<=[^aeiou])$", "e"),
    (r"oo", "u"), (r"wh", "w"), (r"(?<=.)x", "cks"), (r"y(?=[^aeiou])", "i"), (r"i(?=[^aeiou]+$)", "y"),
)  # fmt: skip
"""Spellings that sound the same, applied after the first letter (GeCo's phonetic rules, abridged)."""
_SOUND = tuple((re.compile(p), r) for p, r in _SOUND_RULES)


def _family_lookup(families: Sequence[Sequence[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for family in families:
        for member in family:
            out.setdefault(member.lower(), tuple(m for m in family if m.lower() != member.lower()))
    return out


_PHONETIC_FAMILIES = _family_lookup(_names.PHONETIC_FAMILIES)
_TRANSLIT_FAMILIES = _family_lookup(_names.TRANSLITERATIONS)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template.islower():
        return word.lower()
    return word[:1].upper() + word[1:]


def _rule_variants(word: str, rules: Sequence[tuple[re.Pattern[str], str]]) -> list[str]:
    out: list[str] = []
    tail = word[1:].lower()
    for pattern, repl in rules:
        for match in pattern.finditer(tail):
            new_tail = tail[: match.start()] + match.expand(repl) + tail[match.end() :]
            out.append(_match_case(word, word[0] + new_tail))
    return out


def _any_rule(word: str, rules: Sequence[tuple[re.Pattern[str], str]]) -> bool:
    tail = word[1:].lower()
    return _letters(word) >= 3 and any(pattern.search(tail) for pattern, _ in rules)


def can_sound(word: str) -> bool:
    """True when ``sound_options`` has something (cheaper than building the options: names of three
    letters or more, where a rule matches, always give a variant)."""
    return word.lower() in _PHONETIC_FAMILIES or _any_rule(word, _SOUND)


def can_romanise(word: str) -> bool:
    return word.lower() in _TRANSLIT_FAMILIES or _any_rule(word, _ROMANISATION)


def family_options(word: str, families: Mapping[str, tuple[str, ...]]) -> list[str]:
    return _keep(word, [_match_case(word, v) for v in families.get(word.lower(), ())])


def sound_options(word: str) -> tuple[list[str], list[str]]:
    """(known sound-alike spellings: Thomson/Thompson, rule-made ones: Filips for Philips)."""
    return family_options(word, _PHONETIC_FAMILIES), _keep(word, _rule_variants(word, _SOUND))


_ROMANISATION_RULES: tuple[tuple[str, str], ...] = (
    (r"ee", "i"), (r"(?<!e)i(?!e)", "ee"), (r"oo", "u"), (r"(?<!o)u", "oo"), (r"ou", "u"), (r"kh", "k"),
    (r"(?<!k)h(?=[aeiou])", "kh"), (r"q", "k"), (r"ph", "f"), (r"dh", "d"),
    (r"(?<=[aeiou])d(?=[aeiou])", "dh"), (r"w", "v"), (r"v", "w"), (r"y", "i"), (r"(?<=[aeiou])i", "y"),
    (r"aa", "a"), (r"(?<=[^a])a(?=[^a])", "aa"),
    (r"j", "dj"), (r"sh", "sch"), (r"ch", "tch"), (r"zh", "j"), (r"x", "hs"), (r"ng$", "n"), (r"ts", "z"),
)  # fmt: skip
"""How the same sound is written by different romanisation habits (ee/i, oo/u, kh/k, q/k, w/v, zh/j)."""
_ROMANISATION = tuple((re.compile(p), r) for p, r in _ROMANISATION_RULES)


def romanisation_options(word: str) -> tuple[list[str], list[str]]:
    """(spellings from the transliteration families: Mohammed/Muhammad, rule-made ones)."""
    return family_options(word, _TRANSLIT_FAMILIES), _keep(word, _rule_variants(word, _ROMANISATION))


_OCR_PAIRS: tuple[tuple[str, str], ...] = (
    ("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("vv", "w"), ("w", "vv"), ("li", "h"), ("h", "li"),
    ("l", "I"), ("I", "l"), ("e", "c"), ("c", "e"), ("u", "v"), ("n", "ri"), ("O", "Q"), ("a", "o"),
    ("B", "R"), ("E", "F"), ("i", "l"),
)  # fmt: skip
"""Shapes a scanner confuses (FEBRL's OCR table, Pudjijono 2008, abridged; letter-for-letter only: a
digit in a name field is refused or dropped before it could matter)."""


def can_ocr(word: str) -> bool:
    return _letters(word) >= 2 and any(old in word for old, _ in _OCR_PAIRS)


def ocr_options(word: str) -> list[str]:
    out: list[str] = []
    for old, new in _OCR_PAIRS:
        for match in re.finditer(re.escape(old), word):
            out.append(word[: match.start()] + new + word[match.end() :])
    return _keep(word, out)


def pick(options: Sequence[str], rng: random.Random) -> str:
    return options[rng.randrange(len(options))]
