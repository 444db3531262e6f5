"""Identifiers and postcodes in canonical form (docs/spec.md, "Normalisation", identifiers).

Each identifier passes the spec's own shape and check rules (never-issued NI prefixes, the PNC check
letter, placeholder runs) so a value a clerk typed to fill a box never becomes a key. Errors are
``ValidationError`` naming the field, never the value.

Only the clean-up of a field touches characters outside ASCII, and it does so through the spec's Unicode
table (``unicodetable``), never the interpreter's: every later rule sees ``A-Z``, ``0-9`` (and ``/``).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Final

from crossforce.encoding.text import fold_text, is_missing
from crossforce.encoding.unicodetable import PNC
from crossforce.errors import ValidationError

# --- Identifiers -------------------------------------------------------------------------------------

IDENTIFIER_KINDS: Final = ("pnc_id", "ni_number", "passport_number", "driving_licence")

_PNC_CHECK_LETTERS: Final = "ZABCDEFGHJKLMNPQRTUVWXY"
_PNC: Final = re.compile(r"([0-9]{4}|[0-9]{2})/([0-9]{1,7})([A-Z])")
_NI_BAD_FIRST: Final = frozenset("DFIQUV")
_NI_BAD_SECOND: Final = frozenset("DFIOQUV")
_NI_BAD_PREFIXES: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_NI: Final = re.compile(r"([A-Z]{2})([0-9]{6})([A-D]?)")
_PNC_TYPED: Final = re.compile(r"(?:[0-9]{2})?([0-9]{2})/([0-9]{1,7})([A-Z])")
"""A PNC ID typed YYYY/NNNNNNNC or YY/NNNNNNNC in canonical characters: the PNC clean-up leaves it as it
is and ``_PNC`` takes the same parts (the year's last two digits)."""
_NI_TYPED: Final = re.compile(r"([A-Z]{2})([0-9]{6})[A-D]?")
"""An NI number typed without spaces in upper case: ``_strip_id`` leaves it as it is."""
_DVLA: Final = re.compile(r"([A-Z9]{5}[0-9]{6}[A-Z9]{2}[0-9][A-Z]{2})([0-9]{2})?")
_DVA_NI: Final = re.compile(r"[0-9]{8}")
_PASSPORT: Final = re.compile(r"[A-Z0-9]{6,10}")
_ID_CHARS: Final = {
    **dict.fromkeys(range(128)),
    **str.maketrans(string.ascii_lowercase, string.ascii_uppercase),
    **{ord(c): c for c in string.ascii_uppercase + string.digits},
}
"""ASCII upper case, keeping only ``A-Z0-9`` (every other ASCII code point maps to None: deleted)."""
_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_HAS_DIGIT_1_9: Final = re.compile(r"[1-9]")
_NOT_DIGIT: Final = re.compile(r"[^0-9]")


_ID_BYTES: Final = bytes.maketrans(string.ascii_lowercase.encode(), string.ascii_uppercase.encode())
_ID_DELETE: Final = bytes(b for b in range(256) if chr(b) not in string.ascii_letters + string.digits)
"""``_ID_CHARS`` as ``bytes.translate`` arguments, for ASCII text (several times faster)."""


def _strip_id(s: str) -> str:
    """Upper-case ``A-Z0-9`` of the field, folded first when not ASCII (so an accented or full-width
    letter counts as its base letter). Folded text outside ASCII is dropped, as upper-casing then keeping
    ``A-Z0-9`` did: nothing fold_text outputs outside ASCII upper-cases into ``A-Z0-9`` (checked over
    every code point by tests/unit/test_unicode_tables.py)."""
    if s.isascii():
        return s.encode("ascii").translate(_ID_BYTES, _ID_DELETE).decode("ascii")
    return fold_text(s).encode("ascii", "ignore").decode("ascii").translate(_ID_CHARS)


def _is_placeholder(value: str) -> bool:
    """All one character, a run like 000000 or 999999, or a keyboard sequence like 123456789."""
    digits = _NOT_DIGIT.sub("", value)
    if len(set(value)) == 1 or (len(digits) >= 5 and len(set(digits)) == 1):
        return True
    return len(digits) >= 6 and (digits in "01234567890" or digits in "98765432109")


def _pnc(s: str) -> str:
    if s.isascii():
        table, delete = PNC.ascii_table()
        t = s.encode("ascii").translate(table, delete).decode("ascii")
    else:
        t = s.translate(PNC)  # per code point: NFKC, upper case, only A-Z 0-9 /
    if "/" not in t:
        if len(t) == 12:  # YYYYNNNNNNNC
            t = t[:4] + "/" + t[4:]
        elif len(t) == 10:  # YYNNNNNNNC
            t = t[:2] + "/" + t[2:]
    match = _PNC.fullmatch(t)
    if match is None:
        raise ValidationError("PNC ID must look like YY/NNNNNNNC or YYYY/NNNNNNNC", field="pnc_id")
    return _pnc_parts(match[1][-2:], match[2], match[3])


def _pnc_parts(year: str, serial_digits: str, check: str) -> str:
    """The canonical PNC ID from its two-digit year, serial digits and check letter, checked."""
    serial = int(serial_digits)
    if serial == 0:
        raise ValidationError("placeholder PNC ID", field="pnc_id")
    if _PNC_CHECK_LETTERS[(int(year) * 10_000_000 + serial) % 23] != check:
        raise ValidationError("PNC ID check letter does not match", field="pnc_id")
    return f"{year}/{serial}{check}"


def _ni(s: str) -> str:
    t = _strip_id(s)
    match = _NI.fullmatch(t)
    if match is None:
        raise ValidationError("NI number must be two letters, six digits, optional A-D", field="ni_number")
    return _ni_parts(match[1], match[2])


def _ni_parts(prefix: str, digits: str) -> str:
    """The canonical NI number from its two letters and six digits, checked."""
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
    # Fast paths for the way these two are nearly always typed (already canonical characters, nothing
    # around them): the same checks on the same parts as the general path below, without its clean-up
    # and placeholder screening, which such text passes anyway (it holds a digit 1-9 or fails the
    # checks: a serial of zeros, an NI number of one repeated digit). About half the cost of a key.
    if kind == "pnc_id":
        if typed := _PNC_TYPED.fullmatch(s):
            return _pnc_parts(typed[1], typed[2], typed[3])
    elif kind == "ni_number" and (typed := _NI_TYPED.fullmatch(s)):
        return _ni_parts(typed[1], typed[2])
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
    if len(t) < 3 or len(t) > 10 or is_missing(t.translate(_LOWER)) or _is_placeholder(t):
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
