"""Write the golden encoding vectors, tests/vectors/encoding.json (docs/spec.md, sections "Normalisation"
to "Subkeys and tokens").

The vectors are the contract: another implementation conforms when it reproduces every value. Run this
only when the spec version changes, and review the diff as a spec change.

    python scripts/make_encoding_vectors.py [--out tests/vectors/encoding.json]

It is over 400 lines because most of it is the vector records themselves (one literal per real-world case);
the code that writes them is short.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from crossforce.encoding import SPEC_VERSION
from crossforce.encoding.keytypes import MAX_PREVIOUS_NAMES, KeyType
from crossforce.encoding.matchkeys import KEY_TYPES, decode_key, derive_keys, encode_key, soundex
from crossforce.encoding.nameclasses import CLASS_TABLE_SHA256, name_classes
from crossforce.encoding.normalise import (
    IDENTIFIER_KINDS,
    fold_text,
    normalise_given_names,
    normalise_identifier,
    normalise_name,
    normalise_postcode,
    normalise_previous_name,
    parse_date_parts,
    postcode_district,
)
from crossforce.encoding.placeholders import PLACEHOLDER_FORENAME_WORDS, PLACEHOLDER_NAMES
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import HKDF_INFO_PREFIX, HKDF_SALT, Tokeniser, derive_subkey
from crossforce.errors import ValidationError

SECRET = bytes(range(32))
"""Test secret only: 00 01 02 ... 1f. Never a real network secret."""
EPOCH = 7
OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "encoding.json"


def _pnc(year: int, serial: int) -> str:
    check = "ZABCDEFGHJKLMNPQRTUVWXY"[int(f"{year % 100:02d}{serial:07d}") % 23]
    return f"{year}/{serial:07d}{check}"


RECORDS: list[tuple[str, Record]] = [
    (
        "plain record with every identifier",
        Record(
            record_id="v01",
            given_names="William Henry",
            surname="Smith",
            date_of_birth="1980-03-05",
            sex="M",
            pnc_id=_pnc(2001, 123456),
            ni_number="JK 12 34 57 D",
            passport_number="502135326",
            driving_licence="MORGA753116SM9IJ 35",
            postcode="LS1 4AB",
        ),
    ),
    (
        "nickname and UK date order: Bill is William",
        Record(record_id="v02", given_names="Bill", surname="SMITH", date_of_birth="05/03/1980"),
    ),
    (
        "accents and a Spanish double surname with a conjunction",
        Record(
            record_id="v03", given_names="José María", surname="Núñez y García", date_of_birth="1975-11-30"
        ),
    ),
    (
        "O' prefix and an accented Irish forename",
        Record(record_id="v04", given_names="Siobhán", surname="O’Brien", date_of_birth="1990-07-14"),
    ),
    (
        "Mac prefix and compact YYYYMMDD date",
        Record(record_id="v05", given_names="Angus", surname="Mac Donald", date_of_birth="19621201"),
    ),
    (
        "hyphenated forename and surname, D-Mon-YYYY date, a maiden name",
        Record(
            record_id="v06",
            given_names="Anne-Marie",
            surname="Smith-Jones",
            date_of_birth="1-Feb-1985",
            previous_names=("Anne-Marie Brown",),
        ),
    ),
    (
        "particles and an impossible date (30 February): partial keys only",
        Record(record_id="v07", given_names="Pieter", surname="van der Berg", date_of_birth="1972-02-30"),
    ),
    (
        "missing date of birth: name_nodate and the postcode keys carry the name",
        Record(record_id="v08", given_names="Mohammed", surname="Khan", postcode="b1 1aa"),
    ),
    (
        "surname missing: the forename keys with the date and the district of a non-UK postcode",
        Record(
            record_id="v17", given_names="Ava Grace", surname="", date_of_birth="19061113", postcode="2323"
        ),
    ),
    (
        "nickname spelt another way: forename codes as written and after the nickname table",
        Record(
            record_id="v18",
            given_names="Jak",
            surname="Campbell",
            date_of_birth="1988-10-03",
            postcode="SW1A 1AA",
            previous_names=("Jack Campbell-Reid",),
        ),
    ),
    (
        "identifiers only",
        Record(record_id="v09", surname="", pnc_id=_pnc(1985, 4567)[2:], ni_number="AB654321"),
    ),
    (
        "married name with previous names: full and surname-only",
        Record(
            record_id="v10",
            given_names="Margaret",
            surname="Jones",
            date_of_birth="1950-06-01",
            previous_names=("Peggy Evans", "Williams"),
        ),
    ),
    (
        "month over 12: day and month swapped in the source",
        Record(record_id="v11", given_names="Jean-Luc", surname="Picard", date_of_birth="1963-13-07"),
    ),
    (
        "day unknown (00) in a legacy record: year and month keys only",
        Record(record_id="v16", given_names="Ewa", surname="Kowalska", date_of_birth="00/03/1980"),
    ),
    (
        "initials only",
        Record(record_id="v12", given_names="J. P.", surname="Smith", date_of_birth="1980-03-05"),
    ),
    (
        "middle name used as first name: name_dob and name_nodate for c(F1) and c(F2)",
        Record(
            record_id="v19",
            given_names="Robert James",
            surname="Okafor",
            date_of_birth="1979-08-21",
            postcode="M1 2AB",
            previous_names=("Robert James Mensah",),
        ),
    ),
    (
        "year and month only: name_year and the partial date",
        Record(record_id="v20", given_names="Fatima", surname="Begum", date_of_birth="1991-07"),
    ),
    (
        "placeholder forename (Female Child): surname keys only",
        Record(record_id="v21", given_names="Female Child", surname="Walsh", date_of_birth="2024-02-10"),
    ),
    (
        "placeholder forename (Baby Boy) and placeholder previous names",
        Record(
            record_id="v22",
            given_names="Baby Boy",
            surname="Ahmed",
            date_of_birth="2023-09-01",
            previous_names=("Unknown", "Female Child Brown"),
        ),
    ),
    (
        "John Doe: the surname Doe is a placeholder beside John or Jane",
        Record(record_id="v23", given_names="John", surname="Doe", date_of_birth="1970-01-02"),
    ),
    (
        "Mary Doe: with another forename Doe is a real surname",
        Record(record_id="v24", given_names="Mary", surname="Doe", date_of_birth="1970-01-02"),
    ),
    (
        "placeholder surname (Of The House) beside a real forename: forename_dob only",
        Record(record_id="v25", given_names="Sean", surname="Of The House", date_of_birth="1966-05-17"),
    ),
    (
        "worst case: every key type at its max per record",
        Record(
            record_id="v26",
            given_names="Bill Bob Peggy",
            surname="Al Ali-Roe",
            date_of_birth="1980-03-04",
            postcode="SW1A 1AA",
            previous_names=(
                "Jim Liz Tony Da Dia-Fox",
                "Mick Kate Dick Le Lu-Moss",
                "Rob Maggie Bill Ab Abe-Tate",
                "Tony Jim Kate El Ela-Wynn",
                "Kevin Smith",
            ),
            pnc_id="98/123456G",
            ni_number="JK123457C",
            passport_number="502135326",
            driving_licence="MORGA753116SM9IJ",
        ),
    ),
    (
        "placeholders: unknown forename, N/K NI number, all-zero passport",
        Record(
            record_id="v13",
            given_names="UNKNOWN",
            surname="Smith",
            date_of_birth="1980-03-05",
            ni_number="N/K",
            passport_number="000000000",
        ),
    ),
    (
        "Cyrillic name: folded, no Soundex, no phonetic key",
        Record(record_id="v14", given_names="Иван", surname="Петров", date_of_birth="1985-04-12"),
    ),
    (
        "particle surname with an accent, title and suffix",
        Record(
            record_id="v15",
            given_names="Mr Ana",
            surname="de la Cruz García Jr",
            date_of_birth="1999-12-31T00:00:00",
        ),
    ),
]

FOLD_EXAMPLES = [
    "Zoë Łukasz-O’Brien",
    "ẞTRASSE",
    "  Ærø  Smith--Jones ",
    "Ŀlull Paul·la",
    "İstanbul",
    "ℌenry",
    "Smi\u00adth",
    "D'Souza",
    "Nguyễn Thị Minh Khai",
    "Иван Петров",
]
SOUNDEX_EXAMPLES = ["robert", "rupert", "ashcraft", "pfister", "tymczak", "lee", "mcdonald", "1234", "o"]
PLACEHOLDER_EXAMPLES: list[tuple[str, str]] = [
    *((g, "Smith") for g in ("Unknown", "UNK", "Female Child", "Baby Boy", "Male", "Unnamed Infant", "Girl")),
    *((g, "Smith") for g in ("Man Woman", "Person", "N/K", "n.k.", "N / A", "Baby Jane", "Unknown Smith")),
    *((g, "Smith") for g in ("Boy George", "N K", "N. A.", "N.A.")),
    *(("Ada", s) for s in ("Q", "q.", "-", "Unk", "UNKNOWN", "Of The House", "Not Known", "NK", "N/K")),
    *(("Ada", s) for s in ("Baby", "Female Child", "Xu", "Ng", "Of", "Houseman")),
    ("John", "Doe"),
    ("Jane", "DOE"),
    ("Mr John Paul", "Doe"),
    ("Jon", "Doe"),
    ("Mary", "Doe"),
    ("", "Doe"),
    *(("Ada", value) for value in sorted(PLACEHOLDER_NAMES)),
    *((value, "Smith") for value in sorted(PLACEHOLDER_NAMES | PLACEHOLDER_FORENAME_WORDS)),
]
"""(given names, surname) pairs around every placeholder rule, near misses that are real names, and every
listed placeholder value in both fields."""
CLASS_EXAMPLES: list[tuple[str, str]] = [
    ("John", "Smith"),
    ("Bill", "Patel"),
    ("Jack", "Jones"),
    ("Susan", "Khan"),
    ("J. Paul", "Begum"),
    ("Wojciech", "Kowalski"),
    ("Siobhán", "O'Brien"),
    ("", "Smith"),
    ("John", ""),
    ("Female Child", "Unknown"),
    ("John", "Doe"),
    ("Mary", "Doe"),
]


def _name_view(given_names: str, surname: str, previous: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    current = normalise_name(given_names, surname)
    names = [("current", current)] + [
        (f"previous: {raw}", normalise_previous_name(raw, given_names)) for raw in previous
    ]
    for label, name in names:
        if name is None:
            out.append({"name": label, "missing": True})
            continue
        out.append(
            {
                "name": label,
                "given": list(name.given),
                "surname": name.surname,
                "surname_parts": list(name.surname_parts),
                "surname_variants": list(name.surname_variants),
            }
        )
    return out


def _identifiers(record: Record) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for kind in IDENTIFIER_KINDS:
        try:
            out[kind] = normalise_identifier(kind, getattr(record, kind))
        except ValidationError:
            out[kind] = "INVALID"
    return out


def _classes_view(given_names: str, surname: str) -> dict[str, Any]:
    fore, sur = name_classes(Record(record_id="c", given_names=given_names, surname=surname))
    return {"given_names": given_names, "surname": surname, "forename_class": fore, "surname_class": sur}


def key_type_view(kt: KeyType) -> dict[str, Any]:
    """A key type as the vectors state it: the spec v2 columns (v1's strengths are not spec v2)."""
    return {
        "code": kt.code,
        "name": kt.name,
        "agrees": dict(sorted(kt.agrees.items())),
        "date_span": kt.date_span,
        "max_per_record": kt.max_per_record,
    }


def build() -> dict[str, Any]:
    tokeniser = Tokeniser(secret=SECRET, epoch=EPOCH)
    records = []
    for description, record in RECORDS:
        parts = parse_date_parts(record.date_of_birth)
        postcode = normalise_postcode(record.postcode)
        keys = []
        for key, (kt, token) in zip(derive_keys(record), tokeniser.record_tokens(record), strict=True):
            if key.key_type != kt:
                raise AssertionError("record_tokens and derive_keys disagree on order")
            key_type, fields = decode_key(key.canonical)
            keys.append(
                {
                    "key_type": key_type,
                    "name": KEY_TYPES[key_type].name,
                    "fields": list(fields),
                    "canonical_hex": key.canonical.hex(),
                    "token_hex": token.hex(),
                }
            )
        records.append(
            {
                "description": description,
                "record": {
                    "record_id": record.record_id,
                    "given_names": record.given_names,
                    "surname": record.surname,
                    "date_of_birth": record.date_of_birth,
                    "sex": record.sex,
                    "previous_names": list(record.previous_names),
                    "pnc_id": record.pnc_id,
                    "ni_number": record.ni_number,
                    "passport_number": record.passport_number,
                    "driving_licence": record.driving_licence,
                    "postcode": record.postcode,
                },
                "normalised": {
                    "names": _name_view(record.given_names, record.surname, record.previous_names),
                    "date_of_birth": None
                    if parts is None
                    else {
                        "year": parts.year,
                        "month": parts.month,
                        "day": parts.day,
                        "valid": parts.valid,
                        "day_month_unordered": list(parts.day_month_unordered)
                        if parts.day_month_unordered
                        else None,
                    },
                    "identifiers": _identifiers(record),
                    "postcode": postcode,
                    "postcode_district": None if postcode is None else postcode_district(postcode),
                },
                "keys": keys,
            }
        )
    return {
        "description": "crossforce encoding golden vectors; see docs/spec.md. Test secret only.",
        "spec_version": SPEC_VERSION,
        "secret_hex": SECRET.hex(),
        "epoch": EPOCH,
        "hkdf": {"salt_ascii": HKDF_SALT.decode(), "info_prefix_hex": HKDF_INFO_PREFIX.hex()},
        "subkeys_hex": {str(kt): derive_subkey(SECRET, kt, EPOCH).hex() for kt in sorted(KEY_TYPES)},
        "max_previous_names": MAX_PREVIOUS_NAMES,
        "key_types": [key_type_view(KEY_TYPES[c]) for c in sorted(KEY_TYPES)],
        "fold_text": [{"input": s, "output": fold_text(s)} for s in FOLD_EXAMPLES],
        "soundex": [{"input": s, "output": soundex(s)} for s in SOUNDEX_EXAMPLES],
        "canonical_encoding": [
            {
                "key_type": 16,
                "fields": ["william", "smith", "1980-03-05"],
                "canonical_hex": encode_key(16, ["william", "smith", "1980-03-05"]).hex(),
            },
            {"key_type": 1, "fields": ["01/123456A"], "canonical_hex": encode_key(1, ["01/123456A"]).hex()},
        ],
        "placeholders": [
            {
                "given_names": g,
                "surname": sur,
                "given_missing": normalise_given_names(g) == (),
                "name_missing": normalise_name(g, sur) is None,
            }
            for g, sur in PLACEHOLDER_EXAMPLES
        ],
        "name_class_tables_sha256": dict(CLASS_TABLE_SHA256),
        "name_classes": [_classes_view(g, sur) for g, sur in CLASS_EXAMPLES],
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
