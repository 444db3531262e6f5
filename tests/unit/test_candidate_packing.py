"""What a check sends for a record: its tokens packed a block per epoch, and its name classes.

Nothing in a packed candidate may say more than the tokens and the two classes; the classes must be the
spec's (``nameclasses``), since the matcher's probability for a hit depends on them.
"""

from __future__ import annotations

from crossforce.client.checking import packed_candidate
from crossforce.domain import NAME_CLASS_COMMONEST, NAME_CLASS_UNLISTED
from crossforce.encoding.nameclasses import name_classes
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser

RARE = Record(record_id="r", given_names="Jane Ann", surname="Thornbury", date_of_birth="1984-03-17")
COMMON = Record(record_id="c", given_names="John", surname="Smith", date_of_birth="1970-01-02")
KEYLESS = Record(record_id="k", given_names="Baby Boy", surname="X", date_of_birth="2020")
TOKENISERS = [Tokeniser(secret=bytes([e]) * 32, epoch=e) for e in (4, 5)]


def test_tokens_are_packed_one_block_per_epoch_in_the_order_made() -> None:
    candidate = packed_candidate(RARE, TOKENISERS)
    assert candidate is not None
    assert [b.epoch for b in candidate.blocks] == [4, 5]
    for block, tokeniser in zip(candidate.blocks, TOKENISERS, strict=True):
        made = tokeniser.record_tokens(RARE)
        assert block.key_types == bytes(kt for kt, _ in made)
        assert block.tokens == b"".join(tok for _, tok in made)


def test_candidate_carries_the_spec_name_classes_of_the_record() -> None:
    rare, common = packed_candidate(RARE, TOKENISERS), packed_candidate(COMMON, TOKENISERS)
    assert rare is not None and common is not None
    assert (rare.forename_class, rare.surname_class) == name_classes(RARE)
    assert rare.surname_class == NAME_CLASS_UNLISTED
    assert (common.forename_class, common.surname_class) == (NAME_CLASS_COMMONEST, NAME_CLASS_COMMONEST)


def test_record_with_no_match_key_is_not_packed_at_all() -> None:
    assert packed_candidate(KEYLESS, TOKENISERS) is None
    assert packed_candidate(RARE, []) is None
