"""A force's nominal record as the record file format (docs/records.md) defines it.

Only record_id, surname and one of given_names or an identifier are required; every other field may
be empty. Values here are raw (as the force holds them); normalisation happens in
``crossforce.encoding.normalise`` and never changes what is stored locally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIELDS: tuple[str, ...] = (
    "record_id",
    "given_names",
    "surname",
    "date_of_birth",
    "sex",
    "previous_names",
    "pnc_id",
    "ni_number",
    "passport_number",
    "driving_licence",
    "postcode",
)
IDENTIFIER_FIELDS: tuple[str, ...] = ("pnc_id", "ni_number", "passport_number", "driving_licence")


@dataclass(frozen=True, kw_only=True)
class Record:
    record_id: str
    surname: str
    given_names: str = ""
    date_of_birth: str = ""
    sex: str = ""
    previous_names: tuple[str, ...] = field(default_factory=tuple)
    """Each a full previous name ("Given Names Surname" or just a surname), e.g. a maiden name."""
    pnc_id: str = ""
    ni_number: str = ""
    passport_number: str = ""
    driving_licence: str = ""
    postcode: str = ""


def payload_fields(record: Record) -> dict[str, str]:
    """A record as the non-empty text fields a disclosure payload carries (previous names joined by "; ")."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(record, name)
        text = "; ".join(value) if isinstance(value, tuple) else str(value)
        if text:
            out[name] = text
    return out
