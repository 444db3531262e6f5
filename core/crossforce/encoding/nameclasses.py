"""Name classes: how common a candidate's forename and surname are (docs/spec.md, spec v2, "Name classes").

The client sends the class of the candidate's current first forename and surname with each check, and
the matcher uses them only in the u-probabilities of its score: a hit on "John Smith" and a date of
birth is far weaker evidence than a hit on a rare name and the same date. A class (0 commonest .. 5
unlisted) says little about a person (thousands share each), and never the name itself.

The tables (``data/v2/forename-classes.tsv``, ``surname-classes.tsv``, written by
``scripts/make_name_classes.py --classes`` from ONS shares published through faker) are spec data:
every force must class alike, so their SHA-256 is pinned here and a changed table is refused. Names are
looked up by the spec's own folding (``normalise``), so no runtime Unicode tables are involved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final

from crossforce.encoding.normalise import normalise_given_names, normalise_surname
from crossforce.encoding.phonetic import canonical_forename
from crossforce.encoding.placeholders import is_placeholder_doe
from crossforce.encoding.records import Record
from crossforce.errors import VerificationError

__all__ = [
    "CLASS_TABLE_SHA256",
    "NAME_CLASS_COMMONEST",
    "NAME_CLASS_UNLISTED",
    "forename_class",
    "name_classes",
    "surname_class",
]

NAME_CLASS_COMMONEST: Final = 0
"""At least 0.5% of people; also the class of a missing name (the conservative choice: it can only
lower a probability)."""
NAME_CLASS_UNLISTED: Final = 5
"""A name the table does not list: rarer than any listed one."""

FORENAME_TABLE: Final = "forename-classes.tsv"
SURNAME_TABLE: Final = "surname-classes.tsv"
CLASS_TABLE_SHA256: Final[Mapping[str, str]] = MappingProxyType(
    {
        FORENAME_TABLE: "9a755e6d137e7df9076e08304dc959593706494e6c0556a02d426dff817211ba",
        SURNAME_TABLE: "b4c6b0f5c5884e1d5b2c95473a91a3915c88321f990617eba5f21cdf8bf89d29",
    }
)
"""SHA-256 of each shipped table, as the spec states them: a force whose table differs classes names
differently, so it is refused rather than used."""


def table_bytes(name: str) -> bytes:
    """A class table file as shipped in the package."""
    return resources.files("crossforce.encoding").joinpath("data", "v2", name).read_bytes()


def parse_classes(data: bytes) -> Mapping[str, int]:
    """``folded-name<TAB>class`` lines (``#`` lines are the header) as a mapping."""
    table: dict[str, int] = {}
    for line in data.decode("utf-8").split("\n"):
        if line and not line.startswith("#"):
            name, cls = line.split("\t")
            table[name] = int(cls)
    return MappingProxyType(table)


@lru_cache(maxsize=2)
def _table(name: str) -> Mapping[str, int]:
    data = table_bytes(name)
    if hashlib.sha256(data).hexdigest() != CLASS_TABLE_SHA256[name]:
        raise VerificationError(f"{name} does not match its SHA-256 in the spec")
    return parse_classes(data)


@lru_cache(maxsize=1 << 14)
def forename_class(given_names: str) -> int:
    """Class of canon(F1), the first full forename of ``given_names``; 0 when there is none."""
    full = [g for g in normalise_given_names(given_names) if len(g) > 1]
    if not full:
        return NAME_CLASS_COMMONEST
    return _table(FORENAME_TABLE).get(canonical_forename(full[0]), NAME_CLASS_UNLISTED)


@lru_cache(maxsize=1 << 14)
def surname_class(surname: str, given_names: str = "") -> int:
    """Class of the compact surname S; 0 when it is missing or a placeholder ("Doe" beside John or
    Jane, hence ``given_names``)."""
    parsed = normalise_surname(surname)
    if parsed is None:
        return NAME_CLASS_COMMONEST
    given = normalise_given_names(given_names)
    if is_placeholder_doe(parsed[0], given[0] if given else None):
        return NAME_CLASS_COMMONEST
    return _table(SURNAME_TABLE).get(parsed[0], NAME_CLASS_UNLISTED)


def name_classes(record: Record) -> tuple[int, int]:
    """(forename class, surname class) of the record's current name: what ``Candidate`` carries.

    Each is the commonest (lowest) class among the names a key may have agreed on: the first two full
    forenames (``name_dob`` and ``name_nodate`` key F2 too) and every surname variant (a part of a
    compound surname). The class of F1 and of the whole surname alone would call "Lincoln Daniel
    Williams" rare when it met a "Daniel Williams", and overstate the probability of a namesake.
    """
    full = [g for g in normalise_given_names(record.given_names) if len(g) > 1]
    forename = min((forename_class(g) for g in full[:2]), default=NAME_CLASS_COMMONEST)
    parsed = normalise_surname(record.surname)
    variants = parsed[2] if parsed is not None else ()
    surname = min(
        (surname_class(v, record.given_names) for v in variants),
        default=surname_class(record.surname, record.given_names),
    )
    return forename, surname
