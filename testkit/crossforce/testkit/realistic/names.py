"""How common each surname and forename is in the realistic profile: public frequency tables plus a tail.

Surnames: the 500 listed in ``data/surnames_gb.tsv`` carry their published share of the population of
England and Wales (Smith 1.15%); together 39.51%. The other 60.49% of people get an unlisted surname
from a Zipf tail (share ``f500 * 500 / r`` at rank r > 500, f500 read off a log-log fit of the listed
ranks 100-500), interleaved between community groups so that each group's total matches
``_names.GROUP_SHARES``. Tail names are real names from other faker locales (``data/tail_surnames.tsv``)
and, once those run out, synthetic ones built from the group's name parts: rare by construction.
A person's community group follows from their surname (Patel: south_asian), and picks the forename pool.

Forenames of the british group: ``data/forenames_gb.tsv`` gives ranks only, so shares follow a
Zipf-Mandelbrot curve ``C / (r + q)`` per sex, with the top share and the mass of the 182 listed names
proposed (``FORENAME_TOP_SHARE``, ``FORENAME_LISTED_MASS``), continued over ``data/tail_forenames.tsv``.
Other groups keep the simulator's own pools (``_names``).

Invariants: pure functions of the committed data files (``DATA_SHA256`` pins them) and constants here;
built once per process (``name_book``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from crossforce.testkit import _names

DATA_SHA256: Mapping[str, str] = {
    "surnames_gb.tsv": "fdb2b03881d70cee9ddd565589c06d91a2d5699127b53d70d59c6d419377d742",
    "forenames_gb.tsv": "d8584d034d218acf7d9f7ef65b7eec348a9c24a33056af3c84a91526d242c967",
    "tail_surnames.tsv": "51266609f93762d094e38b5f00b6fd3f420c210dd5426fb6f3836702e7656dca",
    "tail_forenames.tsv": "19d38c3764679ffc9d5861edf10ac473d7c8e00e50c30d901c1d2894b6c26bf5",
}
"""SHA-256 of each committed table: a change to a table is a change to this module, made on purpose."""

GROUPS: tuple[str, ...] = tuple(_names.GROUP_SHARES)
LISTED_FIT_FROM_RANK = 100
"""The tail continues the slope of the listed ranks from here on (the head bends away from a power law)."""
TAIL_EXPONENT = 1.0
"""[P] Zipf's law for the unlisted tail: share proportional to 1/rank."""
FORENAME_TOP_SHARE: Mapping[str, float] = {"M": 0.025, "F": 0.02}
"""[P] Share of men called David (the top male name) and of women called Susan: no weights are published
with the ranks; nam_dict.txt's Great Britain column puts David and John at >= 2% (see data/SOURCES.md)."""
FORENAME_LISTED_MASS: Mapping[str, float] = {"M": 0.75, "F": 0.65}
"""[P] Share of men (women) whose forename is among the 182 listed: women's names are more varied."""


@dataclass(frozen=True)
class Pool:
    """Names as indices into one name list, with the probability of drawing each."""

    indices: npt.NDArray[np.int64]
    probs: npt.NDArray[np.float64]

    def draw(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        return self.indices[rng.choice(len(self.indices), size=n, p=self.probs)]


@dataclass(frozen=True)
class NameBook:
    """Every name the realistic profile draws, and how often."""

    surnames: tuple[str, ...]
    surname_share: npt.NDArray[np.float64]
    """Share of people with each surname; sums to 1."""
    surname_group: npt.NDArray[np.int64]
    """Index into GROUPS of each surname."""
    listed_surnames: int
    """The first ``listed_surnames`` surnames are the published table, the rest the tail."""
    surname_pools: Mapping[int, Pool]
    """Per group: its surnames, with probabilities conditional on the group."""
    forenames: tuple[str, ...]
    forename_pools: Mapping[tuple[int, bool], Pool]
    """Per (group, female)."""

    def national_surnames(self) -> Pool:
        return Pool(np.arange(len(self.surnames), dtype=np.int64), self.surname_share)


@cache
def _table(name: str) -> list[list[str]]:
    text = resources.files("crossforce.testkit").joinpath("data", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def data_sha256(name: str) -> str:
    """SHA-256 of a committed table's bytes, as pinned in ``DATA_SHA256``."""
    return hashlib.sha256(
        resources.files("crossforce.testkit").joinpath("data", name).read_bytes()
    ).hexdigest()


# --- surnames --------------------------------------------------------------------------------------


@cache
def _pool_groups() -> dict[str, int]:
    """Surname -> the first group (british first) whose ``_names`` pool holds it."""
    out: dict[str, int] = {}
    for g, group in enumerate(GROUPS):
        for name, _ in _names.SURNAMES.get(group, ()):
            out.setdefault(name, g)
    return out


def _listed_group(name: str) -> int:
    """The community a listed surname belongs to: its pool in ``_names``, else british."""
    return _pool_groups().get(name, GROUPS.index("british"))


def _tail_shares(listed: npt.NDArray[np.float64], mass: float) -> list[float]:
    """Shares of the unlisted ranks 501, 502, ...: a Zipf tail continuing the listed curve, summing to
    ``mass``."""
    ranks = np.arange(1, listed.size + 1)
    fit = ranks >= LISTED_FIT_FROM_RANK
    slope, intercept = np.polyfit(np.log(ranks[fit]), np.log(listed[fit]), 1)
    last = listed.size
    at_last = math.exp(intercept + slope * math.log(last))
    shares: list[float] = []
    total = 0.0
    rank = last
    while total < mass:
        rank += 1
        share = min(at_last * (last / rank) ** TAIL_EXPONENT, mass - total)
        shares.append(share)
        total += share
    return shares


def _interleave(shares: list[float], targets: npt.NDArray[np.float64]) -> list[int]:
    """Give each tail rank to the group furthest behind its target mass, so every group's tail total
    comes out at its target (largest-deficit apportionment)."""
    want = (targets / targets.sum()).tolist()
    got = [0.0] * len(want)
    groups = range(len(want))
    out: list[int] = []
    total = 0.0
    for share in shares:
        total += share
        g = max(groups, key=lambda k: want[k] * total - got[k])
        got[g] += share
        out.append(g)
    return out


def _split(text: str) -> tuple[str, ...]:
    """The words of ``text``, "-" standing for an empty part."""
    return tuple("" if word == "-" else word for word in text.split())


_PARTS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "british": (
        _split(
            """
            Ash Bar Black Brad Bram Brook Burn Cal Carl Chester Cold Crom Dal Dun East Ell Fair Farn Fen Gar
            Glad Gold Green Hal Ham Hart Hay Hazel Hol Horn Kel Kings Lang Lind Lock Long Mar Mid Mill Mor
            New North Oak Pen Pres Rad Red Rid Ros Rush Shel Small South Stan Stock Thorn Wake Wal West Whit
            Wind Wood Wor Ather Bel Bick Brig Cam Chad Clif Cran Ding Dray Edge Elm Ever Fal Grim Hack Hep
            Hind Kirk Lan Lay Mal Men Nor Pick Quen Ray Sel Sher Sid Tad Tem Thur Wen Yar
            """
        ),
        _split("- er en ing el an s ham ter ling mer den"),
        _split(
            """
            ley ton worth field ford by ham well wood bury combe den hurst shaw stone wick more dale brook
            ridge land man er ock ing cott hill house thwaite croft ett low mere ston
            """
        ),
    ),
    "south_asian": (
        _split(
            """
            Ab Ah Aj Ak Al Am An Ar As Ba Bh Ch Da Dh Fa Ga Gh Gu Ha Ja Ka Kh La Ma Mi Mu Na Pa Pr Qa Ra Re
            Sa Se Sh Si Su Ta Th Ul Us Va Wa Ya Za
            """
        ),
        _split("b d dh h j k l m n r s t v w z hm sh nd rm"),
        _split("a ar an ani ari at ed ee i id im in ir ia ood oor ul wal pal deep jit esh ish"),
    ),
    "west_african": (
        _split("Ad Ade Ak Ol Olu Ok Og Ob Ch Nw Ez Ib Ay Fo Ba Ke Os Ow Ag As Ef On"),
        _split("e a o u i"),
        _split(
            """
            yemi wale bayo fola dipo kunle tola bisi lade ju nna chukwu ka oma nso dike ji teng mah ko ntwi
            bo ye
            """
        ),
    ),
    "polish": (
        _split(
            """
            Nowa Kowal Wis Zielin Lewand Kamin Sobol Kras Jan Piotr Kwiat Gra Maj Olsz Jab Pawl Dab Koz Sok
            Wol Bor Rud Czar Bial Dob Gor Las Mal Nie Ost Pol Sad Tom Wil Zaw Glow Kucz Mar Stas
            """
        ),
        _split("- e o in"),
        _split("ski cki wicz czyk ak ek owski ewski iak uk czak"),
    ),
    "chinese": (
        _split("B C Ch D F G H J K Kw L M N Ng P Q R S Sh T W X Y Z Zh Ts Hs"),
        _split("-"),
        _split(
            """
            a ai an ang ao e ei en eng i ia ian iang iao in ing iong iu o ong ou u ua uan uang ui un uo
            """
        ),
    ),
    "other": (
        _split(
            """
            Ay Kar Dem Yil Oz Pop Ion Rad Dum Mar Fer Sil Cos Rom Bel Vel Pet Nik Hox Kras Ber Mur Sant Rod
            Gon Per Ivan Mor
            """
        ),
        _split("- a i o e"),
        _split(
            """
            escu eanu oglu maz kaya dag ov ic ovic aj iu elli etti ini ez es as os akis opoulos ani
            """
        ),
    ),
}
"""Name parts for each group's synthetic tail: start, optional middle, ending."""


def _hash_order(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def _synthetic(group: str) -> Iterator[str]:
    """A fixed, effectively endless sequence of made-up surnames in the style of the group."""
    starts, middles, ends = _PARTS[group]
    combos = {s + m + e for s, m, e in itertools.product(starts, middles, ends)}
    yield from sorted(combos, key=_hash_order)
    # Only if ever needed (a group's tail longer than its parts allow): start + start + ending.
    doubled = {s + t.lower() + e for s, t, e in itertools.product(starts, starts, ends)} - combos
    yield from sorted(doubled, key=_hash_order)


def _tail_names(group: str, taken: set[str]) -> Iterator[str]:
    """Names for a group's tail ranks: its ``_names`` pool, then the real tail table, then synthetic."""
    pool = [n for n, _ in sorted(_names.SURNAMES.get(group, ()), key=lambda p: -p[1])]
    rows = sorted((r for r in _table("tail_surnames.tsv") if r[0] == group), key=lambda r: int(r[1]))
    table = [r[2] for r in rows]
    for name in itertools.chain(pool, table, _synthetic(group)):
        if name.casefold() not in taken:
            taken.add(name.casefold())
            yield name


def _surnames() -> tuple[list[str], npt.NDArray[np.float64], list[int], int]:
    rows = sorted(_table("surnames_gb.tsv"), key=lambda r: (-float(r[1]), r[0]))
    names = [r[0] for r in rows]
    listed = np.array([float(r[1]) / 100 for r in rows])
    groups = [_listed_group(n) for n in names]
    targets = np.array([_names.GROUP_SHARES[g] for g in GROUPS])
    for g, share in zip(groups, listed.tolist(), strict=True):
        targets[g] -= share
    targets = np.maximum(targets, 0.0)
    tail = _tail_shares(listed, 1.0 - float(listed.sum()))
    tail_groups = _interleave(tail, targets)
    taken = {n.casefold() for n in names}
    streams = {g: _tail_names(group, taken) for g, group in enumerate(GROUPS)}
    names += [next(streams[g]) for g in tail_groups]
    shares = np.concatenate([listed, np.array(tail)])
    return names, shares / shares.sum(), groups + tail_groups, len(rows)


# --- forenames -------------------------------------------------------------------------------------


def _zipf_mandelbrot(top: float, mass: float, listed: int) -> tuple[float, float]:
    """(C, q) with C/(1+q) = top and sum over ranks 1..listed of C/(r+q) = mass (bisection on q)."""

    def listed_mass(q: float) -> float:
        return top * (1 + q) * math.log((listed + 0.5 + q) / (0.5 + q))

    lo, hi = 0.0, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if listed_mass(mid) < mass else (lo, mid)
    return top * (1 + lo), lo


def _british_forenames(sex: str) -> tuple[list[str], list[float]]:
    """The listed forenames of one sex in rank order, then the tail, with Zipf-Mandelbrot shares."""
    listed = [
        r[0] for r in sorted((r for r in _table("forenames_gb.tsv") if r[1] == sex), key=lambda r: int(r[2]))
    ]
    c, q = _zipf_mandelbrot(FORENAME_TOP_SHARE[sex], FORENAME_LISTED_MASS[sex], len(listed))
    pools = _names.FEMALE_FORENAMES if sex == "F" else _names.MALE_FORENAMES
    extra = [n for n, _ in sorted(pools["british"], key=lambda p: -p[1])]
    extra += [
        r[2]
        for r in sorted((r for r in _table("tail_forenames.tsv") if r[0] == sex), key=lambda r: int(r[1]))
    ]
    names = list(listed)
    seen = {n.casefold() for n in names}
    for name in extra:
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    shares: list[float] = []
    for rank, _ in enumerate(names, 1):
        share = min(c / (rank + q), 1.0 - sum(shares))
        if share <= 0:
            break
        shares.append(share)
    return names[: len(shares)], shares


@cache
def name_book() -> NameBook:
    """The realistic profile's names (built once: about a second)."""
    surnames, share, groups, listed = _surnames()
    group_arr = np.array(groups, dtype=np.int64)
    surname_pools = {}
    for g in range(len(GROUPS)):
        idx = np.flatnonzero(group_arr == g).astype(np.int64)
        surname_pools[g] = Pool(idx, share[idx] / share[idx].sum())

    forenames: list[str] = []
    index: dict[str, int] = {}

    def pool(pairs: list[tuple[str, float]]) -> Pool:
        idx = []
        for name, _ in pairs:
            if name not in index:
                index[name] = len(forenames)
                forenames.append(name)
            idx.append(index[name])
        weights = np.array([w for _, w in pairs], dtype=np.float64)
        return Pool(np.array(idx, dtype=np.int64), weights / weights.sum())

    forename_pools: dict[tuple[int, bool], Pool] = {}
    for g, group in enumerate(GROUPS):
        for female, sex, tables in (
            (False, "M", _names.MALE_FORENAMES),
            (True, "F", _names.FEMALE_FORENAMES),
        ):
            if group == "british":
                names, shares = _british_forenames(sex)
                forename_pools[(g, female)] = pool(list(zip(names, shares, strict=True)))
            else:
                forename_pools[(g, female)] = pool([(n, float(w)) for n, w in tables[group]])
    return NameBook(
        surnames=tuple(surnames),
        surname_share=share,
        surname_group=group_arr,
        listed_surnames=listed,
        surname_pools=surname_pools,
        forenames=tuple(forenames),
        forename_pools=forename_pools,
    )
