"""Forename and surname equivalences the keys rely on: Soundex and the spec's nickname table.

Both are part of the published spec (docs/spec.md, "Phonetic code", "Nickname table"): a force that codes
names differently produces different tokens and its people are silently missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final

# --- Phonetic code and nickname table ------------------------------------------------------------------

_SOUNDEX_CODES: Final = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
    **dict.fromkeys("aeiouy", ""),
}


@lru_cache(maxsize=1 << 16)
def soundex(word: str) -> str:
    """American Soundex (US National Archives rules, H and W transparent) of the a-z letters of ``word``.

    Returns "" when ``word`` has no a-z letter. Chosen over NYSIIS and Metaphone because typos, the
    commonest error in keyed records, keep the Soundex code about twice as often, and keys that use it
    also carry a full date of birth, so its coarser codes cost little precision.
    """
    letters = [c for c in word if "a" <= c <= "z"]
    if not letters:
        return ""
    first = letters[0]
    out = [first.upper()]
    last = _SOUNDEX_CODES.get(first, "")
    for c in letters[1:]:
        if c in "hw":
            continue
        code = _SOUNDEX_CODES[c]
        if code and code != last:
            out.append(code)
            if len(out) == 4:
                break
        last = code
    return "".join(out).ljust(4, "0")


def _load_nicknames() -> Mapping[str, str]:
    table: dict[str, str] = {}
    text = resources.files("crossforce.data").joinpath("nicknames.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            variant, canonical = line.split("\t")
            table[variant] = canonical
    return MappingProxyType(table)


_NICKNAMES: Final = _load_nicknames()


def nickname_table_names() -> frozenset[str]:
    """Every folded forename the nickname table lists (variants and canonical forms): a list of real
    forenames, which the matcher uses to refuse justification text that names a person."""
    return frozenset(_NICKNAMES) | frozenset(_NICKNAMES.values())


def canonical_forename(name: str) -> str:
    """The nickname table's canonical form of a folded forename (Bill, Billy, Will -> william)."""
    return _NICKNAMES.get(name, name)
