"""One person per disclosure request: which of the holder's records a request's tokens name (issue 15).

Why: a request carries every token of the check that agreed with the holder's index, and those tokens
may touch several of the holder's records: a candidate assembled from one person's strong keys and
another's weaker ones (within the matcher's structure limits), or a common name without a date that 20
namesakes share. Disclosing every record any token touched would turn one check into a list of people.
So the desk discloses one person, and says why.

The rule (pure; the desk feeds it what its token store resolved):

1. Each record touched is scored with the matcher's own model (``crossforce.scoring.score``): the key
   types that agreed with it, the key types the request carried (a field they offer that no agreeing
   key vouches for counts against the record, e.g. a date of birth that differs), the record's own name
   classes, and the records held, with no Bloom false positives (the token store is exact). Best first
   by probability, then by weight. The score shown is that probability times the record's share of the
   evidence among the people touched (``2**weight``), so namesakes that agree equally split it.
2. The best record names a person only if its agreement identifies one: an identifier, or a full (or
   day-month swapped) date of birth with a name. A name alone, with a year, or with a district is
   shared by namesakes: the outcome is AMBIGUOUS, however few records agreed. Why not a probability
   threshold: the model's chance of a coincidence assumes name frequencies of the whole population,
   while a force's own records cluster (families, local surnames), and a small force makes any name
   look rare; a name without a date is a lead for the officer to judge, not a confirmed person.
3. A record of another person that agrees as strongly (the same agreement levels, or the same
   probability) is a tie: AMBIGUOUS; the desk never guesses between two people. A record is the same
   person as the best, not another, when it agreed with exactly the same tokens and those identify a
   person (a duplicate of one nominal); the token store knows no local person id.
4. Otherwise the outcome is PERSON: the best record and its duplicates, nothing else.

An officer resolves an ambiguous request by choosing a record (``PersonPick.choose``): that record and
its duplicates, whatever the scores say.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from crossforce.domain import IndexRef
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.encoding.nameclasses import name_classes
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, ValidationError
from crossforce.scoring import NONE, agreement_levels, score

IDENTIFYING_DATES: Final = frozenset({"full", "unordered"})
"""Date-of-birth levels that, with a name, single out a person (a year or a partial date do not)."""
SAME_PROBABILITY: Final = 1e-9
"""Two probabilities this close are a tie (scores saturate near 1 for strong agreement)."""

TokenRef = tuple[int, bytes]
"""(key_type, token) as the request carried it."""


class Outcome(enum.Enum):
    NO_MATCH = "no_match"
    """No record touched: a Bloom-filter false positive."""
    PERSON = "person"
    """One person: the records to disclose."""
    AMBIGUOUS = "ambiguous"
    """Two or more people agree equally, or the best agreement cannot tell a person from a namesake."""


@dataclass(frozen=True)
class Touched:
    """One local record the request's tokens resolved to, in the generation ``ref``."""

    record: Record
    ref: IndexRef
    tokens: frozenset[TokenRef]
    """The request's tokens that resolved to this record."""


@dataclass(frozen=True)
class RecordScore:
    """One touched record, scored: what the desk shows and keeps."""

    record: Record
    ref: IndexRef
    agreed_types: tuple[int, ...]
    levels: Mapping[str, str]
    probability: float
    """The model's probability for this record alone, as the matcher would state it."""
    weight: float
    tokens: frozenset[TokenRef] = field(default_factory=frozenset)
    """Empty when rebuilt from what was kept after the matcher forgot the tokens."""
    share: float = 1.0
    """This record's person's share of the evidence among the people touched (``2**weight``, summed over
    them): three namesakes agreeing equally have a third each, however likely each looks alone."""

    @property
    def score(self) -> float:
        """The chance this record is the person checked: its probability alone times its share."""
        return self.probability * self.share

    @property
    def record_id(self) -> str:
        return self.record.record_id

    @property
    def identifying(self) -> bool:
        return identifying(self.levels)

    @property
    def key_type_names(self) -> tuple[str, ...]:
        return tuple(KEY_TYPES[t].name if t in KEY_TYPES else str(t) for t in self.agreed_types)

    def same_nominal(self, other: RecordScore) -> bool:
        """A duplicate of one nominal: both agreed with exactly the same (non-empty) tokens, and those
        identify a person (20 namesakes share a name's tokens and are not one person)."""
        return bool(self.tokens) and self.tokens == other.tokens and self.identifying

    def ties(self, best: RecordScore) -> bool:
        """Agrees as strongly as ``best``: the same levels, or a probability equal to it."""
        return self.levels == best.levels or abs(self.probability - best.probability) <= SAME_PROBABILITY


@dataclass(frozen=True)
class PersonPick:
    """What a request resolves to: the person to disclose (if any) and every record touched."""

    outcome: Outcome
    person: tuple[RecordScore, ...]
    """The records to disclose: one person (empty unless PERSON)."""
    candidates: tuple[RecordScore, ...]
    """Every record touched, best first (what an officer chooses among)."""
    reason: str

    @property
    def records(self) -> tuple[Record, ...]:
        return tuple(s.record for s in self.person)

    def choose(self, record_id: str) -> PersonPick:
        """The officer's choice: ``record_id`` and its duplicates (ValidationError if it was not touched)."""
        chosen = next((s for s in self.candidates if s.record_id == record_id), None)
        if chosen is None:
            known = ", ".join(s.record_id for s in self.candidates) or "none"
            raise ValidationError(
                f"record {record_id} is not among the records this request matched ({known})", field="record"
            )
        person = tuple(s for s in self.candidates if s is chosen or s.same_nominal(chosen))
        return replace(self, outcome=Outcome.PERSON, person=person, reason=f"chosen: {record_id}")


class AmbiguousPersonError(PreconditionError):
    """The request's tokens do not name one person; nothing was resolved and the request stays open.

    An officer chooses with ``resolve(..., record_id=...)`` (``crossforce desk approve --record ID``).
    """

    def __init__(self, request_id: str, pick: PersonPick) -> None:
        shown = ", ".join(s.record_id for s in pick.candidates[:10])
        more = f" and {len(pick.candidates) - 10} more" if len(pick.candidates) > 10 else ""
        super().__init__(
            f"request {request_id} is ambiguous: {pick.reason}; left open, nothing disclosed. Records: "
            f"{shown}{more}. Choose one with --record ID (one person is disclosed), or refuse"
        )
        self.request_id = request_id
        self.pick = pick


def identifying(levels: Mapping[str, str]) -> bool:
    """An identifier, or a name with a full or day-month swapped date of birth: what singles out one
    person among namesakes. A name alone, with a year or with a district does not."""
    if levels.get("id") == "exact":
        return True
    named = any(levels.get(f, NONE) != NONE for f in ("forename", "surname"))
    return named and levels.get("dob") in IDENTIFYING_DATES


def score_record(touched: Touched, *, sent_types: Collection[int], records_held: int) -> RecordScore:
    """Score one touched record with the matcher's model, as if this force held only its own records
    (so the prior and the chance of a coincidence are the force's own, and no Bloom false positives)."""
    agreed = tuple(sorted({kt for kt, _tok in touched.tokens}))
    forename_class, surname_class = name_classes(touched.record)
    held = max(1, records_held)
    scored = score(
        agreed,
        forename_class=forename_class,
        surname_class=surname_class,
        force_records=held,
        total_records=held,
        fpr=0.0,
        sent_types=tuple(sent_types),
    )
    return RecordScore(
        record=touched.record,
        ref=touched.ref,
        agreed_types=agreed,
        levels=agreement_levels(agreed, tuple(sent_types)),
        probability=scored.probability,
        weight=scored.weight,
        tokens=touched.tokens,
    )


def pick_person(touched: Iterable[Touched], *, sent_types: Collection[int], records_held: int) -> PersonPick:
    """Apply the module's rule to every record the request's tokens touched."""
    scored = [score_record(t, sent_types=sent_types, records_held=records_held) for t in touched]
    return pick_from_scores(scored)


def pick_from_scores(scored: Sequence[RecordScore]) -> PersonPick:
    """The rule over records already scored (also over what was kept once the tokens are gone)."""
    ranked = with_shares(sorted(scored, key=lambda s: (-s.probability, -s.weight, s.record_id)))
    if not ranked:
        return PersonPick(Outcome.NO_MATCH, (), (), "the tokens resolve to none of your records")
    best = ranked[0]
    person = tuple(s for s in ranked if s is best or s.same_nominal(best))
    chosen = {s.record_id for s in person}
    rivals = [s for s in ranked if s.record_id not in chosen and s.ties(best)]
    if rivals:
        return PersonPick(
            Outcome.AMBIGUOUS,
            (),
            ranked,
            f"{1 + len(rivals)} records agree equally ({describe(best)}) and nothing shows they are one "
            "person",
        )
    if not best.identifying:
        return PersonPick(
            Outcome.AMBIGUOUS,
            (),
            ranked,
            f"the best agreement ({describe(best)}) is a name without a full date or identifier, "
            "which namesakes share",
        )
    return PersonPick(Outcome.PERSON, person, ranked, describe(best))


def with_shares(ranked: Sequence[RecordScore]) -> tuple[RecordScore, ...]:
    """Each record with its person's share of the evidence (``RecordScore.share``); duplicates of one
    nominal are one person and share one part."""
    groups: dict[object, float] = {}
    keys: list[object] = []
    for i, s in enumerate(ranked):
        key: object = s.tokens if s.tokens and s.identifying else i  # ``same_nominal``, in one pass
        groups.setdefault(key, s.weight)
        keys.append(key)
    top = max(groups.values(), default=0.0)
    parts = {key: math.exp2(weight - top) for key, weight in groups.items()}
    total = sum(parts.values())
    return tuple(replace(s, share=parts[key] / total) for s, key in zip(ranked, keys, strict=True))


def describe(scored: RecordScore) -> str:
    """Why a record was picked, for the officer: the key types that agreed and the score."""
    return f"{', '.join(scored.key_type_names) or 'no key'}; score {shown_probability(scored.score)}"


def shown_probability(p: float) -> str:
    """Two decimals, never 1.00 or 0.00 (docs/matching.md): a score is evidence, not certainty."""
    if p > 0.99:
        return ">0.99"
    if p < 0.01:
        return "<0.01"
    return f"{p:.2f}"
