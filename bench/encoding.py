"""Encoding throughput: Tokeniser.record_tokens on one core, beside baselines measured in the same run.

    python -m bench.encoding [--records N] [--seed S] [--source synthetic|simulator|realistic] [--rounds R]

Records are simulated the way a force file looks: common names drawn with a skewed (Zipf-like)
frequency, middle names, nicknames, typos, double-barrelled and particle surnames, a few previous
names, identifiers on some records, postcodes on most. ``--source simulator`` takes the records of
crossforce.testkit.simulate.ForceSimulator instead (the forces' own records, as bench.quality publishes
them: far more distinct names, maiden names, a postcode on every record), the harder case for the
caches; ``--source realistic`` those of the realistic profile (real name frequencies and errors: most
names in a 20,000-record sample are new, so it is the hardest). Caches are cleared before each timed
pass so the figure includes the cost of names seen for the first time. Times are CPU time of this
process (``time.process_time``), so other work on the box costs less than in wall-clock time.

Head to head (``--rounds`` R, default 3): spec v1's tokeniser (``legacy_v1``), spec v2's as it was
before the session-25 speed work (``bench.encoding_before``, frozen) and today's, in turn, R times, cold
caches each time; each is reported at its best pass, so load on a shared box penalises all three alike
and the ratios are the figures to compare.

Baselines:
  naive_subkeys   the same keys, but HKDF re-derived and hmac.digest called per token (no caching)
  sha256_floor    one plain SHA-256 per already-encoded key: the hashing floor, no key derivation
  keys_only       derive_keys alone: the normalisation and key-building share of the cost
Prints a table and one JSON line (prefix "JSON ").
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from bench.encoding_before import tokens as tokens_before
from crossforce.encoding import legacy_v1
from crossforce.encoding.matchkeys import derive_keys, key_bytes
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser, derive_subkey


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FORENAMES = _words(
    "david john michael paul james andrew mark peter robert richard christopher stephen william thomas "
    "daniel anthony matthew gary kevin simon jonathan nicholas george edward charles joseph samuel "
    "benjamin timothy patrick philip alexander henry ryan adam luke liam dean colin keith graham "
    "muhammad ali oliver jack harry wojciech krzysztof ciaran declan rhys gareth owain kieran connor "
    "susan sarah elizabeth margaret mary patricia jennifer linda karen julie lisa helen claire emma "
    "rebecca victoria catherine kathleen christine deborah amanda samantha joanne jacqueline nicola "
    "charlotte jessica hannah rachel laura natalie caroline carol barbara dorothy joan jean ann pamela "
    "sandra theresa angela gillian louise lucy olivia sophie michelle aisha fatima priya siobhan niamh"
)
NICKNAMES = {
    "william": ("bill", "will", "billy"),
    "robert": ("bob", "rob", "bobby"),
    "margaret": ("peggy", "maggie"),
    "james": ("jim", "jimmy"),
    "elizabeth": ("liz", "beth"),
    "michael": ("mike", "mick"),
    "richard": ("dick", "rick"),
    "katherine": ("kate", "kathy"),
    "anthony": ("tony",),
    "muhammad": ("mohammed", "mohamed"),
}
SURNAMES = _words(
    "smith jones williams taylor brown davies evans wilson thomas johnson roberts robinson thompson wright "
    "walker white edwards hughes green hall lewis harris clarke patel jackson wood turner martin cooper "
    "hill ward morris moore clark lee king baker harrison morgan allen james scott phillips watson davis "
    "parker price bennett young griffiths mitchell kelly cook carter richardson bailey collins bell shaw "
    "murphy miller cox richards khan marshall anderson simpson ellis adams singh begum wilkinson foster "
    "chapman powell webb rogers gray mason ali hunt hussain campbell matthews owen palmer holmes mills "
    "o'brien mcdonald macdonald o'neill nguyen kowalski nowak silva santos rodriguez garcia chowdhury "
    "ahmed rahman okafor mensah zhang wang li chen fitzgerald gallagher doherty quinn"
)
PARTICLES = ("van der ", "de ", "da ", "le ", "van ", "al-")


def _zipf(rng: random.Random, items: Sequence[str]) -> str:
    return items[min(int(rng.paretovariate(1.1)) - 1, len(items) - 1)]


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s))
    op = rng.randrange(3)
    if op == 0:
        return s[:i] + s[i + 1 :]
    if op == 1:
        return s[:i] + rng.choice("aeioulnrst") + s[i:]
    return s[: i - 1] + s[i] + s[i - 1] + s[i + 1 :]


def _pnc(rng: random.Random) -> str:
    year, serial = rng.randrange(80, 100), rng.randrange(1, 10**7)
    return f"19{year}/{serial:07d}" + "ZABCDEFGHJKLMNPQRTUVWXY"[int(f"{year}{serial:07d}") % 23]


def simulate(n: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    out: list[Record] = []
    for i in range(n):
        first = _zipf(rng, FORENAMES)
        if first in NICKNAMES and rng.random() < 0.2:
            first = rng.choice(NICKNAMES[first])
        given = [first] + ([_zipf(rng, FORENAMES)] if rng.random() < 0.5 else [])
        surname = _zipf(rng, SURNAMES)
        r = rng.random()
        if r < 0.05:
            surname = f"{surname}-{_zipf(rng, SURNAMES)}"
        elif r < 0.08:
            surname = rng.choice(PARTICLES) + surname
        if rng.random() < 0.1:
            surname = _typo(rng, surname)
        if rng.random() < 0.1:
            given[0] = _typo(rng, given[0])
        year, month, day = rng.randrange(1940, 2008), rng.randrange(1, 13), rng.randrange(1, 29)
        dob = f"{year}-{month:02d}-{day:02d}" if rng.random() < 0.8 else f"{day:02d}/{month:02d}/{year}"
        previous = (_zipf(rng, SURNAMES).title(),) if rng.random() < 0.05 else ()
        out.append(
            Record(
                record_id=f"r{i}",
                surname=surname.upper() if rng.random() < 0.3 else surname.title(),
                given_names=" ".join(g.title() for g in given),
                date_of_birth=dob if rng.random() < 0.97 else "",
                previous_names=previous,
                pnc_id=_pnc(rng) if rng.random() < 0.4 else "",
                ni_number=f"AB{rng.randrange(10**6):06d}C" if rng.random() < 0.3 else "",
                postcode=f"LS{rng.randrange(1, 30)} {rng.randrange(10)}AB" if rng.random() < 0.7 else "",
            )
        )
    return out


_KEEP_WARM: Final = ("crossforce.encoding.unicodetable", "crossforce.encoding.nameclasses")
"""Caches that hold the spec's own tables, loaded once per process in real use too."""


def _clear_caches() -> None:
    """Empty every memo of the encoders (live, frozen and v1), so a pass pays for first sightings."""
    for name, module in list(sys.modules.items()):
        if not name.startswith(("crossforce.encoding", "bench.encoding_before")) or name in _KEEP_WARM:
            continue
        for value in vars(module).values():
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    start = time.process_time()
    count = fn()
    return time.process_time() - start, count


class _Encoder(Protocol):
    def record_tokens(self, record: Record) -> list[tuple[int, bytes]]: ...


def head_to_head(records: Sequence[Record], secret: bytes, rounds: int) -> dict[str, tuple[float, float]]:
    """(records/s, tokens/record) per encoder at its best of ``rounds`` cold passes, taken in turn."""
    encoders: dict[str, _Encoder] = {
        "v1": legacy_v1.Tokeniser(secret=secret, epoch=1),
        "v2_before": tokens_before.Tokeniser(secret=secret, epoch=1),
        "v2": Tokeniser(secret=secret, epoch=1),
    }
    best = dict.fromkeys(encoders, float("inf"))
    tokens = dict.fromkeys(encoders, 0)
    for _ in range(rounds):
        for name, encoder in encoders.items():
            _clear_caches()
            seconds, tokens[name] = _timed(lambda e=encoder: sum(len(e.record_tokens(r)) for r in records))
            best[name] = min(best[name], seconds)
    return {name: (len(records) / best[name], tokens[name] / len(records)) for name in encoders}


def main(argv: Sequence[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--source", choices=("synthetic", "simulator", "realistic"), default="synthetic")
    parser.add_argument("--rounds", type=int, default=3, help="head-to-head passes per encoder (0: none)")
    args = parser.parse_args(argv)
    if args.source == "simulator":
        from crossforce.testkit.simulate import ForceSimulator

        records = [r for _, r in ForceSimulator(args.seed, args.records).iter_records()]
    elif args.source == "realistic":
        from crossforce.testkit.realistic import RealisticSimulator

        records = [r for _, r in RealisticSimulator(args.seed, args.records).iter_records()]
    else:
        records = simulate(args.records, args.seed)
    secret = bytes(range(32))
    tokeniser = Tokeniser(secret=secret, epoch=1)

    def run_tokens() -> int:
        return sum(len(tokeniser.record_tokens(r)) for r in records)

    def run_keys_only() -> int:
        return sum(len(derive_keys(r)) for r in records)

    _clear_caches()
    cold_s, tokens = _timed(run_tokens)
    warm_s, _ = _timed(run_tokens)
    _clear_caches()
    keys_s, _ = _timed(run_keys_only)

    encoded = [kb for r in records for kb in key_bytes(r)]

    def run_sha_floor() -> int:
        sha = hashlib.sha256
        for _, canonical in encoded:
            sha(canonical).digest()
        return len(encoded)

    sha_s, _ = _timed(run_sha_floor)

    naive_records = records[: max(1, len(records) // 20)]

    def run_naive() -> int:
        n = 0
        for r in naive_records:
            for key in derive_keys(r):
                hmac.digest(derive_subkey(secret, key.key_type, 1), key.canonical, "sha256")
                n += 1
        return n

    _clear_caches()
    naive_s, naive_tokens = _timed(run_naive)

    n = len(records)
    rows = {
        "record_tokens_cold": (n / cold_s, tokens / cold_s),
        "record_tokens_warm": (n / warm_s, tokens / warm_s),
        "keys_only_cold": (n / keys_s, tokens / keys_s),
        "sha256_floor": (n / sha_s, len(encoded) / sha_s),
        "naive_subkeys": (len(naive_records) / naive_s, naive_tokens / naive_s),
    }
    print(f"records={n} source={args.source} tokens/record={tokens / n:.2f} (one core, CPU time)")
    print(f"{'case':22s} {'records/s':>12s} {'tokens/s':>12s}")
    for name, (rps, tps) in rows.items():
        print(f"{name:22s} {rps:12,.0f} {tps:12,.0f}")
    versus = head_to_head(records, secret, args.rounds) if args.rounds > 0 else {}
    if versus:
        print(f"head to head, best of {args.rounds} alternating cold passes (CPU time):")
        for name, (rps, per) in versus.items():
            vs_v1 = rps / versus["v1"][0]
            print(f"{name:22s} {rps:12,.0f} records/s  {per:5.2f} tokens/record  {vs_v1:.2f}x v1")
        print(f"v2 / v2_before: {versus['v2'][0] / versus['v2_before'][0]:.2f}x")
    summary = {
        "bench": "encoding",
        "source": args.source,
        "records": n,
        "tokens_per_record": round(tokens / n, 3),
        **{f"{k}_records_per_s": round(v[0]) for k, v in rows.items()},
        **{f"{k}_tokens_per_s": round(v[1]) for k, v in rows.items()},
        **{f"h2h_{k}_records_per_s": round(v[0]) for k, v in versus.items()},
    }
    print("JSON " + json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
