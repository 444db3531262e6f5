"""The justification a check carries must name a case, not a person (pure).

Why: the case reference, legal basis and officer id are stored in the matcher's database and in the
append-only audit log, which can never be erased. Free text there is where a name, a date of birth or an
NI number ends up, so each field has a shape: case references match the requesting organisation's
pattern, legal bases come from a configured list, officer ids are letters, digits and hyphens. A value
that looks like personal data (two capitalised words, a date in any common form, an NI number, a PNC id or
a postcode) is refused even when it fits the pattern. Every refusal names the field and the form expected
and never quotes the value: the error text travels back to the caller and into logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from crossforce.domain import Justification
from crossforce.encoding.phonetic import nickname_table_names
from crossforce.errors import ValidationError

DEFAULT_CASE_REFERENCE_PATTERN = r"^[A-Z][A-Z0-9]{0,11}(?:[-/][A-Z0-9]{1,12}){0,5}$"
"""Upper-case segments of letters and digits joined by hyphens or slashes, e.g. APP-2026-0001,
DBS-APP-2026-004417 or VET/2026/0042: the shape of a case-management number, not of a sentence."""
CASE_REFERENCE_FORM = "upper-case letters and digits in segments joined by - or /, e.g. APP-2026-0001"

OFFICER_ID_PATTERN = r"^[A-Za-z0-9]{1,32}(?:-[A-Za-z0-9]{1,32}){0,5}$"
OFFICER_ID_FORM = "letters and digits joined by hyphens, no spaces, e.g. DBS-4411 (a collar or staff number)"

DEFAULT_LEGAL_BASES: tuple[str, ...] = (
    "Police Act 1997 s113B",
    "Police Act 1997 s113B (enhanced criminal record certificate)",
    "Children Act 1989 s47",
    "Children Act 2004 s11",
    "Firearms Act 1968 s27",
    "Firearms Act 1968 s28",
    "Safeguarding Vulnerable Groups Act 2006",
    "DPA 2018 s.31",
    "DPA 2018 s.35",
)
"""The legal bases a fresh deployment accepts (those the README, the demo and the tests use); a
deployment lists its own in settings (``legal_bases``)."""

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20)[0-9]{2}"
_SEP = r"[-/. ]"
_EDGE_BEFORE = r"(?<![A-Za-z0-9])"
_EDGE_AFTER = r"(?![A-Za-z0-9])"
_GAP = r"[ \-/.]?"
"""What may stand between the parts of an identifier in a case reference (which allows `-` and `/`)."""
_FORENAMES = frozenset(n for n in nickname_table_names() if len(n) >= 4)
"""Forenames from the spec's nickname table (4+ letters: shorter ones are too often abbreviations)."""

_DATE_PATTERNS = (
    # 12/03/1980, 12-3-80, 12.03.1980 (day or month first)
    rf"{_EDGE_BEFORE}{_DAY}{_SEP}{_MONTH}{_SEP}(?:{_YEAR}|[0-9]{{2}}){_EDGE_AFTER}",
    rf"{_EDGE_BEFORE}{_MONTH}{_SEP}{_DAY}{_SEP}(?:{_YEAR}|[0-9]{{2}}){_EDGE_AFTER}",
    # 1980-03-12, 1980/3/12
    rf"{_EDGE_BEFORE}{_YEAR}{_SEP}{_MONTH}{_SEP}{_DAY}{_EDGE_AFTER}",
    # 19800312 and 12031980: eight digits that read as a date (six-digit runs are too often serials)
    rf"{_EDGE_BEFORE}{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]){_EDGE_AFTER}",
    rf"{_EDGE_BEFORE}(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2]){_YEAR}{_EDGE_AFTER}",
    # 12 March 1980, 12-Mar-80, 12MAR1980, March 12 1980
    rf"{_EDGE_BEFORE}{_DAY}(?:st|nd|rd|th)?{_SEP}?{_MONTHS}{_SEP}?(?:{_YEAR}|[0-9]{{2}}){_EDGE_AFTER}",
    rf"{_EDGE_BEFORE}{_MONTHS}{_SEP}?{_DAY}(?:st|nd|rd|th)?,?{_SEP}?(?:{_YEAR}|[0-9]{{2}}){_EDGE_AFTER}",
)
_LOOKS_LIKE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a date", re.compile("|".join(_DATE_PATTERNS), re.IGNORECASE)),
    (
        "a National Insurance number",
        re.compile(
            rf"{_EDGE_BEFORE}[A-Z]{{2}}{_GAP}[0-9]{{2}}{_GAP}[0-9]{{2}}{_GAP}[0-9]{{2}}{_GAP}[A-D]{_EDGE_AFTER}",
            re.IGNORECASE,
        ),
    ),
    (
        "a PNC id",
        re.compile(rf"{_EDGE_BEFORE}(?:[0-9]{{2}}){{1,2}}[-/.]?[0-9]{{1,7}}[A-Z]{_EDGE_AFTER}", re.I),
    ),
    (
        "a postcode",
        re.compile(rf"{_EDGE_BEFORE}[A-Z]{{1,2}}[0-9][A-Z0-9]?{_GAP}[0-9][A-Z]{{2}}{_EDGE_AFTER}", re.I),
    ),
    # Two capitalised words: "John Smith", "Smith-Jones", "JohnSmith", "O'Neil Smith".
    ("a name", re.compile(r"[A-Z][a-z]+(?:['’][A-Z][a-z]+)?[ \-_.]?[A-Z][a-z]+")),
)


def personal_data_kind(value: str) -> str | None:
    """What kind of personal data ``value`` looks like ("a date", "a name", ...), or None."""
    for kind, pattern in _LOOKS_LIKE:
        if pattern.search(value):
            return kind
    if any(part.lower() in _FORENAMES for part in re.split(r"[^A-Za-z]+", value)):
        return "a name"  # SMITH-JOHN, JOHN-SMITH: an upper-case forename as its own segment
    return None


def _refuse_personal_data(field: str, value: str, form: str) -> None:
    kind = personal_data_kind(value)
    if kind is not None:
        raise ValidationError(
            f"looks like it contains {kind}; the matcher keeps it forever, so it must not carry "
            f"personal data: expected {form}",
            field=field,
        )


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def check_justification(
    why: Justification,
    *,
    org: str,
    case_reference_patterns: Mapping[str, str],
    default_case_reference_pattern: str,
    legal_bases: Sequence[str],
) -> None:
    """Raise ValidationError naming the first field of ``why`` that breaks its rule (never its value).

    ``org`` chooses the case reference pattern (``case_reference_patterns``, else the default); the legal
    basis must be one of ``legal_bases`` (compared ignoring case and repeated spaces).
    """
    pattern = case_reference_patterns.get(org, default_case_reference_pattern)
    form = CASE_REFERENCE_FORM if org not in case_reference_patterns else f"the form {pattern}"
    _refuse_personal_data("case_reference", why.case_reference, form)
    if not re.fullmatch(pattern, why.case_reference):
        raise ValidationError(f"not in {org}'s form: expected {form}", field="case_reference")
    if _normalise(why.legal_basis) not in {_normalise(b) for b in legal_bases}:
        shown = "; ".join(legal_bases)
        raise ValidationError(f"not one this matcher accepts: expected one of: {shown}", field="legal_basis")
    check_officer_id(why.officer_id)


def check_officer_id(officer_id: str) -> None:
    """An officer id (on a check, an approval or a refusal) is a collar or staff number, not a name."""
    _refuse_personal_data("officer_id", officer_id, OFFICER_ID_FORM)
    if not re.fullmatch(OFFICER_ID_PATTERN, officer_id):
        raise ValidationError(f"not an officer id: expected {OFFICER_ID_FORM}", field="officer_id")


def check_pattern(pattern: str, where: str) -> str:
    """``pattern`` if it compiles as a regular expression; ValidationError naming ``where`` otherwise."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(f"not a valid regular expression: {exc}", field=where) from None
    return pattern
