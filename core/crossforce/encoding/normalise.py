"""Normalisation of nominal fields: the first half of the Encode step (docs/spec.md, "Normalisation").

Every force and every query must turn the same person into the same bytes, whatever keyboard, code page
or clerk produced the record, so each rule here is part of the published spec and changes only with
``SPEC_VERSION``. The functions are pure and deterministic (the only outside input is today's UTC date, used
to reject births in the future) and cached, because the same names and dates recur millions of times.

Errors raised here are ``ValidationError`` naming the field only: texts never carry the raw value.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from crossforce.errors import ValidationError

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

# --- Text folding (spec: Normalisation, step T1-T8) ------------------------------------------------

_APOSTROPHES: Final = "'\u2019\u2018\u02bc\u02bb`\u00b4\u2032\uff07\u02b9\u00b7"
"""Removed before anything else, so O'Brien, O’Brien and OBrien fold alike (U+00B4 would otherwise
decompose to a space) and the Catalan middle dot (l·l) joins its word."""
_DROP_APOSTROPHES: Final = str.maketrans("", "", _APOSTROPHES)

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
_INITIAL_APOSTROPHE: Final = re.compile(r"(?<!\w)(\w)[" + re.escape(_APOSTROPHES) + r"]")
"""D'Souza, L'Estrange, O'Brien: a one-letter prefix before an apostrophe is its own word."""

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
    letter (an initial says too little to key on)."""
    folded = fold_text(_INITIAL_APOSTROPHE.sub(r"\1 ", raw))
    if is_missing(folded):
        return None
    return _surname_from_words(tuple(folded.split()))


@lru_cache(maxsize=1 << 16)
def normalise_given_names(raw: str) -> tuple[str, ...]:
    """Folded forenames in order (see ``NormalisedName.given``); () when empty or a placeholder."""
    if is_missing(fold_text(raw)):
        return ()
    out: list[str] = []
    for token in raw.split():
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
    """The normalised name, or None when the surname is missing (a forename alone keys nothing)."""
    sur = normalise_surname(surname)
    if sur is None:
        return None
    compact, parts, variants = sur
    return NormalisedName(
        given=normalise_given_names(given_names),
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
    if "," in raw:
        sur_raw, _, given_raw = raw.partition(",")
        return normalise_name(given_raw if given_raw.strip() else current_given, sur_raw)
    tokens = raw.split()
    if not tokens:
        return None
    # Walk back from the last token over any particles so "Mary van der Berg" keeps "van der Berg".
    start = len(tokens) - 1
    while start > 0 and fold_text(_INITIAL_APOSTROPHE.sub(r"\1 ", tokens[start - 1])) in (
        _DROPPABLE_PARTICLES | _ATTACHED_PREFIXES | _SAINT | {"mac"}
    ):
        start -= 1
    given_raw = " ".join(tokens[:start])
    return normalise_name(given_raw if given_raw.strip() else current_given, " ".join(tokens[start:]))


# --- Dates -------------------------------------------------------------------------------------------

MIN_BIRTH_YEAR: Final = 1900


@dataclass(frozen=True, slots=True, order=True)
class NormalisedDate:
    year: int
    month: int
    day: int

    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True, slots=True)
class DateParts:
    """A date of birth split into parts, each kept only if plausible on its own (None otherwise).

    A typo usually spoils one part (1980-02-30, 1980-13-05, 1098-03-05); keeping the good parts lets the
    partial-date keys still match. ``valid`` is True only for a real calendar date in range.
    """

    year: int | None
    month: int | None
    day: int | None
    valid: bool
    day_month_unordered: tuple[int, int] | None
    """(low, high) of the written day and month when the year is good and the date is real read either
    way round (1980-03-05 and 1980-05-03 and 1980-13-05 as 13 May): the US/UK swap key uses it."""

    def date(self) -> NormalisedDate | None:
        if self.valid and self.year is not None and self.month is not None and self.day is not None:
            return NormalisedDate(self.year, self.month, self.day)
        return None


_MONTHS: Final = {
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
_ISO: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_YMD: Final = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", re.ASCII)
_DMY: Final = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", re.ASCII)
_YM: Final = re.compile(r"(\d{4})[-/.](\d{1,2})", re.ASCII)
_MY: Final = re.compile(r"(\d{1,2})[-/.](\d{4})", re.ASCII)
_D_MON_Y: Final = re.compile(r"(\d{1,2})[-/. ]*([a-z]+)[-/. ,]*(\d{4})", re.ASCII)
_MON_D_Y: Final = re.compile(r"([a-z]+)[-/. ]*(\d{1,2})(?:st|nd|rd|th)?[-/. ,]*(\d{4})", re.ASCII)
_TIME_SUFFIX: Final = re.compile(
    r"(?:[t ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)$", re.ASCII
)
_ORDINAL: Final = re.compile(r"(\d)(?:st|nd|rd|th)\b", re.ASCII)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _real(year: int, month: int, day: int, today: datetime.date) -> bool:
    return (
        1 <= month <= 12
        and 1 <= day <= _days_in_month(year, month)
        and (year, month, day) <= (today.year, today.month, today.day)
    )


def _split_date(s: str) -> tuple[int, int, int] | None:
    """(year, month, day) numbers as written, before any range check; None if no format fits."""
    t = (s if s.isascii() else unicodedata.normalize("NFKC", s)).strip()
    if match := _ISO.fullmatch(t):  # the common case, first
        return int(match[1]), int(match[2]), int(match[3])
    t = t.casefold()
    if ":" in t:
        t = _TIME_SUFFIX.sub("", t).strip()
    if not t.isdigit():
        t = _ORDINAL.sub(r"\1", t)
    if len(t) == 8 and t.isascii() and t.isdigit():
        y, m, d = int(t[:4]), int(t[4:6]), int(t[6:])
        if MIN_BIRTH_YEAR <= y <= 2100 or not 1 <= int(t[2:4]) <= 12:
            return y, m, d
        return int(t[4:]), int(t[2:4]), int(t[:2])  # DDMMYYYY
    if match := _YMD.fullmatch(t):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _DMY.fullmatch(t):
        return int(match[3]), int(match[2]), int(match[1])
    if (match := _D_MON_Y.fullmatch(t)) and match[2] in _MONTHS:
        return int(match[3]), _MONTHS[match[2]], int(match[1])
    if (match := _MON_D_Y.fullmatch(t)) and match[1] in _MONTHS:
        return int(match[3]), _MONTHS[match[1]], int(match[2])
    # Month and year only (day unknown): day 0, which no check accepts, so only year+month keys.
    if match := _YM.fullmatch(t):
        return int(match[1]), int(match[2]), 0
    if match := _MY.fullmatch(t):
        return int(match[2]), int(match[1]), 0
    return None


@lru_cache(maxsize=1 << 16)
def _parts(s: str, today: datetime.date) -> DateParts | None:
    if not s.strip():
        return None
    split = _split_date(s)
    if split is None:
        return DateParts(None, None, None, valid=False, day_month_unordered=None)
    y, m, d = split
    year = y if MIN_BIRTH_YEAR <= y <= today.year else None
    month = m if 1 <= m <= 12 else None
    day = d if 1 <= d <= 31 else None
    valid = year is not None and _real(year, m, d, today)
    swapped = year is not None and _real(year, d, m, today)
    unordered = (min(m, d), max(m, d)) if valid or swapped else None
    return DateParts(year, month, day, valid=valid, day_month_unordered=unordered)


def parse_date_parts(s: str, *, today: datetime.date | None = None) -> DateParts | None:
    """Lenient parse for keying: None for an empty field, else the plausible parts. Never raises."""
    return _parts(s, today or datetime.datetime.now(datetime.UTC).date())


def parse_date(s: str, *, today: datetime.date | None = None) -> NormalisedDate | None:
    """Strict parse: None for an empty field; ValidationError for an unparseable or impossible date.

    Accepts YYYY-MM-DD (also / or . separators, optional time), DD/MM/YYYY (UK order, also - or .),
    YYYYMMDD, DDMMYYYY when not a valid YYYYMMDD, and D-Mon-YYYY / D Month YYYY / Month D, YYYY.
    """
    parts = parse_date_parts(s, today=today)
    if parts is None:
        return None
    date = parts.date()
    if date is None:
        raise ValidationError("not a real date of birth in the accepted range", field="date_of_birth")
    return date


# --- Identifiers -------------------------------------------------------------------------------------

IDENTIFIER_KINDS: Final = ("pnc_id", "ni_number", "passport_number", "driving_licence")

_PNC_CHECK_LETTERS: Final = "ZABCDEFGHJKLMNPQRTUVWXY"
_PNC: Final = re.compile(r"(\d{4}|\d{2})/(\d{1,7})([A-Z])")
_NI_BAD_FIRST: Final = frozenset("DFIQUV")
_NI_BAD_SECOND: Final = frozenset("DFIOQUV")
_NI_BAD_PREFIXES: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_NI: Final = re.compile(r"([A-Z]{2})(\d{6})([A-D]?)")
_DVLA: Final = re.compile(r"([A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2})(\d{2})?")
_DVA_NI: Final = re.compile(r"\d{8}")
_PASSPORT: Final = re.compile(r"[A-Z0-9]{6,10}")
_STRIP_ID: Final = re.compile(r"[^A-Z0-9]")
_STRIP_PNC: Final = re.compile(r"[^A-Z0-9/]")
_HAS_DIGIT_1_9: Final = re.compile(r"[1-9]")
_NOT_DIGIT: Final = re.compile(r"[^0-9]")


def _strip_id(s: str) -> str:
    return _STRIP_ID.sub("", (s if s.isascii() else fold_text(s)).upper())


def _is_placeholder(value: str) -> bool:
    """All one character, a run like 000000 or 999999, or a keyboard sequence like 123456789."""
    digits = _NOT_DIGIT.sub("", value)
    if len(set(value)) == 1 or (len(digits) >= 5 and len(set(digits)) == 1):
        return True
    return len(digits) >= 6 and (digits in "01234567890" or digits in "98765432109")


def _pnc(s: str) -> str:
    t = _STRIP_PNC.sub("", (s if s.isascii() else unicodedata.normalize("NFKC", s)).upper())
    if "/" not in t:
        if len(t) == 12:  # YYYYNNNNNNNC
            t = t[:4] + "/" + t[4:]
        elif len(t) == 10:  # YYNNNNNNNC
            t = t[:2] + "/" + t[2:]
    match = _PNC.fullmatch(t)
    if match is None:
        raise ValidationError("PNC ID must look like YY/NNNNNNNC or YYYY/NNNNNNNC", field="pnc_id")
    year, serial, check = match[1][-2:], int(match[2]), match[3]
    if serial == 0:
        raise ValidationError("placeholder PNC ID", field="pnc_id")
    if _PNC_CHECK_LETTERS[int(f"{year}{serial:07d}") % 23] != check:
        raise ValidationError("PNC ID check letter does not match", field="pnc_id")
    return f"{year}/{serial}{check}"


def _ni(s: str) -> str:
    t = _strip_id(s)
    match = _NI.fullmatch(t)
    if match is None:
        raise ValidationError("NI number must be two letters, six digits, optional A-D", field="ni_number")
    prefix, digits = match[1], match[2]
    if prefix[0] in _NI_BAD_FIRST or prefix[1] in _NI_BAD_SECOND or prefix in _NI_BAD_PREFIXES:
        raise ValidationError("NI number prefix is never issued (placeholder)", field="ni_number")
    if len(set(digits)) == 1 or digits == "123456":
        raise ValidationError("placeholder NI number", field="ni_number")
    return prefix + digits


def _driving_licence(s: str) -> str:
    t = _strip_id(s)
    if match := _DVLA.fullmatch(t):
        return match[1]
    if _DVA_NI.fullmatch(t) and not _is_placeholder(t):
        return t
    raise ValidationError("must be a 16-character GB or 8-digit NI licence", field="driving_licence")


def _passport(s: str) -> str:
    t = _strip_id(s)
    if not _PASSPORT.fullmatch(t) or _is_placeholder(t):
        raise ValidationError("passport number must be 6-10 letters or digits", field="passport_number")
    return t


_ID_PARSERS: Final = {
    "pnc_id": _pnc,
    "ni_number": _ni,
    "passport_number": _passport,
    "driving_licence": _driving_licence,
}


def normalise_identifier(kind: str, s: str) -> str | None:
    """Canonical form of an identifier, None when empty or a not-known placeholder.

    pnc_id: "YY/NC": two-digit year, serial without leading zeros, check letter (verified, mod 23).
    ni_number: two letters and six digits; the A-D suffix is dropped because records often omit it.
    passport_number: 6-10 upper-case letters or digits. driving_licence: the 16-character GB number
    without its two-digit issue number, or an 8-digit Northern Ireland number.
    """
    parser = _ID_PARSERS.get(kind)
    if parser is None:
        raise ValidationError("unknown identifier kind", field="identifier")
    if (not _HAS_DIGIT_1_9.search(s)) and is_missing(fold_text(s)):  # placeholders have no digit 1-9
        return None
    return parser(s)


@lru_cache(maxsize=1 << 14)
def normalise_postcode(s: str) -> str | None:
    """Upper-case letters and digits of a postcode, None when empty or implausible (under 3 or over 10).

    Not validated against the UK format: held-out data and foreign addresses use other shapes, and the
    postcode only ever appears in a weak key next to a name."""
    t = _strip_id(s)
    if len(t) < 3 or len(t) > 10 or is_missing(t.casefold()) or _is_placeholder(t):
        return None
    return t


_UK_POSTCODE: Final = re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]?[0-9][A-Z]{2}")


@lru_cache(maxsize=1 << 14)
def postcode_district(postcode: str) -> str:
    """The area part of a normalised postcode: a full UK postcode's outward code (LS14AB -> LS1,
    SW1A1AA -> SW1A), anything else whole (a bare outward code, a ZIP code, a 4-digit Australian code).

    A district holds some 10,000 addresses: shared by far fewer people of one date of birth than a
    name is, and kept by most people who move house locally, so it anchors the keys that lack one
    of the names (forename recorded wrongly or not at all, surname changed).
    """
    if _UK_POSTCODE.fullmatch(postcode):
        return postcode[:-3]
    return postcode
