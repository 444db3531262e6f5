# ruff: noqa: E501 - the header lines are written verbatim into the table
"""Rebuild core/crossforce/data/nicknames.tsv (spec v1, docs/spec.md "Nickname table") from `nicknames`.

Usage: python scripts/make_nickname_table.py OUT.tsv   (needs `pip install nicknames==1.0.1`)
The committed table is the contract; this script shows how it was derived so a reviewer can reproduce it.

Why one file, over 400 lines: nearly all of it is data, the ``GROUPS`` list of root names and their
spellings, one group a line in priority order; the code that turns it into the table is a few dozen
lines. The list is the curated input a reviewer checks, so it stays in the script that uses it.
"""

import collections
import csv
import sys
from importlib import resources

SRC = resources.files("nicknames").joinpath("names.csv")
# Root groups: canonical form first, then spellings of the same formal name. Order = priority when a
# nickname belongs to several roots (roughly: more common in England and Wales first).
GROUPS = """
david
john jon
michael micheal michel
paul
james
andrew
mark marc
peter
robert
richard
christopher kristopher christoffer kristoffer kristofer christoph
stephen steven stephan stefan
william wilhelm
thomas
daniel
anthony antony
matthew mathew
gary garry
kevin
simon
jonathan johnathan jonathon johnathon
nicholas nicolas nikolas
george
edward
charles
joseph
samuel
benjamin
timothy
patrick
philip phillip
alexander alasdair alastair alistair
henry
harold
joshua
ryan
adam
luke
colin
keith
graham
raymond
ronald
donald
terence terrance
francis
frederick frederic fredrick
albert
arthur
ernest
leonard
walter
gerald
gerard
douglas
barry
derek derrick
lawrence laurence
vincent
gregory
jeffrey geoffrey
stanley
sidney sydney
oliver
archibald
alfred
herbert
reginald
norman
roger
rodney
dennis
leslie lesley
victor
howard
bernard
nathan
nathaniel
jacob
zachary zachery zackary
theodore
dominic dominick
jeremy
jeremiah
abraham
isaac
solomon
tobias
alan allan allen
brian bryan
stuart stewart
sean shaun shawn
lewis louis
clifford
cecil
augustus
susan susanne suzanne
sarah sara
elizabeth elisabeth
margaret margret
mary
patricia
jennifer
linda
karen
julie
lisa
helen helena
claire clare clair
emma
rebecca rebekah
victoria
catherine katherine kathryn katharine catharine kathrine katheryn
kathleen cathleen
christine christina kristine kristina christiana
deborah debra debora
amanda
samantha
joanne joann joanna johanna
jacqueline
nicola nicole
alexandra
charlotte
jessica
hannah hanna
abigail abbigail abigale abbigale
rachel rachael
laura
natalie nathalie
caroline carolyn
carol carole
barbara
dorothy
joan
jean
ann anne
anna
pamela
sandra
theresa teresa
angela
gillian
valerie
josephine josophine
frances
eleanor elinor
ellen
florence
harriet
isabel isabelle isobel isabella
jane
janet
judith
louise
lucy
madeline madeleine
matilda
millicent
mildred
olivia
penelope
philippa
rosemary
stephanie
sophia sophie
virginia
winifred winnifred
michelle
danielle
cynthia
beatrice
agnes
alice
constance
edith
georgina
henrietta
kimberly kimberley
wendy
veronica
""".strip().splitlines()
# Local additions: British and transliteration forms absent from names.csv. (name, canonical)
LOCAL = """
muhammad muhammad
mohammed muhammad
mohammad muhammad
mohamed muhammad
mohamad muhammad
muhammed muhammad
mohammod muhammad
muhamed muhammad
mohd muhammad
dai david
dafydd david
davy david
davey david
mick michael
micky michael
mikey michael
gaz gary
baz barry
kev kevin
del derek
tel terence
tez terence
alf alfred
alfie alfred
sandy alexander
sasha alexander
jock john
ian john
iain john
evan john
ieuan john
hamish james
seamus james
shamus james
jimi james
liam william
taff david
ricky richard
rich richard
ritchie richard
stevie stephen
jez jeremy
jonny john
jonnie john
nicky nicholas
nico nicholas
tommy thomas
tam thomas
danny daniel
pip philip
becca rebecca
becky rebecca
bex rebecca
vicki victoria
vikki victoria
vix victoria
lou louise
lulu louise
jo joanne
jojo joanne
jackie jacqueline
sam samuel
sammy samuel
chris christopher
kris christopher
kit christopher
nat nathan
ollie oliver
izzy isabel
bella isabel
ellie eleanor
bill william
billy william
willie william
willy william
fred frederick
freddie frederick
freddy frederick
hank henry
polly mary
terry terence
jack john
jackie jacqueline
franky francis
rod rodney
roddy rodney
nell eleanor
nellie eleanor
bill william
billy william
willie william
willy william
fred frederick
freddie frederick
freddy frederick
hank henry
polly mary
terry terence
jack john
jackie jacqueline
franky francis
rod rodney
roddy rodney
""".strip().splitlines()
EXCLUDE = set(
    [
        "eric",
        "erick",
        "derick",
        "carl",
        "tracy",
        "tracie",
        "traci",
        "elaine",
        "eileen",
        "aileen",
        "ella",
        "gail",
        "leon",
        "lynn",
        "austin",
        "cassandra",
        "jay",
        "julia",
        "clara",
        "lucas",
        "jan",
        "dora",
        "day",
        "sherry",
        "shelly",
        "kara",
        "kari",
        "jody",
        "inez",
        "lois",
        "maud",
        "nora",
        "lenora",
        "rita",
        "daisy",
        "ginger",
        "bela",
        "bell",
        "cole",
        "than",
        "micah",
        "saul",
        "salmon",
        "angel",
        "randy",
        "ford",
        "rupert",
        "lena",
        "magda",
    ]
)
with SRC.open(encoding="utf-8") as src:
    rows = [(r["name1"], r["name2"]) for r in csv.DictReader(src)]
nicks = collections.defaultdict(list)
for c, n in rows:
    nicks[c].append(n)
table = {}
roots = set()
groups = [g.split() for g in GROUPS]
for g in groups:
    for v in g:
        assert v not in roots, v
        roots.add(v)
for g in groups:
    for v in g:
        table[v] = g[0]
local = {}
for line in LOCAL:
    n, c = line.split()
    assert c in table.values() or c == "muhammad", (n, c)
    local[n] = c
for g in groups:
    for v in g:
        for n in nicks.get(v, []):
            if n in roots or n in table or n in local or n in EXCLUDE:
                continue
            table[n] = g[0]
for n, c in local.items():
    if n in roots and table[n] != c:
        continue
    table[n] = c
out = sorted((n, c) for n, c in table.items() if n != c)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write('# crossforce nickname table, spec v1 (docs/spec.md, "Nickname table").\n')
    f.write(
        "# Format: variant<TAB>canonical, folded (fold_text), one per line, sorted; lines starting '#' are comments.\n"
    )
    f.write(
        "# A forename not listed is its own canonical form. The table is part of the spec: change it only with\n"
    )
    f.write("# a new spec version, never by upgrading a package.\n")
    f.write(
        "# Derived from names.csv of the Python package 'nicknames' 1.0.1 (Carlton Northern, Nick Crews;\n"
    )
    f.write(
        "# https://github.com/carltonnorthern/nicknames; Apache License 2.0): each nickname of a curated list\n"
    )
    f.write(
        "# of formal names (spelling variants grouped) maps to the first formal name, in priority order, that\n"
    )
    f.write(
        "# lists it, leaving out names that are mostly given in their own right (Eric, Carl, Tracy, Elaine, ...);\n# plus local additions for British forms and transliterations (Muhammad, Iain, Dai, ...).\n"
    )
    for n, c in out:
        f.write(f"{n}\t{c}\n")
print(len(out), "entries")
