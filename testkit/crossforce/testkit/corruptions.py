"""The catalogue of errors a sighting can carry, and ``corrupt``, which applies a level's worth of them.

Each kind of error is a named function in ``CORRUPTIONS`` with a weight for how often it happens, so a
benchmark can say exactly which errors the match keys miss. Name errors are in ``name_errors``; the
date, structure and identifier errors are here.

Invariants: every result passes ``crossforce.encoding.recordrules.validate_record`` (a corruption
never leaves a record without a surname, or without both a forename and an identifier); the same
``random.Random`` state gives the same errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from crossforce.encoding.normalise import normalise_identifier
from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.errors import ValidationError
from crossforce.testkit.name_errors import (
    CorruptFn,
    accents_changed,
    case_whitespace_noise,
    keyboard_typo,
    nickname,
    ocr_confusion,
    phonetic_misspelling,
    transliteration,
    with_fields,
)
from crossforce.testkit.population import REFERENCE_DATE, SURNAME_POOLS, SURNAMES

Level = Literal["none", "light", "default", "heavy"]
LEVELS: tuple[Level, ...] = ("none", "light", "default", "heavy")


def _dob(record: Record) -> dt.date | None:
    try:
        return dt.date.fromisoformat(record.date_of_birth) if record.date_of_birth else None
    except ValueError:
        return None


def _with_dob(record: Record, day: dt.date) -> Record | None:
    if day > REFERENCE_DATE or day.year < 1900 or day.isoformat() == record.date_of_birth:
        return None
    return dataclasses.replace(record, date_of_birth=day.isoformat())


def day_month_swap(record: Record, rng: random.Random) -> Record | None:
    """US-style or misread date: 1985-03-07 recorded as 1985-07-03."""
    day = _dob(record)
    if day is None or day.day > 12 or day.day == day.month:
        return None
    return _with_dob(record, day.replace(month=day.day, day=day.month))


def dob_digit_typo(record: Record, rng: random.Random) -> Record | None:
    """One digit of the date of birth mistyped (still a real date)."""
    if _dob(record) is None:
        return None
    value = record.date_of_birth
    for _ in range(20):
        pos = rng.choice((2, 3, 5, 6, 8, 9))
        digit = rng.choice([d for d in "0123456789" if d != value[pos]])
        try:
            day = dt.date.fromisoformat(value[:pos] + digit + value[pos + 1 :])
        except ValueError:
            continue
        result = _with_dob(record, day)
        if result is not None:
            return result
    return None


def year_off(record: Record, rng: random.Random) -> Record | None:
    """Birth year one out (age arithmetic) or a decade out (a misread digit)."""
    day = _dob(record)
    if day is None:
        return None
    deltas = [1, -1, 10, -10]
    rng.shuffle(deltas)
    deltas.sort(key=lambda d: abs(d) == 10 and rng.random() < 0.7)
    for delta in deltas:
        try:
            result = _with_dob(record, day.replace(year=day.year + delta))
        except ValueError:  # 29 February
            continue
        if result is not None:
            return result
    return None


def missing_dob(record: Record, rng: random.Random) -> Record | None:
    """Date of birth not given."""
    return dataclasses.replace(record, date_of_birth="") if record.date_of_birth else None


def _has_identifier(record: Record) -> bool:
    return any(getattr(record, f) for f in IDENTIFIER_FIELDS)


def missing_forename(record: Record, rng: random.Random) -> Record | None:
    """Forenames not given (only where an identifier still makes the record usable)."""
    if not record.given_names or not _has_identifier(record):
        return None
    return dataclasses.replace(record, given_names="")


def forename_initial(record: Record, rng: random.Random) -> Record | None:
    """Only initials recorded: "J" or "J. P." for John Paul."""
    words = record.given_names.split()
    if not words or len(words[0]) < 2 or not words[0][0].isalpha():
        return None
    initials = [w[0].upper() for w in words] if rng.random() < 0.4 else [words[0][0].upper()]
    dotted = rng.random() < 0.3
    return dataclasses.replace(record, given_names=" ".join(i + "." if dotted else i for i in initials))


def names_transposed(record: Record, rng: random.Random) -> Record | None:
    """First forename and surname in each other's boxes (common with surname-first naming)."""
    words = record.given_names.split()
    if not words or words[0] == record.surname or len(words[0]) < 2:  # a one-letter surname is a placeholder
        return None
    return dataclasses.replace(record, given_names=" ".join([record.surname, *words[1:]]), surname=words[0])


def middle_name_as_forename(record: Record, rng: random.Random) -> Record | None:
    """Known by a middle name: "Sarah Jane" recorded as "Jane" or "Jane Sarah"."""
    words = record.given_names.split()
    if len(words) < 2:
        return None
    middle = rng.randrange(1, len(words))
    if rng.random() < 0.6:
        return dataclasses.replace(record, given_names=words[middle])
    return dataclasses.replace(
        record, given_names=" ".join([words[middle], *(w for i, w in enumerate(words) if i != middle)])
    )


def _surname_from_previous(record: Record, previous: str) -> str:
    if record.given_names and previous.startswith(record.given_names + " "):
        return previous[len(record.given_names) + 1 :]
    return previous


def surname_change_marriage(record: Record, rng: random.Random) -> Record | None:
    """Surname changed by marriage (or back): the other surname is given, with the former one
    declared as a previous name or not."""
    if record.previous_names:
        maiden = _surname_from_previous(record, record.previous_names[0])
        if maiden == record.surname:
            return None
        keep = (f"{record.given_names} {record.surname}".strip(),) if rng.random() < 0.5 else ()
        return dataclasses.replace(record, surname=maiden, previous_names=keep)
    if not record.sex.upper().startswith("F"):
        return None
    pool = SURNAME_POOLS["british"]
    new = SURNAMES[int(pool.draw(np.random.default_rng(rng.getrandbits(64)), 1)[0])]
    if new == record.surname:
        return None
    previous = (f"{record.given_names} {record.surname}".strip(),) if rng.random() < 0.5 else ()
    return dataclasses.replace(record, surname=new, previous_names=previous)


def hyphenated_half_dropped(record: Record, rng: random.Random) -> Record | None:
    """A double-barrelled or hyphenated surname given as one half."""
    parts = [p for p in re.split(r"[- ]", record.surname) if sum(ch.isalpha() for ch in p) >= 2]
    if len(parts) < 2:
        return None
    return dataclasses.replace(record, surname=rng.choice(parts))


def missing_identifiers(record: Record, rng: random.Random) -> Record | None:
    """Some identifiers left out of the query or the record."""
    present = [f for f in IDENTIFIER_FIELDS if getattr(record, f)]
    if not present:
        return None
    drop = rng.sample(present, rng.randint(1, len(present)))
    if not record.given_names and len(drop) == len(present):
        drop = drop[:-1]
    if not drop:
        return None
    return with_fields(record, dict.fromkeys(drop, ""))


def identifier_typo(record: Record, rng: random.Random) -> Record | None:
    """One digit of an NI or passport number mistyped (PNC IDs and licences carry check characters,
    so a typo there is refused at entry rather than silently searched)."""
    options = [f for f in ("ni_number", "passport_number") if getattr(record, f)]
    if not options:
        return None
    name = rng.choice(options)
    value: str = getattr(record, name)
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return None
    i = rng.choice(digits)
    new_digit = rng.choice([d for d in "0123456789" if d != value[i]])
    if name == "passport_number" and i == 0 and new_digit == "0":
        new_digit = "9" if value[0] != "9" else "8"
    new = value[:i] + new_digit + value[i + 1 :]
    try:
        normalise_identifier(name, new)
    except ValidationError:  # e.g. the typo made 000001 into 000000, a placeholder
        return None
    return with_fields(record, {name: new})


@dataclass(frozen=True)
class Corruption:
    name: str
    apply: CorruptFn
    weight: float
    """Relative frequency among the corruptions that apply to a record."""


CORRUPTIONS: Mapping[str, Corruption] = {
    c.name: c
    for c in (
        Corruption("keyboard_typo", keyboard_typo, 14),
        Corruption("phonetic_misspelling", phonetic_misspelling, 12),
        Corruption("missing_identifiers", missing_identifiers, 10),
        Corruption("nickname", nickname, 8),
        Corruption("case_whitespace_noise", case_whitespace_noise, 6),
        Corruption("dob_digit_typo", dob_digit_typo, 6),
        Corruption("day_month_swap", day_month_swap, 5),
        Corruption("year_off", year_off, 4),
        Corruption("transliteration", transliteration, 4),
        Corruption("middle_name_as_forename", middle_name_as_forename, 4),
        Corruption("surname_change_marriage", surname_change_marriage, 4),
        Corruption("missing_dob", missing_dob, 3),
        Corruption("forename_initial", forename_initial, 3),
        Corruption("names_transposed", names_transposed, 3),
        Corruption("hyphenated_half_dropped", hyphenated_half_dropped, 3),
        Corruption("accents_changed", accents_changed, 3),
        Corruption("ocr_confusion", ocr_confusion, 3),
        Corruption("missing_forename", missing_forename, 2),
        Corruption("identifier_typo", identifier_typo, 2),
    )
}
"""Every kind of error a sighting can carry, with how often it is chosen."""

_ERROR_COUNTS: Mapping[Level, tuple[tuple[int, float], ...]] = {
    "none": ((0, 1.0),),
    "light": ((0, 0.5), (1, 0.5)),
    "default": ((1, 0.6), (2, 0.4)),
    "heavy": ((2, 0.35), (3, 0.4), (4, 0.25)),
}


def corrupt_with_log(
    record: Record, rng: random.Random, level: Level = "default"
) -> tuple[Record, list[str]]:
    """Apply ``level``'s number of distinct errors, drawn by weight among those that apply."""
    if level not in _ERROR_COUNTS:
        raise ValidationError("unknown corruption level", field="level")
    counts = _ERROR_COUNTS[level]
    wanted = rng.choices([n for n, _ in counts], weights=[p for _, p in counts])[0]
    remaining = dict(CORRUPTIONS)
    applied: list[str] = []
    while len(applied) < wanted and remaining:
        names = list(remaining)
        name = rng.choices(names, weights=[remaining[n].weight for n in names])[0]
        changed = remaining.pop(name).apply(record, rng)
        if changed is not None and changed != record:
            record = changed
            applied.append(name)
    return record, applied


def corrupt(record: Record, rng: random.Random, level: Level = "default") -> Record:
    """A second sighting of the same person with realistic errors (see ``CORRUPTIONS``)."""
    return corrupt_with_log(record, rng, level)[0]
