"""The encoding hot path's shortcuts keep the spec's outputs (docs/spec.md, "Match keys", "Subkeys and
tokens"): keys come out sorted and distinct without a sort, and the copied SHA-256 states give
HMAC-SHA256 whichever SHA-256 implementation the interpreter offers.

``tests/unit/test_encoding_equivalence.py`` compares whole records with the path before the speed work;
these tests pin the invariants the shortcuts rely on, so a later change that breaks one fails here by
name.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib
import itertools
import random
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.encoding import simulate
from crossforce.encoding import matchkeys, tokens
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser, derive_subkey
from crossforce.testkit.realistic import RealisticSimulator
from tests.unit.test_encoding_equivalence import hostile_records

SECRET = bytes(range(7, 39))
TODAY = datetime.date(2026, 3, 1)


def _records() -> list[Record]:
    realistic = [r for _, r in RealisticSimulator(20260301, 2_000).iter_records()]
    return realistic + simulate(2_000, 3) + list(hostile_records(3_000, 15))


def _strictly_increasing(keys: list[bytes]) -> bool:
    return all(a < b for a, b in itertools.pairwise(keys))


def test_keys_come_out_sorted_and_distinct_without_a_sort() -> None:
    """canonical_keys returns a record's keys unsorted-by-hand for records without previous names: the
    name heads are kept in key-type order and sorted, the partial dates sorted. Cold then warm caches."""
    records = _records()
    assert sum(not r.previous_names for r in records) > 4_000
    for _ in range(2):
        for record in records:
            keys = matchkeys.canonical_keys(record, today=TODAY)
            assert _strictly_increasing(keys), record.record_id


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
_NAME = st.one_of(_TEXT, st.sampled_from(("John", "Jane", "Doe", "O'Brien", "van der Berg", "Smith-Jones")))


@settings(max_examples=300, deadline=None)
@given(given_names=_NAME, surname=_NAME, dob=_TEXT, postcode=_TEXT, previous=st.lists(_NAME, max_size=2))
def test_keys_of_arbitrary_text_are_sorted_and_distinct(
    given_names: str, surname: str, dob: str, postcode: str, previous: list[str]
) -> None:
    record = Record(
        record_id="r",
        given_names=given_names,
        surname=surname,
        date_of_birth=dob,
        postcode=postcode,
        previous_names=tuple(previous),
    )
    assert _strictly_increasing(matchkeys.canonical_keys(record, today=TODAY))


@pytest.mark.parametrize("dob", ["1980-03-05", "05/03/1980", "1980-13-05", "31/04/1975", "0980-03-05"])
def test_numeric_dates_give_the_same_tails_as_the_general_parser(dob: str) -> None:
    """The YYYY-MM-DD and DD/MM/YYYY shortcut reads numbers from tables; the general parser must agree,
    partial dates in the same (sorted) order."""
    fast = matchkeys._dob_tails(dob, TODAY)
    matchkeys._dob_tails.cache_clear()
    general = matchkeys._dob_tails.__wrapped__(f" {dob}", TODAY)  # the space defeats the shortcut
    assert fast == general


def test_copied_states_give_hmac_sha256_for_every_message_length() -> None:
    rng = random.Random(4)
    for _ in range(20):
        subkey = rng.randbytes(32)
        inner, outer = tokens.hmac_states(subkey)
        for n in range(0, 200, 7):
            message = rng.randbytes(n)
            h = inner.copy()
            h.update(message)
            o = outer.copy()
            o.update(h.digest())
            assert o.digest() == hmac.digest(subkey, message, "sha256")


def test_tokens_are_hmac_sha256_of_the_canonical_key() -> None:
    tokeniser = Tokeniser(secret=SECRET, epoch=3)
    for record in simulate(300, 8):
        keys = matchkeys.canonical_keys(record, today=TODAY)
        expected = [(k[3], hmac.digest(derive_subkey(SECRET, k[3], 3), k, "sha256")) for k in keys]
        assert tokeniser.record_tokens(record, today=TODAY) == expected


def test_without_cpythons_own_sha256_the_openssl_one_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in SHA-256 modules are private; an interpreter without them falls back to hashlib."""
    real_import = importlib.import_module

    def no_builtin(name: str, package: str | None = None) -> ModuleType:
        if name in ("_sha2", "_sha256"):
            raise ImportError(name)
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_builtin)
    assert tokens._copy_friendly_sha256() is hashlib.sha256
    monkeypatch.setattr(tokens, "_sha256", hashlib.sha256)
    record = simulate(1, 9)[0]
    fallback = Tokeniser(secret=SECRET, epoch=3).record_tokens(record, today=TODAY)
    monkeypatch.undo()
    assert Tokeniser(secret=SECRET, epoch=3).record_tokens(record, today=TODAY) == fallback
