"""The realistic error model: each way a record goes wrong, at a stated rate per (query, held record) pair.

``ERROR_KINDS`` is the table of docs/plans/spec-v2.md section 2: every kind has a rate, the side of the
pair it is written on (the force's held record or the vetting query) and a source tag: [F] a published
figure, [P] a proposal to be checked against outcomes. What each kind does to a record, and which
records it can happen to, is ``mistakes.CHANGES``. ``apply_errors`` draws every kind independently (not
"one or two errors of weighted kinds") and returns the kinds it applied, so a benchmark can report
recall per kind and a test can check each observed rate.

A kind's rate is the chance it happens to a record it can happen to (a middle name used as the first
name needs a middle name): ``Tally`` counts both, so the rates are auditable.

Invariants: the same ``random.Random`` state gives the same errors; the draw for every kind is made
whether or not it applies, so one kind's eligibility never shifts another's draws.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from crossforce.encoding.records import Record
from crossforce.testkit.realistic.mistakes import CHANGES, Applies, Apply, Context, RecordClass

__all__ = [
    "ERROR_KINDS",
    "KINDS_BY_NAME",
    "Context",
    "ErrorKind",
    "RecordClass",
    "Side",
    "Tally",
    "apply_errors",
]

Side = Literal["held", "query"]


@dataclass(frozen=True)
class ErrorKind:
    name: str
    side: Side
    rate: float
    """Chance per pair for a record it applies to (for men when ``rate_female`` is set)."""
    source: str
    """[F] figure with its source, or [P] proposal with its reasoning."""
    rate_female: float | None = None

    @property
    def applies(self) -> Applies:
        return CHANGES[self.name][0]

    @property
    def apply(self) -> Apply:
        return CHANGES[self.name][1]

    def rate_for(self, context: Context) -> float:
        return self.rate_female if context.female and self.rate_female is not None else self.rate


ERROR_KINDS: tuple[ErrorKind, ...] = (
    # Whole fields first, then spellings, so a misspelling lands on the name that is finally written.
    ErrorKind("held_no_dob", "held", 0.25,
              "[P] intelligence records (30% of held) without a date; tuned so v1 misses from a missing date "
              "are ~60% of 1 in 7 [F, issue 14]"),
    ErrorKind("placeholder_forename", "held", 0.005, "[P] issue 14's examples (Female Child, Male, Baby)"),
    ErrorKind("alias_forename", "held", 0.008, "[P] another given name"),
    ErrorKind("middle_name_as_forename", "held", 0.012,
              "[P] NHS forename no-agreement 0.6% [F, CRATE FuzzyDefaults] doubled for verbal reporting"),
    ErrorKind("nickname", "held", 0.03, "[P] diminutive or formal form"),
    ErrorKind("transliteration", "held", 0.15,
              "[P] another romanisation, for names that reach English through another script"),
    ErrorKind("names_swapped", "held", 0.007, "[P] forename and surname in each other's boxes"),
    ErrorKind("surname_unrecorded", "held", 0.0134,
              "[F] CRATE surname no-agreement: men 1.34%, women 5.67% (marriage)", rate_female=0.0567),
    ErrorKind("surname_alias", "held", 0.003,
              "[P] a parent's or partner's surname; existence [F, Bichard Inquiry 2004 s1.358]"),
    ErrorKind("placeholder_surname", "held", 0.003, "[P] Unk, an initial, Of The House"),
    ErrorKind("compound_surname_part", "held", 0.012,
              "[P] one half of a double-barrelled name, or the particle (O', Van, De) dropped"),
    ErrorKind("keyboard_typo_forename", "held", 0.01,
              "[F] CRATE forename partial agreement 0.84-0.89% + [P]"),
    ErrorKind("keyboard_typo_surname", "held", 0.01, "[F] CRATE surname partial 0.25-0.55% + [P]"),
    ErrorKind("phonetic_forename", "held", 0.015,
              "[P] written as heard; rules after GeCo/FEBRL [F, Christen & Pudjijono 2009]"),
    ErrorKind("phonetic_surname", "held", 0.015, "[P] as phonetic_forename"),
    ErrorKind("ocr_confusion", "held", 0.003,
              "[P] rate; confusions from FEBRL's OCR table [F, Pudjijono 2008]"),
    ErrorKind("dob_one_part_wrong", "held", 0.0046, "[F] CRATE: DOB not exact 0.49% x 93.3% partial"),
    ErrorKind("day_month_swap", "held", 0.003, "[P] US/UK order"),
    ErrorKind("year_off", "held", 0.003, "[P] +-1 (age sums) or +-10 (a misread digit)"),
    ErrorKind("dob_borrowed", "held", 0.005, "[P] issue 14: a household member's date"),
    ErrorKind("dob_shifted_years", "held", 0.003, "[P] an age turned into a date"),
    ErrorKind("postcode_moved", "held", 0.30,
              "[P] 40% disagree, between [F] CRATE 30% (NHS) and Hagger-Johnson 2017 53% (HES): 30% moved"),
    ErrorKind("postcode_missing", "held", 0.10, "[P] as postcode_moved: the other 10% missing"),
    ErrorKind("accents_dropped", "held", 0.5, "[P] ASCII-only force systems"),
    ErrorKind("upper_case", "held", 0.3, "[P] legacy systems export in capitals"),
    ErrorKind("query_no_dob", "query", 0.01, "[P] vetting applicants supply a date"),
    ErrorKind("identifier_typo", "query", 0.02, "[P] an NI or passport digit mistyped"),
)  # fmt: skip
"""Every kind of error, in the order they are drawn and applied."""

KINDS_BY_NAME: Mapping[str, ErrorKind] = {kind.name: kind for kind in ERROR_KINDS}


@dataclass
class Tally:
    """Per kind: records it applied to (``eligible``) and times it was applied, to audit the rates."""

    eligible: Counter[str] = dataclasses.field(default_factory=Counter)
    applied: Counter[str] = dataclasses.field(default_factory=Counter)
    female_eligible: Counter[str] = dataclasses.field(default_factory=Counter)
    female_applied: Counter[str] = dataclasses.field(default_factory=Counter)


def apply_errors(
    record: Record, context: Context, rng: random.Random, side: Side, tally: Tally | None = None
) -> tuple[Record, list[str]]:
    """Draw every kind of ``side`` independently at its rate; apply those that apply to the record."""
    applied: list[str] = []
    for kind in _BY_SIDE[side]:
        drawn = rng.random() < kind.rate_for(context)
        if tally is None and not drawn:
            continue
        eligible = kind.applies(record, context)
        if tally is not None and eligible:
            tally.eligible[kind.name] += 1
            if context.female:
                tally.female_eligible[kind.name] += 1
        if drawn and eligible:
            changed = kind.apply(record, context, rng)
            if changed == record:
                continue
            record = changed
            applied.append(kind.name)
            if tally is not None:
                tally.applied[kind.name] += 1
                if context.female:
                    tally.female_applied[kind.name] += 1
    return record, applied


_BY_SIDE: Mapping[Side, Sequence[ErrorKind]] = {
    side: tuple(kind for kind in ERROR_KINDS if kind.side == side) for side in ("held", "query")
}
