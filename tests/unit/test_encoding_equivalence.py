"""The fast encoding path gives the same tokens as the path before the speed work, byte for byte.

``bench.encoding_before`` is a frozen copy of the modules the speed work changed. Each record here is
encoded by both, with cold and then warm caches (a cache that returned a value computed for another
input would show on the second pass, which takes today's date from the clock). The
records: the realistic profile's held records and vetting queries (real name frequencies and errors),
the bench's synthetic force file, and a hostile corpus of the inputs the normalisation rules exist for
(placeholders, particles, apostrophes, every kind of space and hyphen, full-width and composed
characters, malformed dates and identifiers) mixed at random, plus hypothesis's arbitrary text.
"""

from __future__ import annotations

import datetime
import random
import sys
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.encoding import simulate
from bench.encoding_before import identifiers as identifiers_before
from bench.encoding_before import matchkeys as matchkeys_before
from bench.encoding_before import text as text_before
from bench.encoding_before import tokens as tokens_before
from crossforce.clock import DAY_MS, utc_today
from crossforce.encoding import identifiers, matchkeys, text
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import ValidationError
from crossforce.testkit.realistic import RealisticSimulator

SECRET = bytes(range(1, 33))
EPOCH = 7
TODAY = datetime.date(2026, 3, 1)

NAMES = (
    "",
    " ",
    "Unknown",
    "UNK",
    "unk",
    "N/K",
    "n.k.",
    "N K",
    "N. K.",
    "NFA",
    "n/f/a",
    "No Fixed Abode",
    "x",
    "X",
    "Female Child",
    "Baby Boy",
    "Unnamed Male",
    "Baby Jane",
    "Of The House",
    "Person",
    "John",
    "Jane",
    "Doe",
    "Mr",
    "Dr",
    "Jr",
    "iii",
    "O'Brien",
    "O\u2019Brien",
    "D'Souza",
    "d\u00b4souza",
    "M'Donald",
    "Mac Donald",
    "McDonald",
    "van der Berg",
    "Van Der",
    "de la Cruz",
    "St. John",
    "Saint",
    "Ste",
    "Garc\u00eda y L\u00f3pez",
    "Silva e Santos",
    "Anne-Marie",
    "Jean\u2010Luc",
    "Smith\u2014Jones",
    "Smith-Jones",
    "al-Hassan",
    "bin",
    "Fitz Gerald",
    "\u00d8deg\u00e5rd",
    "Zo\u00eb",
    "Zoe\u0308",
    "stra\u00dfe",
    "\u0130smail",
    "\ufb01ona",
    "\uff2a\uff4f\uff48\uff4e",
    "Nguy\u1ec5n",
    "\u674e",
    "\u041c\u0430\u0440\u0438\u044f",
    "\u0645\u062d\u0645\u062f",
    "\u0301",
    "a\u0301",
    "l\u00b7l",
    "`",
    "\u00b4",
    "\u200b",
    "\u200f",
    "\u00a0",
    "\u2003",
    "\x1c",
    "\t",
    "\U0001f600",
    "Bill",
    "William",
    "Billy",
    "Peggy",
    "Jak",
    "Jack",
    "Kate",
    "Muhammad",
    "Mohammed",
    "Li",
    "A",
    "Smith",
    "SMITH",
    "smith",
    "Jones",
    "Williams",
    "Patel",
    "Kowalski",
    "Ng",
    "O",
    "Mc",
)
DATES = (
    "",
    " ",
    "unknown",
    "1980-03-05",
    " 1980-03-05 ",
    "1980-02-30",
    "1980-02-29",
    "1981-02-29",
    "30/02/1980",
    "1980-13-05",
    "13/05/1980",
    "05/13/1980",
    "19800305",
    "05031980",
    "5 Mar 1980",
    "March 5th, 1980",
    "5th March 1980",
    "1980-03",
    "03/1980",
    "1899-12-31",
    "1900-01-01",
    "2100-01-01",
    "0000-00-00",
    "\uff11\uff19\uff18\uff10-\uff10\uff13-\uff10\uff15",
    "1980-03-05T10:00:00Z",
    "1980.3.5",
    "2026-03-01",
    "2026-03-02",
    "1980-00-05",
    "1980-03-00",
    "31/04/1975",
    "12/12/2012",
    "1980/03/05",
    "1980-3-5",
    "80-03-05",
)
POSTCODES = (
    "",
    "LS1 4AB",
    "ls14ab",
    "SW1A 1AA",
    "  sw1a1aa ",
    "XX",
    "00000",
    "12345",
    "ZZ99 9ZZ",
    "LS1",
    "N/A",
    "\uff2c\uff33\uff11 \uff14\uff21\uff22",
    "M1 1AA",
    "EC1A 1BB",
    "B33 8TH",
    "CR2 6XH",
    "DN55 1PT",
    "unknown",
)
IDENTIFIERS = {
    "pnc_id": ("", "1985/0001234", "85/1234", "1985/0000000Z", "19850001234", "NK", "unknown", "2001/12X"),
    "ni_number": ("", "AB123456C", "ab 12 34 56 c", "QQ123456C", "AB111111C", "AB123456", "n/a", "AB12"),
    "passport_number": ("", "123456789", "000000000", "AB12345", "1", "\uff11\uff12\uff13\uff14\uff15\uff16"),
    "driving_licence": ("", "MORGA753116SM9IJ", "MORGA753116SM9IJ35", "12345678", "11111111", "xx"),
}


def _pnc(rng: random.Random) -> str:
    year, serial = rng.randrange(100), rng.randrange(10**7)
    return f"{year:02d}/{serial}" + "ZABCDEFGHJKLMNPQRTUVWXY"[int(f"{year:02d}{serial:07d}") % 23]


def _text(rng: random.Random, pool: Sequence[str], most: int) -> str:
    sep = rng.choice((" ", "  ", "-", "\u00a0", ", ", "\t", ""))
    return sep.join(rng.choice(pool) for _ in range(rng.randrange(most + 1)))


def _noise(rng: random.Random) -> str:
    """Code points from anywhere in Unicode (no surrogates), a few at a time."""
    return "".join(
        chr(rng.choice((rng.randrange(0x80), rng.randrange(0xD800)))) for _ in range(rng.randrange(6))
    )


def hostile_records(n: int, seed: int) -> Iterator[Record]:
    rng = random.Random(seed)
    for i in range(n):
        noisy = rng.random() < 0.15
        ids = {kind: rng.choice(values) for kind, values in IDENTIFIERS.items()}
        if rng.random() < 0.3:
            ids["pnc_id"] = _pnc(rng)
        yield Record(
            record_id=f"h{i}",
            given_names=_noise(rng) if noisy else _text(rng, NAMES, 4),
            surname=_noise(rng) if noisy and rng.random() < 0.5 else _text(rng, NAMES, 3),
            date_of_birth=rng.choice(DATES) if rng.random() < 0.9 else _noise(rng),
            previous_names=tuple(_text(rng, NAMES, 4) for _ in range(rng.choice((0, 0, 1, 2, 6)))),
            postcode=rng.choice(POSTCODES) if rng.random() < 0.9 else _noise(rng),
            **ids,
        )


def _clear_caches() -> None:
    for name, module in list(sys.modules.items()):
        if name.startswith(("crossforce.encoding", "bench.encoding_before")) and not name.endswith(
            ("unicodetable", "nameclasses")
        ):
            for value in vars(module).values():
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


def _assert_same_tokens(records: Sequence[Record]) -> None:
    """Cold caches with today's date given, then warm caches with the date from the clock."""
    new = Tokeniser(secret=SECRET, epoch=EPOCH)
    old = tokens_before.Tokeniser(secret=SECRET, epoch=EPOCH)
    _clear_caches()
    for today in (TODAY, None):
        for record in records:
            assert new.record_tokens(record, today=today) == old.record_tokens(record, today=today), (
                today,
                record.record_id,
            )


@pytest.fixture(scope="module")
def realistic() -> RealisticSimulator:
    return RealisticSimulator(20260301, 5_000)


def test_realistic_records_and_queries_give_the_same_tokens(realistic: RealisticSimulator) -> None:
    held = [r for _, r in realistic.iter_records()]
    rng = random.Random(5)
    people = sorted(realistic.people())
    queries = [realistic.sighting(rng.choice(people), rng) for _ in range(1_000)]
    absent = [realistic.absent_person(rng) for _ in range(500)]
    assert len(held) > 4_000
    _assert_same_tokens(held + queries + absent)


def test_synthetic_force_file_gives_the_same_tokens() -> None:
    _assert_same_tokens(simulate(2_000, 20240601))


def test_hostile_corpus_gives_the_same_tokens_and_keys() -> None:
    records = list(hostile_records(4_000, 14))
    _assert_same_tokens(records)
    for record in records:
        assert matchkeys.key_bytes(record, today=TODAY) == matchkeys_before.key_bytes(record, today=TODAY)


def test_ascii_byte_tables_fold_every_ascii_code_point_as_the_unicode_table() -> None:
    """fold_text, the identifier clean-up and the PNC clean-up read ASCII text through byte tables made
    from the spec's Unicode table: each ASCII code point, alone and between letters, as before."""
    for cp in range(128):
        for s in (chr(cp), f"a{chr(cp)}B", f"{chr(cp)} 9{chr(cp)}"):
            assert text.fold_text(s) == text_before.fold_text(s)
            assert identifiers._strip_id(s) == identifiers_before._strip_id(s)
            for pnc in (f"85/1234{s}", f"{s}1985/0001234X"):
                assert _pnc_or_error(identifiers.normalise_identifier, pnc) == _pnc_or_error(
                    identifiers_before.normalise_identifier, pnc
                )


def _pnc_or_error(normalise: Callable[[str, str], str | None], value: str) -> str | None:
    try:
        return normalise("pnc_id", value)
    except ValidationError as exc:
        return f"error: {exc}"


def test_remembered_utc_today_is_the_clocks_date_on_each_side_of_midnight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """canonical_keys takes today's date from a per-day memo of the clock: it must turn at midnight UTC."""
    today = matchkeys._UtcToday()
    midnight = 20_000 * DAY_MS
    for now in (midnight - 1, midnight, midnight + DAY_MS - 1, midnight - 1):
        monkeypatch.setattr(matchkeys, "now_ms", lambda now=now: now)
        assert today() == datetime.datetime.fromtimestamp(now / 1000, datetime.UTC).date()
    monkeypatch.undo()
    assert today() in {utc_today(), utc_today() - datetime.timedelta(days=1)}


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(given_names=_TEXT, surname=_TEXT, dob=_TEXT, postcode=_TEXT, previous=st.lists(_TEXT, max_size=3))
def test_arbitrary_text_gives_the_same_tokens(
    given_names: str, surname: str, dob: str, postcode: str, previous: list[str]
) -> None:
    record = Record(
        record_id="r",
        given_names=given_names,
        surname=surname,
        date_of_birth=dob,
        postcode=postcode,
        previous_names=tuple(previous),
        pnc_id=dob,
        ni_number=postcode,
    )
    new = Tokeniser(secret=SECRET, epoch=EPOCH).record_tokens(record, today=TODAY)
    assert new == tokens_before.Tokeniser(secret=SECRET, epoch=EPOCH).record_tokens(record, today=TODAY)
