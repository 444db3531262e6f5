"""Enumeration: an organisation that knows a name tries to learn the date of birth (issue 15).

A vetting body holds the network secret, so it can compute the token of any name and date. What stops
it walking the calendar is the quota, charged in units (``policy.candidates.cost``): each token costs
the number of dates it can agree with for a fixed name (``KeyType.date_span``). These tests play the
attacker against a real matcher over mTLS, adaptively, with every kind of date key (full, unordered
day/month, partial with a part left out, year alone), and count what each answer rules out.

The claim under test: every date the attacker rules out it has paid for. Each candidate's answer rules
out at most as many dates as its cost, so whatever the order of guesses and whichever keys, the
attacker pays at least one unit per date it eliminates; when the date of birth is the last place the
search looks (the worst case, which a defence cannot assume away) that is every other date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import pytest

from crossforce.auditlog.events import Check, parse_event
from crossforce.domain import Candidate, CheckQuery, Justification, QueryToken
from crossforce.encoding import matchkeys
from crossforce.encoding.keytypes import (
    FORENAME_DOB,
    FRAGMENT_DOB,
    INITIAL_DOB,
    KEY_TYPES,
    NAME_DOB,
    NAME_YEAR,
    PARTIAL_DOB,
    PHONETIC_DOB,
    SURNAME_DOB,
)
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.server import ServerSettings
from crossforce.server.policy import candidates as shape
from crossforce.server.policy.settings import QuotaSettings
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running
from crossforce.wire import matching as wire_matching

pytestmark = pytest.mark.backends("sqlite")  # the matcher's storage plays no part in what is charged

WHY = Justification(
    purpose="hit-only-screening",  # a hit/no-hit answer is all an enumerator needs
    legal_basis="Police Act 1997 s113B",
    case_reference="C-1",
    officer_id="O-1",
)
FIRST, LAST = dt.date(1986, 1, 1), dt.date(1989, 12, 31)
UNIVERSE = tuple(FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1))
"""The dates the attacker considers (four years, one a leap year: enough to show the rule, quick to walk)."""
BATCH = 500
EVERY_HIT = 1e-9
"""The attacker's purpose reports every agreement, however weak: the claim must hold even then."""
BURST = 50_000_000
"""Quota units: the whole attack fits, and the leftover is probed at the end to show what was charged."""


def person(dob: dt.date) -> Record:
    return Record(record_id="P1", given_names="Jane", surname="Thornbury", date_of_birth=dob.isoformat())


UNORDERED = frozenset(t for t, kt in KEY_TYPES.items() if kt.agrees.get("dob") == "unordered")


def covers(key_type: int, date_field: str, day: dt.date) -> bool:
    """Whether a key of ``key_type`` whose date field is ``date_field`` agrees with a person born on
    ``day`` (the key semantics of the spec, written out independently of the matcher)."""
    if len(date_field) == 4:  # name_year: the year alone
        return date_field == f"{day.year:04d}"
    y, m, d = date_field.split("-")
    if y != "****" and int(y) != day.year:
        return False
    if key_type in UNORDERED:  # the day and month in either order
        return {int(m), int(d)} == {day.month, day.day}
    return (m == "**" or int(m) == day.month) and (d == "**" or int(d) == day.day)


@dataclass(frozen=True)
class Probe:
    """One candidate the attacker sends: its tokens, and every date in the universe it can agree with."""

    candidate: Candidate
    dates: frozenset[dt.date]


@dataclass
class Attacker:
    """Sends probes in batches through the raw CheckBatch call and keeps the books."""

    net: LocalNet
    tokeniser: Tokeniser
    spent: int = 0
    remaining: set[dt.date] = dataclasses.field(default_factory=lambda: set(UNIVERSE))

    def probe(
        self,
        guess: dt.date,
        key_types: int | Collection[int],
        pattern: Callable[[str], bool] = lambda f: True,
    ) -> Probe:
        """The keys of ``key_types`` a person born on ``guess`` has (those whose date field passes
        ``pattern``), as one candidate."""
        wanted = {key_types} if isinstance(key_types, int) else set(key_types)
        keys = [
            k
            for k in matchkeys.derive_keys(person(guess))
            if k.key_type in wanted and pattern(matchkeys.decode_key(k.canonical)[1][-1])
        ]
        assert keys, (guess, key_types)
        tokens = [QueryToken(key_type=k.key_type, epoch=1, token=self.tokeniser.token(k)) for k in keys]
        fields = [(k.key_type, matchkeys.decode_key(k.canonical)[1][-1]) for k in keys]
        dates = frozenset(day for day in UNIVERSE if any(covers(t, f, day) for t, f in fields))
        return Probe(Candidate.of(tokens, forename_class=3, surname_class=4), dates)

    def ask(self, probes: Sequence[Probe]) -> list[bool]:
        """Hit or miss per probe; checks each answer rules out no more dates than it cost."""
        hits: list[bool] = []
        with self.net.client("dbs", "vetting-officer") as c:
            for start in range(0, len(probes), BATCH):
                chunk = probes[start : start + BATCH]
                query = CheckQuery(
                    candidates=tuple(p.candidate for p in chunk), justification=WHY, open_requests=False
                )
                msg = c.connection.call(
                    c.connection.matcher.CheckBatch, wire_matching.check_batch_request_to_pb(query)
                )
                outcome = wire_matching.check_outcome_from_pb(msg)
                for p, result in zip(chunk, outcome.results, strict=True):
                    assert result.error is None, result.error
                    cost = shape.cost(p.candidate)
                    self.spent += cost
                    hit = bool(result.hits)
                    before = len(self.remaining)
                    self.remaining = self.remaining & p.dates if hit else self.remaining - p.dates
                    if not hit:  # a miss rules out what its keys covered, and never more than it cost
                        assert before - len(self.remaining) <= cost
                    hits.append(hit)
        return hits

    def first_hit(self, probes: Iterable[Probe]) -> Probe:
        """Ask ``probes`` a batch at a time, stopping after the batch with the first hit."""
        pending = list(probes)
        while pending:
            chunk, pending = pending[:BATCH], pending[BATCH:]
            for p, hit in zip(chunk, self.ask(chunk), strict=True):
                if hit:
                    return p
        raise AssertionError("the person was never found")


def full_dates(a: Attacker) -> dt.date:
    """One name_dob probe per date, in order."""
    return min(a.first_hit(a.probe(d, NAME_DOB) for d in UNIVERSE).dates)


def year_month_day(a: Attacker) -> dt.date:
    """A year key per year, then a partial key (day left out) per month, then full dates."""
    years = sorted({d.year for d in UNIVERSE})
    year = a.first_hit(a.probe(dt.date(y, 1, 1), NAME_YEAR) for y in years)
    y = min(year.dates).year
    month = a.first_hit(
        a.probe(dt.date(y, m, 1), PARTIAL_DOB, lambda f: f.endswith("-**")) for m in range(1, 13)
    )
    m = min(month.dates).month
    days = [d for d in UNIVERSE if (d.year, d.month) == (y, m)]
    return min(a.first_hit(a.probe(d, NAME_DOB) for d in days).dates)


def day_month_then_year(a: Attacker) -> dt.date:
    """A partial key with the year left out per day of the year, then unordered and full dates."""
    leap = [dt.date(1984, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    found = a.first_hit(a.probe(d, PARTIAL_DOB, lambda f: f.startswith("****")) for d in leap)
    day = min(found.dates)
    candidates = sorted(d for d in a.remaining if (d.month, d.day) == (day.month, day.day))
    unordered = a.first_hit(a.probe(d, PHONETIC_DOB) for d in candidates)
    return min(d for d in unordered.dates if d in a.remaining)


def every_full_date_key(a: Attacker) -> dt.date:
    """Each candidate carries every key of one guessed date that names the whole date (full, fragments,
    initial, unordered), walking the dates not yet ruled out until one is left: more tokens per guess,
    and no cheaper per date ruled out. (Keys with a part left out would hit for every guess in the right
    year, so an attacker narrowing to a day leaves them out: strategies above use them on their own.)"""
    present = {k.key_type for k in matchkeys.derive_keys(person(FIRST))}
    wanted = (NAME_DOB, FRAGMENT_DOB, INITIAL_DOB, PHONETIC_DOB, SURNAME_DOB, FORENAME_DOB)
    types = [t for t in wanted if t in present]

    for _ in range(len(UNIVERSE) // BATCH + 2):  # each round rules out a batch of dates: bounded
        if len(a.remaining) == 1:
            break
        a.ask([a.probe(d, types) for d in sorted(a.remaining)[:BATCH]])
    [found] = a.remaining
    return found


STRATEGIES = [full_dates, year_month_day, day_month_then_year, every_full_date_key]


def attack_settings() -> ServerSettings:
    """Quota enough for the whole attack, and every agreement reported."""
    return ServerSettings(
        expected_forces=(),
        quotas=QuotaSettings(
            org_rate_per_s=1e-3, org_burst=BURST, officer_rate_per_s=1e-3, officer_burst=BURST
        ),
        purposes={
            **ServerSettings().purposes,
            WHY.purpose: dataclasses.replace(
                ServerSettings().purpose(WHY.purpose), daily_limit_per_org=BURST, report_threshold=EVERY_HIT
            ),
        },
    )


def attack(
    tmp_path_factory: pytest.TempPathFactory, dob: dt.date, strategy: Callable[[Attacker], dt.date]
) -> Attacker:
    settings = attack_settings()
    root = tmp_path_factory.mktemp("enumeration")
    with running(root, (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES)), settings=settings) as net:
        with net.client("kent", "force-system") as c:
            c.publish_records([person(dob)], epoch=1)
        attacker = Attacker(net=net, tokeniser=Tokeniser(secret=net.secret.secret_for(1), epoch=1))
        assert strategy(attacker) == dob
        assert attacker.remaining == {dob}
        with net.client("dbs", "vetting-officer") as c:  # what the matcher charged, from its own log
            events = [parse_event(e.entry) for e in c.entries(0, c.tree_head().head.tree_size) if e.entry]
        assert sum(e.cost for e in events if isinstance(e, Check)) == attacker.spent
    return attacker


@pytest.mark.parametrize("strategy", STRATEGIES[:-1], ids=lambda s: s.__name__)  # the last walks as the first
def test_enumeration_costs_a_unit_for_every_date_ruled_out_in_the_worst_case(
    tmp_path_factory: pytest.TempPathFactory, strategy: Callable[[Attacker], dt.date]
) -> None:
    """The person born on the last date the search reaches: every other date had to be ruled out."""
    attacker = attack(tmp_path_factory, LAST, strategy)
    assert attacker.spent >= len(UNIVERSE) - 1


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.__name__)
def test_enumeration_pays_for_every_date_its_misses_ruled_out_wherever_the_date_lies(
    tmp_path_factory: pytest.TempPathFactory, strategy: Callable[[Attacker], dt.date]
) -> None:
    attacker = attack(tmp_path_factory, dt.date(1987, 3, 17), strategy)
    assert attacker.spent >= 1  # and each miss's books were checked as it came back (Attacker.ask)


def test_a_year_token_relabelled_as_a_full_date_costs_one_unit_and_never_matches(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The relabel attack on the quota: a year-only token sent as name_dob (1 unit, not 366) is tested
    only in the name_dob partition, where no year-only token is, so it learns nothing."""
    dob = dt.date(1984, 3, 17)
    root = tmp_path_factory.mktemp("relabel")
    settings = attack_settings()
    with running(root, (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES)), settings=settings) as net:
        with net.client("kent", "force-system") as c:
            c.publish_records([person(dob)], epoch=1)
        attacker = Attacker(net=net, tokeniser=Tokeniser(secret=net.secret.secret_for(1), epoch=1))
        honest = attacker.probe(dob, NAME_YEAR)
        [token] = honest.candidate.query_tokens()
        relabelled = Candidate.of(
            [dataclasses.replace(token, key_type=NAME_DOB)], forename_class=3, surname_class=4
        )
        assert shape.cost(relabelled) == 1 and shape.cost(honest.candidate) == 366
        assert attacker.ask([honest, Probe(relabelled, frozenset())]) == [True, False]
