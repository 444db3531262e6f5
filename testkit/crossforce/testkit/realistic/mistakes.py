"""What each kind of error in the realistic model does to a record, and which records it can happen to.

``CHANGES`` maps every kind named in ``errors.ERROR_KINDS`` to a pair of functions: ``applies(record,
context)``, true when the error can happen to this record (a middle name to use, a day of 12 or less to
swap with the month), and ``apply(record, context, rng)``, which makes the change. How often each
happens, on which side of a pair and on whose evidence is ``errors``' business; this module only says
what happens.

The module is over 400 lines because it is a catalogue, one small pair of functions per kind of error
in the table's order; it reads best whole, and splitting it would only scatter the table.

Invariants: ``apply`` changes a record ``applies`` accepts (should a reused v1 corruption ever decline,
the record comes back unchanged and is not counted); every result passes ``validate_record``
(placeholders are emptied there); ``applies`` never draws from the generator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from crossforce.encoding.records import Record
from crossforce.testkit import _names
from crossforce.testkit.corruptions import (
    day_month_swap,
    dob_digit_typo,
    identifier_typo,
    middle_name_as_forename,
    names_transposed,
    year_off,
)
from crossforce.testkit.population import REFERENCE_DATE, fold_accents
from crossforce.testkit.realistic import spelling

RecordClass = Literal["custody", "intelligence", "other", "query"]
ROMANISED_GROUPS = frozenset({"south_asian", "west_african", "chinese", "other"})
"""Communities whose names reach English records through a transliteration (Arabic, Urdu, Chinese...)."""


@dataclass(frozen=True)
class Context:
    """What an error needs beyond the record itself: who the person is and who they live with."""

    group: str
    female: bool
    record_class: RecordClass
    household_dobs: Callable[[], tuple[str, ...]] = tuple
    """Dates of birth of the other people at the address (a borrowed date comes from here); a function,
    as few records need it."""
    other_forename: Callable[[random.Random], str] = lambda rng: "Alex"
    """Another forename the person could give (same sex and community)."""
    other_surname: Callable[[random.Random], str] = lambda rng: "Taylor"
    other_postcode: Callable[[random.Random], str] = lambda rng: "ZZ1 1ZZ"
    """Another address in the same force area (where the person lived when the force met them)."""


Applies = Callable[[Record, Context], bool]
Apply = Callable[[Record, Context, random.Random], Record]


# --- helpers -----------------------------------------------------------------------------------------


def _replace(record: Record, **changes: object) -> Record:
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _words(value: str) -> list[str]:
    return value.split()


def _first(record: Record) -> str:
    words = _words(record.given_names)
    return words[0] if words else ""


def _with_first(record: Record, new_first: str) -> Record:
    words = _words(record.given_names)
    return _replace(record, given_names=" ".join([new_first, *words[1:]]))


def _date(record: Record) -> dt.date | None:
    try:
        return dt.date.fromisoformat(record.date_of_birth) if record.date_of_birth else None
    except ValueError:
        return None


def _has_dob(record: Record, context: Context) -> bool:
    return _date(record) is not None


def _must(result: Record | None, record: Record) -> Record:
    """Reused v1 corruptions return None when they cannot act; ``applies`` rules that out, and should it
    ever fail the record comes back unchanged and the kind is not counted as applied."""
    return record if result is None else result


def _name_fields(record: Record) -> list[tuple[str, int, str]]:
    """(field, word index, word) for every name word."""
    return [
        (field, i, word)
        for field in ("given_names", "surname")
        for i, word in enumerate(getattr(record, field).split(" "))
        if word
    ]


def _set_word(record: Record, field: str, index: int, word: str) -> Record:
    words = getattr(record, field).split(" ")
    words[index] = word
    return _replace(record, **{field: " ".join(words)})


# --- forename ----------------------------------------------------------------------------------------

_PLACEHOLDER_FORENAMES = {
    True: ("Female Child", "Female", "Baby Girl", "Baby", "Unknown"),
    False: ("Male Child", "Male", "Baby Boy", "Baby", "Unknown"),
}
"""What a form carries for a person whose name was not taken: "Baby Girl" survives the v1 rules."""
_NICKNAMES: dict[str, tuple[str, ...]] = {}
for _formal, _nicks in _names.NICKNAMES.items():
    _NICKNAMES.setdefault(_formal.lower(), ())
    _NICKNAMES[_formal.lower()] += _nicks
    for _nick in _nicks:
        _NICKNAMES[_nick.lower()] = (*_NICKNAMES.get(_nick.lower(), ()), _formal)


def _has_forename(record: Record, context: Context) -> bool:
    return sum(ch.isalpha() for ch in _first(record)) >= 2


def _placeholder_forename(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(record, given_names=rng.choice(_PLACEHOLDER_FORENAMES[context.female]))


def _alias_forename(record: Record, context: Context, rng: random.Random) -> Record:
    current = _first(record).lower()
    for _ in range(20):
        other = context.other_forename(rng)
        if other.lower() != current:
            return _replace(record, given_names=other)
    return _replace(record, given_names="Alex" if current != "alex" else "Sam")


def _has_middle(record: Record, context: Context) -> bool:
    return len({w.lower() for w in _words(record.given_names)}) >= 2


def _has_nickname(record: Record, context: Context) -> bool:
    return _first(record).lower() in _NICKNAMES


def _nickname(record: Record, context: Context, rng: random.Random) -> Record:
    first = _first(record)
    choice = rng.choice(_NICKNAMES[first.lower()])
    words = [choice, *_words(record.given_names)[1:]] if rng.random() < 0.5 else [choice]
    return _replace(record, given_names=" ".join(words))


def _typo_in(field: str) -> tuple[Applies, Apply]:
    def typeable(record: Record) -> list[int]:
        return [i for i, w in enumerate(getattr(record, field).split(" ")) if spelling.can_typo(w)]

    def applies(record: Record, context: Context) -> bool:
        return bool(typeable(record))

    def apply(record: Record, context: Context, rng: random.Random) -> Record:
        i = rng.choice(typeable(record))
        word = getattr(record, field).split(" ")[i]
        return _set_word(record, field, i, spelling.pick(spelling.typo_options(word), rng))

    return applies, apply


def _heard_in(field: str) -> tuple[Applies, Apply]:
    """A name written as it sounds: a known sound-alike spelling 70% of the time when one exists."""

    def options(record: Record) -> list[tuple[int, list[str], list[str]]]:
        words = getattr(record, field).split(" ")
        out = []
        for i, w in enumerate(words):
            known, made = spelling.sound_options(w)
            if known or made:
                out.append((i, known, made))
        return out

    def applies(record: Record, context: Context) -> bool:
        return any(spelling.can_sound(w) for w in getattr(record, field).split(" "))

    def apply(record: Record, context: Context, rng: random.Random) -> Record:
        i, known, made = rng.choice(options(record))
        use = known if known and (not made or rng.random() < 0.7) else made
        return _set_word(record, field, i, spelling.pick(use, rng))

    return applies, apply


def _romanisable(record: Record) -> list[tuple[str, int, list[str], list[str]]]:
    out = []
    for field, i, word in _name_fields(record):
        known, made = spelling.romanisation_options(word)
        if known or made:
            out.append((field, i, known, made))
    return out


def _can_romanise(record: Record, context: Context) -> bool:
    return context.group in ROMANISED_GROUPS and any(
        spelling.can_romanise(w) for _, _, w in _name_fields(record)
    )


def _transliteration(record: Record, context: Context, rng: random.Random) -> Record:
    options = _romanisable(record)
    with_known = [o for o in options if o[2]]
    field, i, known, made = rng.choice(with_known or options)
    return _set_word(record, field, i, spelling.pick(known or made, rng))


def _ocr_options(record: Record) -> list[tuple[str, int, list[str]]]:
    return [(f, i, opts) for f, i, w in _name_fields(record) if (opts := spelling.ocr_options(w))]


def _can_ocr(record: Record, context: Context) -> bool:
    return any(spelling.can_ocr(word) for _, _, word in _name_fields(record))


def _ocr(record: Record, context: Context, rng: random.Random) -> Record:
    field, i, opts = rng.choice(_ocr_options(record))
    return _set_word(record, field, i, spelling.pick(opts, rng))


def _can_swap(record: Record, context: Context) -> bool:
    first = _first(record)
    return len(first) >= 2 and len(record.surname) >= 2 and first != record.surname


# --- surname -----------------------------------------------------------------------------------------


def _surnames_known(record: Record) -> set[str]:
    known = {record.surname.lower()}
    for previous in record.previous_names:
        known.add(previous.split()[-1].lower() if previous.split() else "")
    return known


def _other_surname(record: Record, context: Context, rng: random.Random) -> str:
    known = _surnames_known(record)
    for _ in range(50):
        other = context.other_surname(rng)
        if other.lower() not in known:
            return other
    return "Newname"


def _surname_unrecorded(record: Record, context: Context, rng: random.Random) -> Record:
    """Married, divorced or changed by deed poll: the other side holds a surname this side never recorded."""
    return _replace(record, surname=_other_surname(record, context, rng), previous_names=())


def _surname_alias(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(record, surname=_other_surname(record, context, rng))


def _placeholder_surname(record: Record, context: Context, rng: random.Random) -> Record:
    initial = next((ch.upper() for ch in record.surname if ch.isalpha()), "X")
    return _replace(record, surname=rng.choice(("Unk", initial, "Of The House", "Unknown", "NK")))


_PARTICLE = re.compile(r"^(O'|O’|Ap |Van |Von |De |Da |Di |Le |La )(?=\w)", re.IGNORECASE)


def _surname_parts(surname: str) -> list[str]:
    parts = [p for p in re.split(r"[- ]", surname) if sum(ch.isalpha() for ch in p) >= 2]
    if len(parts) >= 2:
        return parts
    match = _PARTICLE.match(surname)
    return (
        [surname[match.end() :]] if match and sum(ch.isalpha() for ch in surname[match.end() :]) >= 2 else []
    )


def _has_compound_surname(record: Record, context: Context) -> bool:
    return bool(_surname_parts(record.surname))


def _compound_dropped(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(record, surname=rng.choice(_surname_parts(record.surname)))


# --- date of birth -----------------------------------------------------------------------------------


def _no_dob(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(record, date_of_birth="")


def _intelligence_with_dob(record: Record, context: Context) -> bool:
    return context.record_class == "intelligence" and _has_dob(record, context)


def _one_part_wrong(record: Record, context: Context, rng: random.Random) -> Record:
    """A digit mistyped, or the day not known and entered as the 1st (30%: what systems default to)."""
    day = _date(record)
    assert day is not None
    if day.day != 1 and rng.random() < 0.3:
        return _replace(record, date_of_birth=day.replace(day=1).isoformat())
    for _ in range(10):
        changed = dob_digit_typo(record, rng)
        if changed is not None:
            return changed
    return _replace(record, date_of_birth=day.replace(day=1 if day.day != 1 else 2).isoformat())


def _swappable(record: Record, context: Context) -> bool:
    day = _date(record)
    return day is not None and day.day <= 12 and day.day != day.month


def _can_year_off(record: Record, context: Context) -> bool:
    day = _date(record)
    return day is not None and (day.month, day.day) != (2, 29)


def _borrowable(record: Record, context: Context) -> bool:
    return _has_dob(record, context) and any(d != record.date_of_birth for d in context.household_dobs())


def _borrowed(record: Record, context: Context, rng: random.Random) -> Record:
    others = sorted({d for d in context.household_dobs() if d != record.date_of_birth})
    return _replace(record, date_of_birth=rng.choice(others))


def _shifted(record: Record, context: Context, rng: random.Random) -> Record:
    """An age given instead of a date, turned back into a date years out; day and month kept."""
    day = _date(record)
    assert day is not None
    for _ in range(20):
        year = day.year + rng.choice((-1, 1)) * rng.randint(2, 5)
        try:
            moved = day.replace(year=year)
        except ValueError:  # 29 February
            moved = day.replace(year=year, day=28)
        if dt.date(1900, 1, 1) <= moved <= REFERENCE_DATE:
            return _replace(record, date_of_birth=moved.isoformat())
    return _replace(
        record, date_of_birth=day.replace(year=day.year - 3 if day.year > 1905 else day.year + 3).isoformat()
    )


# --- postcode, presentation, identifiers ------------------------------------------------------------


def _has_postcode(record: Record, context: Context) -> bool:
    return bool(record.postcode)


def _no_postcode(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(record, postcode="")


def _moved(record: Record, context: Context, rng: random.Random) -> Record:
    for _ in range(20):
        other = context.other_postcode(rng)
        if other != record.postcode:
            return _replace(record, postcode=other)
    return _replace(record, postcode="")


def _accented(record: Record, context: Context) -> bool:
    return not (record.given_names + record.surname).isascii()


def _ascii_only(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(
        record, given_names=fold_accents(record.given_names), surname=fold_accents(record.surname)
    )


def _not_upper(record: Record, context: Context) -> bool:
    return (record.given_names + record.surname) != (record.given_names + record.surname).upper()


def _upper(record: Record, context: Context, rng: random.Random) -> Record:
    return _replace(record, given_names=record.given_names.upper(), surname=record.surname.upper())


def _has_typeable_identifier(record: Record, context: Context) -> bool:
    return any(any(ch.isdigit() for ch in getattr(record, f)) for f in ("ni_number", "passport_number"))


def _identifier_typo(record: Record, context: Context, rng: random.Random) -> Record:
    for _ in range(10):
        changed = identifier_typo(record, rng)
        if changed is not None and changed != record:
            return changed
    return _replace(record, passport_number="", ni_number="")


def _always(record: Record, context: Context) -> bool:
    return True


def _v1(fn: Callable[[Record, random.Random], Record | None]) -> Apply:
    def apply(record: Record, context: Context, rng: random.Random) -> Record:
        return _must(fn(record, rng), record)

    return apply


CHANGES: Mapping[str, tuple[Applies, Apply]] = {
    "held_no_dob": (_intelligence_with_dob, _no_dob),
    "placeholder_forename": (_has_forename, _placeholder_forename),
    "alias_forename": (_has_forename, _alias_forename),
    "middle_name_as_forename": (_has_middle, _v1(middle_name_as_forename)),
    "nickname": (_has_nickname, _nickname),
    "transliteration": (_can_romanise, _transliteration),
    "names_swapped": (_can_swap, _v1(names_transposed)),
    "surname_unrecorded": (_always, _surname_unrecorded),
    "surname_alias": (_always, _surname_alias),
    "placeholder_surname": (_always, _placeholder_surname),
    "compound_surname_part": (_has_compound_surname, _compound_dropped),
    "keyboard_typo_forename": _typo_in("given_names"),
    "keyboard_typo_surname": _typo_in("surname"),
    "phonetic_forename": _heard_in("given_names"),
    "phonetic_surname": _heard_in("surname"),
    "ocr_confusion": (_can_ocr, _ocr),
    "dob_one_part_wrong": (_has_dob, _one_part_wrong),
    "day_month_swap": (_swappable, _v1(day_month_swap)),
    "year_off": (_can_year_off, _v1(year_off)),
    "dob_borrowed": (_borrowable, _borrowed),
    "dob_shifted_years": (_has_dob, _shifted),
    "postcode_moved": (_has_postcode, _moved),
    "postcode_missing": (_has_postcode, _no_postcode),
    "accents_dropped": (_accented, _ascii_only),
    "upper_case": (_not_upper, _upper),
    "query_no_dob": (_has_dob, _no_dob),
    "identifier_typo": (_has_typeable_identifier, _identifier_typo),
}
"""Kind name -> (applies, apply)."""
