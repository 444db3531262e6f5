"""The name errors a sighting can carry: typos, misreadings, sound-alikes, nicknames, other spellings.

Each takes a record and a ``random.Random`` and returns a changed record, or None when it does not
apply to this record (no accent to drop, no nickname known). Every result still passes
``crossforce.encoding.recordrules.validate_record``: a name error never empties a required field.
The catalogue that weights them is ``corruptions.CORRUPTIONS``.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from crossforce.encoding.records import Record
from crossforce.testkit import _names
from crossforce.testkit.population import fold_accents

CorruptFn = Callable[[Record, random.Random], Record | None]


def with_fields(record: Record, changes: Mapping[str, Any]) -> Record:
    """``dataclasses.replace`` for field names chosen at run time (mypy cannot check those)."""
    return dataclasses.replace(record, **changes)


_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ADJACENT: dict[str, str] = {}
for _r, _row in enumerate(_QWERTY_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_QWERTY_ROWS):
                near += [_QWERTY_ROWS[_other][j] for j in (_c - 1, _c) if 0 <= j < len(_QWERTY_ROWS[_other])]
        _ADJACENT[_ch] = "".join(near)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template.islower():
        return word.lower()
    return word


def _name_field(record: Record, rng: random.Random) -> str | None:
    fields = [f for f in ("surname", "given_names") if sum(ch.isalpha() for ch in getattr(record, f)) >= 2]
    return rng.choice(fields) if fields else None


def keyboard_typo(record: Record, rng: random.Random) -> Record | None:
    """A slip on a QWERTY keyboard: neighbouring key, dropped, doubled or swapped letter."""
    name = _name_field(record, rng)
    if name is None:
        return None
    value: str = getattr(record, name)
    letters = [i for i, ch in enumerate(value) if ch.isalpha()]
    for _ in range(10):
        i = rng.choice(letters)
        op = rng.choices(("adjacent", "drop", "double", "swap"), weights=(5, 2, 2, 2))[0]
        ch = value[i]
        if op == "adjacent" and ch.lower() in _ADJACENT:
            new_ch = rng.choice(_ADJACENT[ch.lower()])
            new = value[:i] + (new_ch.upper() if ch.isupper() else new_ch) + value[i + 1 :]
        elif op == "drop" and len(letters) > 2:
            new = value[:i] + value[i + 1 :]
        elif op == "double":
            new = value[:i] + ch.lower() + value[i:] if i else value[:1] + ch.lower() + value[1:]
        elif op == "swap" and i + 1 < len(value) and value[i + 1].isalpha():
            first, second = value[i + 1], value[i]
            if i == 0 and first.islower():  # keep the capital at the front
                first, second = first.upper(), second.lower()
            new = value[:i] + first + second + value[i + 2 :]
        else:
            continue
        if new != value:
            return with_fields(record, {name: new})
    return None


_OCR_PAIRS = (
    ("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("vv", "w"), ("w", "vv"), ("li", "h"),
    ("h", "li"), ("l", "I"), ("I", "l"), ("e", "c"), ("c", "e"), ("u", "v"), ("n", "ri"), ("O", "Q"),
    ("a", "o"), ("B", "R"), ("E", "F"),
)  # fmt: skip


def ocr_confusion(record: Record, rng: random.Random) -> Record | None:
    """A scanned form misread: rn/m, cl/d, l/I, e/c and similar shapes."""
    options = [
        (name, old, new)
        for name in ("surname", "given_names")
        for old, new in _OCR_PAIRS
        if old in getattr(record, name)
    ]
    if not options:
        return None
    name, old, new = rng.choice(options)
    value: str = getattr(record, name)
    starts = [m.start() for m in re.finditer(re.escape(old), value)]
    at = rng.choice(starts)
    return with_fields(record, {name: value[:at] + new + value[at + len(old) :]})


def _family_lookup(families: tuple[tuple[str, ...], ...]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for family in families:
        for member in family:
            out.setdefault(member.lower(), tuple(m for m in family if m.lower() != member.lower()))
    return out


_PHONETIC = _family_lookup(_names.PHONETIC_FAMILIES)
_TRANSLIT = _family_lookup(_names.TRANSLITERATIONS)
_PHONETIC_RULES: tuple[tuple[str, str], ...] = (
    (r"ph", "f"),
    (r"(?<=[aeiou])f(?=[aeiou])", "ph"),
    (r"ck", "k"),
    (r"(?<=[aeiou])k", "ck"),
    (r"ie$", "y"),
    (r"(?<=[^aeiou])y$", "ie"),
    (r"ey$", "y"),
    (r"([bdfglmnprst])\1", r"\1"),
    (r"(?<=[aeiou])([bdglmnprt])(?=[aeiouy])", r"\1\1"),
    (r"ai", "ay"),
    (r"ou", "ow"),
    (r"ee", "ea"),
    (r"ea", "ee"),
    (r"son$", "sen"),
    (r"c(?=[aou])", "k"),
    (r"(?<=.)th", "t"),
    (r"z", "s"),
    (r"ei", "ie"),
)
"""Spelling changes that keep the sound: what a clerk writes from a name heard over the phone."""


def _replace_word(record: Record, name: str, index: int, word: str) -> Record:
    value: str = getattr(record, name)
    words = value.split(" ")
    words[index] = _match_case(words[index], word)
    return with_fields(record, {name: " ".join(words)})


def _family_swap(record: Record, rng: random.Random, lookup: Mapping[str, tuple[str, ...]]) -> Record | None:
    options = []
    for name in ("given_names", "surname"):
        for index, word in enumerate(getattr(record, name).split(" ")):
            if word.lower() in lookup:
                options.append((name, index, word))
    if not options:
        return None
    name, index, word = rng.choice(options)
    return _replace_word(record, name, index, rng.choice(lookup[word.lower()]))


def phonetic_misspelling(record: Record, rng: random.Random) -> Record | None:
    """A name written as it sounds: Thomson/Thompson, Stephen/Steven, or a sound-alike spelling."""
    swapped = _family_swap(record, rng, _PHONETIC)
    if swapped is not None and rng.random() < 0.7:
        return swapped
    name = _name_field(record, rng)
    if name is None:
        return swapped
    value: str = getattr(record, name)
    words = value.split(" ")
    index = rng.randrange(len(words))
    word = words[index]
    options = [(p, r) for p, r in _PHONETIC_RULES if re.search(p, word[1:].lower())]
    if not options:
        return swapped
    pattern, repl = rng.choice(options)
    # Rules apply after the first letter so the initial (and its capital) stays as heard.
    new = word[0] + re.sub(pattern, repl, word[1:].lower(), count=1)
    new = _match_case(word, new) if word.isupper() else new
    if new == word or sum(ch.isalpha() for ch in new) < 2:
        return swapped
    return _replace_word(record, name, index, new)


_NICK_TO_FORMAL: dict[str, list[str]] = {}
for _formal, _nicks in _names.NICKNAMES.items():
    for _nick in _nicks:
        _NICK_TO_FORMAL.setdefault(_nick.lower(), []).append(_formal)


def nickname(record: Record, rng: random.Random) -> Record | None:
    """The familiar form of a forename, or the formal one: Bill/William, Peggy/Margaret, Sasha/Alexander."""
    words = record.given_names.split(" ")
    first = words[0]
    formal = {k.lower(): v for k, v in _names.NICKNAMES.items()}
    if first.lower() in formal:
        choice = rng.choice(formal[first.lower()])
    elif first.lower() in _NICK_TO_FORMAL:
        choice = rng.choice(_NICK_TO_FORMAL[first.lower()])
    else:
        return None
    choice = _match_case(first, choice)
    # People who go by a nickname seldom give their middle names with it.
    rest = words[1:] if rng.random() < 0.5 else []
    return dataclasses.replace(record, given_names=" ".join([choice, *rest]))


_ACCENTED_LOWER = {k.lower(): v for k, v in _names.ACCENTED.items()}


def accents_changed(record: Record, rng: random.Random) -> Record | None:
    """Accents dropped (Zoë -> Zoe, Łukasz -> Lukasz) or added (Jose -> José)."""
    options = []
    for name in ("given_names", "surname"):
        value: str = getattr(record, name)
        if not value.isascii():
            options.append(with_fields(record, {name: fold_accents(value)}))
        for index, word in enumerate(value.split(" ")):
            if word.lower() in _ACCENTED_LOWER:
                options.append(_replace_word(record, name, index, _ACCENTED_LOWER[word.lower()]))
    options = [o for o in options if o != record]
    return rng.choice(options) if options else None


def transliteration(record: Record, rng: random.Random) -> Record | None:
    """Another romanisation of the same name: Mohammed/Muhammad, Aleksandr/Alexander, Zhang/Cheung."""
    return _family_swap(record, rng, _TRANSLIT)


def case_whitespace_noise(record: Record, rng: random.Random) -> Record | None:
    """Capitals and spacing as another system stores them: SMITH, smith, "Mary  Ann"."""
    options = []
    for name in ("given_names", "surname"):
        value: str = getattr(record, name)
        if not value:
            continue
        for new in (value.upper(), value.lower(), value.title(), value.replace(" ", "  ", 1)):
            if new != value:
                options.append((name, new))
    if not options:
        return None
    if rng.random() < 0.4:  # whole-record upper case, as a legacy system exports it
        shouted = dataclasses.replace(
            record, given_names=record.given_names.upper(), surname=record.surname.upper()
        )
        if shouted != record:
            return shouted
    name, new = rng.choice(options)
    return with_fields(record, {name: new})
