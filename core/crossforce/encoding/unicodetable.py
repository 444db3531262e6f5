"""The spec's own Unicode 14.0.0 table: every character property the encoders use, per code point.

Why not ``unicodedata``, ``str.casefold`` or ``re``'s ``\\w``: they follow the running interpreter's
Unicode version (14.0 on Python 3.11, 15.0 on 3.12, 15.1 on 3.13), so forces on different Pythons, or in
other languages, would fold rare characters differently and silently miss each other's people. The table
(``data/unicode-14.0.0.txt``, written by ``scripts/make_unicode_tables.py``) is part of the spec: its
SHA-256 is checked before use, and it is read once, on first use.

Each column is exposed as a mapping for ``str.translate``; lookups of code points outside ASCII are
remembered up to ``CACHE_LIMIT`` per column, so memory stays bounded whatever text arrives.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import repeat
from types import MappingProxyType
from typing import Final, Literal

from crossforce.errors import VerificationError

UNICODE_VERSION: Final = "14.0.0"
TABLE_FILE: Final = "unicode-14.0.0.txt"
TABLE_SHA256: Final = "3f95d7b2f8faadc73bf6ab43b4b8cc932f0014e9e3ae12b3dab1e0fcb7a68020"
TABLE_FORMAT: Final = "crossforce-unicode-table 1"
CODE_POINTS: Final = 0x110000
CACHE_LIMIT: Final = 1 << 16
"""Remembered lookups per column: the scripts a force's names use fit many times over."""

Column = Literal["fold", "pnc", "date"]


@dataclass(frozen=True, slots=True)
class UnicodeTable:
    """The parsed table: ``starts[i]`` is the first code point of range ``i``; each column holds, per
    range, the table's text for the output of every code point in it, decoded when first looked up."""

    header: MappingProxyType[str, str]
    starts: tuple[int, ...]
    columns: MappingProxyType[str, tuple[str, ...]]
    classes: tuple[str, ...]

    def value(self, column: Column, cp: int) -> str:
        """What ``column`` maps code point ``cp`` to."""
        out = _decode(self.columns[column][bisect_right(self.starts, cp) - 1])
        return chr(cp) if out is None else out

    def has_class(self, cls: Literal["s", "w"], cp: int) -> bool:
        """Whether ``cp`` is whitespace ("s") or a word character ("w", what ``\\w`` means in the spec)."""
        return cls in self.classes[bisect_right(self.starts, cp) - 1]


@lru_cache(maxsize=4096)
def _decode(field: str) -> str | None:
    """A value's text: "=" the code point itself (None), "-" nothing, else hex code points."""
    if field == "=":
        return None
    if field == "-":
        return ""
    return "".join(chr(int(h, 16)) for h in field.split(" "))


def parse_table(data: bytes) -> UnicodeTable:
    """Parse table bytes (hash not checked here: ``table`` does it). Raises ``VerificationError`` when
    a line is malformed or the ranges do not cover every code point exactly once, in order.

    Column by column rather than line by line: several times faster, and this runs at start-up."""
    lines = data.decode("utf-8").split("\n")
    header: dict[str, str] = {}
    body = 0
    while body < len(lines) and lines[body].startswith("#"):
        key, sep, val = lines[body][1:].strip().partition(": ")
        if sep:
            header[key] = val
        body += 1
    rows = [line.split("\t") for line in lines[body:] if line]
    if not rows or any(len(row) != 6 for row in rows):
        raise VerificationError("Unicode table has a malformed line")
    firsts, lasts, fold, pnc, date, classes = zip(*rows, strict=True)
    try:
        starts = tuple(map(int, firsts, repeat(16)))
        ends = tuple(map(int, lasts, repeat(16)))
    except ValueError:
        raise VerificationError("Unicode table has a code point that is not hexadecimal") from None
    if starts[0] != 0 or ends[-1] != CODE_POINTS - 1 or [e + 1 for e in ends[:-1]] != list(starts[1:]):
        raise VerificationError("Unicode table ranges do not cover every code point once, in order")
    if any(e < s for s, e in zip(starts, ends, strict=True)):
        raise VerificationError("Unicode table has an empty range")
    return UnicodeTable(
        header=MappingProxyType(header),
        starts=starts,
        columns=MappingProxyType({"fold": fold, "pnc": pnc, "date": date}),
        classes=classes,
    )


def table_bytes() -> bytes:
    """The table file as shipped in the package."""
    return resources.files("crossforce.encoding").joinpath("data").joinpath(TABLE_FILE).read_bytes()


@lru_cache(maxsize=1)
def table() -> UnicodeTable:
    """The verified table, loaded on first use. A table whose SHA-256 is not ``TABLE_SHA256`` (edited,
    truncated, another version) is refused: tokens from it would silently disagree with other forces."""
    data = table_bytes()
    if hashlib.sha256(data).hexdigest() != TABLE_SHA256:
        raise VerificationError(f"{TABLE_FILE} does not match its SHA-256 in the spec")
    parsed = parse_table(data)
    if parsed.header.get("unicode") != UNICODE_VERSION or parsed.header.get("format") != TABLE_FORMAT:
        raise VerificationError(f"{TABLE_FILE} is not a Unicode {UNICODE_VERSION} table")
    return parsed


class Translation(dict[int, str]):
    """One column as a ``str.translate`` mapping, filled on demand (the table loads on the first miss).

    Only the first ``CACHE_LIMIT`` distinct code points are remembered: a stream of every code point
    costs a lookup each, never unbounded memory."""

    __slots__ = ("_ascii", "_column")

    def __init__(self, column: Column) -> None:
        super().__init__()
        self._column: Column = column
        self._ascii: tuple[bytes, bytes] | None = None

    def __missing__(self, cp: int) -> str:
        out = table().value(self._column, cp)
        if len(self) < CACHE_LIMIT:
            self[cp] = out
        return out

    def ascii_table(self) -> tuple[bytes, bytes]:
        """This column's ASCII rows as ``bytes.translate`` arguments: (table, bytes to delete).

        For text that is all ASCII (most names and identifiers) one byte-level translation does what
        ``str.translate`` with this mapping does, several times faster. Every column maps each ASCII
        code point to one ASCII character or to nothing; a table where one did not is refused."""
        if self._ascii is None:
            rows, delete = bytearray(range(256)), bytearray()
            for cp in range(128):
                out = self[cp]
                if not out:
                    delete.append(cp)
                elif len(out) == 1 and out.isascii():
                    rows[cp] = ord(out)
                else:
                    raise VerificationError(f"{TABLE_FILE} maps an ASCII code point outside ASCII")
            self._ascii = (bytes(rows), bytes(delete))
        return self._ascii


FOLD: Final = Translation("fold")
"""fold_text steps 1-6 per code point (docs/spec.md "Text folding"); spaces still to be collapsed."""
PNC: Final = Translation("pnc")
"""The PNC ID clean-up per code point: NFKC, upper case, only ``A-Z``, ``0-9`` and ``/`` kept."""
DATE: Final = Translation("date")
"""NFKC then casefold per code point when that is ASCII, else the code point itself (no date pattern
matches a non-ASCII code point)."""


ASCII_WHITESPACE: Final = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
"""The table's whitespace within ASCII (a test checks it), for fast paths that never load the table."""


@lru_cache(maxsize=1)
def whitespace() -> str:
    """Every whitespace code point (White_Space, and U+001C..U+001F as Python counts them), for
    ``str.strip``; ``str.strip()`` without it would follow the interpreter's table."""
    t = table()
    return "".join(
        chr(cp)
        for start, end, cls in zip(t.starts, (*t.starts[1:], CODE_POINTS), t.classes, strict=True)
        if "s" in cls
        for cp in range(start, end)
    )


def is_word(ch: str) -> bool:
    """Letter, number (general category L* or N*) or underscore: ``\\w`` as the spec means it."""
    return table().has_class("w", ord(ch))
