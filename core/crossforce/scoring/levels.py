"""Per-field agreement levels implied by the key types that agreed at one force (spec v2, "Scoring").

Each key type vouches for some fields at some level (``KeyType.agrees``). A force's comparison vector is,
per field, the most specific level any agreeing type vouches for: nested keys (name_dob implies the
name_nodate and surname_dob of the same name) then never count the same agreement twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Final

from crossforce.encoding.keytypes import KEY_TYPES

LEVELS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "forename": ("exact", "phonetic", "fragment", "initial"),
        "surname": ("exact", "phonetic", "fragment"),
        "dob": ("full", "unordered", "partial", "year"),
        "location": ("postcode", "district"),
        "id": ("exact",),
    }
)
"""Each field's levels, most specific (rarest by chance) first; the order decides which level wins."""
NONE: Final = "none"
"""The level of a field the candidate's keys could have vouched for but no agreeing key did: the force's
record lacks the field or it disagrees. Only ``score(sent_types=...)`` produces it."""


def offered_fields(sent_types: Collection[int]) -> frozenset[str]:
    """Fields some key type the candidate sent could vouch for (a candidate without a date offers no dob)."""
    return frozenset(f for code in sent_types if code in KEY_TYPES for f in KEY_TYPES[code].agrees)


def agreement_levels(agreed_types: Collection[int], sent_types: Collection[int] = ()) -> dict[str, str]:
    """Field -> most specific level vouched for by any agreed type; fields nobody vouched for are absent.

    Unknown codes are ignored: the matcher validates key types before matching, and a score must never
    fail on a code a newer key table added. With ``sent_types`` (the candidate's key types), a field they
    offered that no agreeing type vouched for gets the level ``NONE``.
    """
    best: dict[str, str] = {}
    for code in agreed_types:
        key_type = KEY_TYPES.get(code)
        if key_type is None:
            continue
        for field, level in key_type.agrees.items():
            order = LEVELS[field]
            if field not in best or order.index(level) < order.index(best[field]):
                best[field] = level
    for field in offered_fields(sent_types) - best.keys():
        best[field] = NONE
    return best


def _implied_missing(levels: Mapping[str, str], agreed: Collection[int], sent: Collection[int]) -> bool:
    """A sent key type that one record agreeing at ``levels`` would have matched, yet did not agree.

    Only types whose every field sits at its field's top level (name_dob, name_nodate, surname_dob,
    forename_dob) are implied this surely; identifiers share the field ``id`` and imply nothing."""
    for code in set(sent) - set(agreed):
        key_type = KEY_TYPES.get(code)
        if key_type is None or "id" in key_type.agrees:
            continue
        if all(LEVELS[f][0] == lv and levels.get(f) == lv for f, lv in key_type.agrees.items()):
            return True
    return False


def explanations(agreed_types: Collection[int], sent_types: Collection[int] = ()) -> list[dict[str, str]]:
    """The agreement patterns a force's matches can stand for, best first to be scored as the max.

    A force's filter is a set over all its records, so the types that agreed may come from different
    records: a namesake's name (name_nodate) and another person's forename and date (forename_dob) look
    together like name and date agreeing, except that then name_dob would have agreed too. When the
    combined levels imply a sent type that did not agree, the pattern was assembled from two or more
    records, and only each agreeing type on its own is a pattern one record is known to show.
    """
    combined = agreement_levels(agreed_types, sent_types)
    if not sent_types or not _implied_missing(combined, agreed_types, sent_types):
        return [combined]
    return [agreement_levels((code,), sent_types) for code in sorted(set(agreed_types)) if code in KEY_TYPES]


def family(levels: Mapping[str, str]) -> str:
    """The pattern family of scored ``levels``: which fields agreed and which were offered yet agreed
    with nothing, e.g. ``"dob+forename+location-surname"`` (a changed surname, same forename, date and
    area). Calibration is fitted per family (``ScoringParams.family_calibration``) because how far the
    independence assumption is off depends on which fields disagree: a forename and date agreeing
    without the surname is most often a married name, a name agreeing without the date a namesake."""
    agreed = sorted(f for f, level in levels.items() if level != NONE)
    missing = sorted(f for f, level in levels.items() if level == NONE)
    return "+".join(agreed) + "".join(f"-{f}" for f in missing)
