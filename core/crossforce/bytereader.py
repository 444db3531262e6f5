"""Reading a canonical length-prefixed encoding front to back (pure).

Why one reader: the audit log's events and the officer assertion are both length-prefixed byte
strings that a hostile party may hand us; each short read, over-long field, bad UTF-8 or trailing byte
must be a ``ValidationError`` that says what was wrong, never an ``IndexError`` or a silent truncation.
"""

from __future__ import annotations

import struct

from crossforce.errors import ValidationError


class ByteReader:
    """Reads ``data`` in order; ``subject`` names the whole (``event``, ``officer assertion``) in errors."""

    def __init__(self, data: bytes, subject: str) -> None:
        self._data = data
        self._subject = subject
        self._at = 0

    def take(self, n: int, what: str) -> bytes:
        """The next ``n`` bytes, or ValidationError if fewer are left."""
        if n > len(self._data) - self._at:
            raise ValidationError(f"{self._subject} truncated in {what}")
        chunk = self._data[self._at : self._at + n]
        self._at += n
        return chunk

    def field(self, length: struct.Struct, limit: int, what: str) -> bytes:
        """A field prefixed by its length in ``length``'s format, at most ``limit`` bytes."""
        (n,) = length.unpack(self.take(length.size, what))
        if n > limit:
            raise ValidationError(f"{what} is {n} bytes, more than {limit}")
        return self.take(n, what)

    def text(self, length: struct.Struct, limit: int, what: str) -> tuple[bytes, str]:
        """A length-prefixed UTF-8 field: its raw bytes (for canonical-order checks) and its text."""
        raw = self.field(length, limit, what)
        try:
            return raw, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what} is not valid UTF-8") from exc

    def done(self) -> bool:
        """Whether every byte was read (a canonical encoding has none left over)."""
        return self._at == len(self._data)
