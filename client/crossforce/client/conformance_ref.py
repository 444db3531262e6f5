"""The reference adapter: this project's implementation answering the conformance kit's contract.

``python -m crossforce.client.conformance_ref`` reads one JSON request per line on stdin and writes one
answer per line on stdout (tests/vectors/conformance/runner.md), exactly what another language's
implementation does, so the kit proves the contract end to end on the code that defines spec v2.
``scripts/make_conformance_vectors.py`` calls ``answer`` in-process to write the expected values: the
vectors are this module's answers, reviewed as a spec change.

Every answer is derived from the public spec functions. ``keys`` and ``tokens`` pass each vector's
``today`` to key derivation (its explicit input); the record-file rules (``record``) still read the
clock, so ``_use_today`` also points the date module's clock at the request's date. That changes the
date for the whole process, so ``answer`` runs in-process only where nothing else reads the clock (this
adapter's own process, the generator script); tests run it as a subprocess. The module is over 400
lines because it is the contract's table of operations, one small function per operation, kept together
so a reader sees how every answer is derived in one place.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from crossforce.client.conformance import json_line
from crossforce.encoding import dates
from crossforce.encoding.keytypes import KEY_TYPES, encode_key
from crossforce.encoding.matchkeys import canonical_forename, key_bytes, soundex
from crossforce.encoding.nameclasses import name_classes
from crossforce.encoding.normalise import (
    fold_text,
    normalise_given_names,
    normalise_identifier,
    normalise_postcode,
    normalise_previous_name,
    normalise_surname,
    parse_date,
    parse_date_parts,
    postcode_district,
)
from crossforce.encoding.recordrules import read_row
from crossforce.encoding.records import FIELDS, Record
from crossforce.encoding.tokens import Tokeniser, derive_subkey
from crossforce.errors import RecordError, ValidationError
from crossforce.index.bloom import BloomIndex, block_indices, probe_positions, token_array
from crossforce.index.params import IndexParams, expected_fill, fill_stddev, theoretical_fpr
from crossforce.index.partitioned import Partition, PartitionedIndex
from crossforce.limits import DEFAULT_LIMITS
from crossforce.scoring import score

SURROGATES: Final = range(0xD800, 0xE000)
"""Not code points a JSON (UTF-8) string can carry: ``fold_range`` skips them."""

Json = Any
"""A decoded JSON value (the contract's inputs and outputs)."""


class OpError(Exception):
    """An answer that is an error: ``{"code": ...}`` plus any facts the contract names (a field)."""

    def __init__(self, code: str, **facts: str) -> None:
        super().__init__(code)
        self.code = code
        self.facts = facts


_today: datetime.date | None = None


def _use_today(text: str) -> datetime.date:
    """Make ``text`` (YYYY-MM-DD) the date every record-level spec function sees; returns it."""
    global _today  # noqa: PLW0603 - the one clock the library reads for whole records, per process
    try:
        day = datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise OpError("bad_request", field="today") from None
    if day != _today:
        dates.utc_today = lambda: day  # type: ignore[attr-defined]  # record-file rules read the clock
        _today = day
    return day


def _record(data: Mapping[str, Json]) -> Record:
    values = {name: data.get(name, "") for name in FIELDS}
    values["previous_names"] = tuple(data.get("previous_names", ()))
    return Record(**values)


def _name_view(given: Sequence[str], sur: tuple[str, tuple[str, ...], tuple[str, ...]]) -> dict[str, Json]:
    compact, parts, variants = sur
    return {"given": list(given), "compact": compact, "parts": list(parts), "variants": list(variants)}


def _given_names(i: Mapping[str, Json]) -> Json:
    given = normalise_given_names(i["text"])
    full = [g for g in given if len(g) > 1]
    return {
        "given": list(given),
        "full_forenames": full,
        "first_forename": full[0] if full else None,
        "first_initial": given[0][0] if given else None,
    }


def _surname(i: Mapping[str, Json]) -> Json:
    sur = normalise_surname(i["text"])
    return None if sur is None else {k: v for k, v in _name_view((), sur).items() if k != "given"}


def _previous_name(i: Mapping[str, Json]) -> Json:
    name = normalise_previous_name(i["text"], i["given_names"])
    if name is None:
        return None
    return _name_view(name.given, (name.surname, name.surname_parts, name.surname_variants))


def _date(i: Mapping[str, Json]) -> Json:
    parts = parse_date_parts(i["text"], today=datetime.date.fromisoformat(i["today"]))
    if parts is None:
        return None
    unordered = parts.day_month_unordered
    return {
        "year": parts.year,
        "month": parts.month,
        "day": parts.day,
        "valid": parts.valid,
        "day_month_unordered": None if unordered is None else list(unordered),
    }


def _date_strict(i: Mapping[str, Json]) -> Json:
    try:
        date = parse_date(i["text"], today=datetime.date.fromisoformat(i["today"]))
    except ValidationError:
        raise OpError("invalid_date") from None
    return None if date is None else date.iso()


def _identifier(i: Mapping[str, Json]) -> Json:
    try:
        return normalise_identifier(i["kind"], i["text"])
    except ValidationError:
        raise OpError("invalid_identifier") from None


def _postcode(i: Mapping[str, Json]) -> Json:
    postcode = normalise_postcode(i["text"])
    return None if postcode is None else {"postcode": postcode, "district": postcode_district(postcode)}


def _record_rules(i: Mapping[str, Json]) -> Json:
    _use_today(i["today"])
    try:
        checked = read_row(dict(i["record"]), "<vector>", 0)
    except RecordError as exc:
        raise OpError("invalid_record", field=exc.field or "") from None
    fields = {name: getattr(checked.record, name) for name in FIELDS}
    fields["previous_names"] = list(checked.record.previous_names)
    return {"record": fields, "emptied": [w.field for w in checked.warnings]}


def _keys(i: Mapping[str, Json]) -> Json:
    today = _use_today(i["today"])
    try:
        keys = key_bytes(_record(i["record"]), today=today)
    except ValidationError:
        raise OpError("field_too_long") from None
    return [{"type": kt, "canonical_hex": key.hex()} for kt, key in keys]


def _name_classes(i: Mapping[str, Json]) -> Json:
    forename, surname = name_classes(_record(i["record"]))
    return {"forename_class": forename, "surname_class": surname}


def _tokens(i: Mapping[str, Json]) -> Json:
    today = _use_today(i["today"])
    tokeniser = Tokeniser(secret=bytes.fromhex(i["secret_hex"]), epoch=i["epoch"])
    try:
        tokens = tokeniser.record_tokens(_record(i["record"]), today=today)
    except ValidationError:
        raise OpError("field_too_long") from None
    return [{"type": kt, "token_hex": token.hex()} for kt, token in tokens]


def _canonical(i: Mapping[str, Json]) -> Json:
    try:
        return encode_key(i["type"], i["fields"]).hex()
    except ValidationError:
        raise OpError("invalid_key") from None


def _subkey(i: Mapping[str, Json]) -> Json:
    if i["type"] not in KEY_TYPES:
        raise OpError("unknown_key_type")
    try:
        return derive_subkey(bytes.fromhex(i["secret_hex"]), i["type"], i["epoch"]).hex()
    except ValidationError as exc:
        raise OpError(f"invalid_{exc.field}") from None


def _key_types(_: Mapping[str, Json]) -> Json:
    return [
        {"code": kt.code, "name": kt.name, "agrees": dict(kt.agrees), "span": kt.date_span,
         "max": kt.max_per_record}
        for kt in (KEY_TYPES[code] for code in sorted(KEY_TYPES))
    ]  # fmt: skip


def _cost(i: Mapping[str, Json]) -> Json:
    """Quota units of one block of a candidate: the sum of each token's ``span``, at least 1 (spec,
    "Checks")."""
    types = i["types"]
    if any(t not in KEY_TYPES for t in types):
        raise OpError("unknown_key_type")
    return max(1, sum(KEY_TYPES[t].date_span for t in types))


def _limits(_: Mapping[str, Json]) -> Json:
    """Every limit by name; ``max_tokens_per_type`` as an object keyed by the code in decimal (JSON keys
    are strings)."""
    out: dict[str, Json] = {}
    for f in dataclasses.fields(DEFAULT_LIMITS):
        value = getattr(DEFAULT_LIMITS, f.name)
        out[f.name] = {str(k): v for k, v in sorted(value.items())} if isinstance(value, Mapping) else value
    return out


def _tokens_of(hexes: Sequence[str]) -> list[bytes]:
    try:
        tokens = [bytes.fromhex(h) for h in hexes]
        token_array(tokens)
    except (ValueError, ValidationError):
        raise OpError("invalid_token") from None
    return tokens


def _params(i: Mapping[str, Json]) -> IndexParams:
    try:
        return IndexParams(num_blocks=i["num_blocks"], num_probes=i["num_probes"])
    except ValidationError:
        raise OpError("invalid_params") from None


def _positions(i: Mapping[str, Json]) -> Json:
    params = _params(i)
    array = token_array(_tokens_of([i["token"]]))
    probes = probe_positions(array, params.num_probes)[0]
    return {"block": int(block_indices(array, params.num_blocks)[0]), "probes": [int(p) for p in probes]}


def _index_build(i: Mapping[str, Json]) -> Json:
    index = BloomIndex.build(_tokens_of(i["tokens"]), _params(i))
    set_bits = round(index.fill_ratio() * index.params.size_bits)  # exact: the ratio is popcount / bits
    return {"sha256": index.sha256().hex(), "set_bits": set_bits}


def _index_contains(i: Mapping[str, Json]) -> Json:
    index = BloomIndex.build(_tokens_of(i["inserted"]), _params(i))
    return [bool(hit) for hit in index.contains(_tokens_of(i["queries"]))]


def _fpr(i: Mapping[str, Json]) -> Json:
    return theoretical_fpr(_params(i), i["token_count"])


def _fill(i: Mapping[str, Json]) -> Json:
    params = _params(i)
    return {
        "expected_fill": expected_fill(params, i["token_count"]),
        "fill_stddev": fill_stddev(params, i["token_count"]),
    }


def _fold_range(i: Mapping[str, Json]) -> Json:
    first, last = i["first"], i["last"]
    if not 0 <= first <= last <= 0x10FFFF:
        raise OpError("bad_request", field="first")
    text = "".join(fold_text(chr(c)) + "\n" for c in range(first, last + 1) if c not in SURROGATES)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _entries(items: Sequence[Mapping[str, Json]]) -> tuple[list[int], list[bytes]]:
    """(key types, tokens) of a list of ``{"type", "token"}`` objects."""
    types = [item["type"] for item in items]
    if any(not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= 0xFF for t in types):
        raise OpError("invalid_key_type")
    return types, _tokens_of([item["token"] for item in items])


def _partitioned(i: Mapping[str, Json], field: str) -> PartitionedIndex:
    """The format-2 index of ``i[field]`` with the partition geometry the vector gives (choose_params is
    advisory, so the kit never depends on it): one ``{"key_type", "num_blocks", "num_probes"}`` per type
    present, ascending, and none for an absent type."""
    types, tokens = _entries(i[field])
    given = [(p["key_type"], _params(p)) for p in i["partitions"]]
    counts = {t: len({tok for ty, tok in zip(types, tokens, strict=True) if ty == t}) for t in set(types)}
    if [t for t, _ in given] != sorted(counts):
        raise OpError("invalid_partitions")
    try:
        partitions = [Partition(key_type=t, params=params, token_count=counts[t]) for t, params in given]
        words = [
            BloomIndex.build(
                [tok for ty, tok in zip(types, tokens, strict=True) if ty == t], params
            ).to_bytes()
            for t, params in given
        ]
        return PartitionedIndex.from_bytes(partitions, b"".join(words))
    except ValidationError:
        raise OpError("invalid_partitions") from None


def _partitioned_build(i: Mapping[str, Json]) -> Json:
    index = _partitioned(i, "entries")
    data = index.to_bytes()
    return {
        "partitions": [
            {"key_type": p.key_type, "num_blocks": p.params.num_blocks, "num_probes": p.params.num_probes,
             "token_count": p.token_count}
            for p in index.partitions
        ],
        "sha256": index.sha256().hex(),
        "size_bytes": len(data),
        "set_bits": int.from_bytes(data, "little").bit_count(),
    }  # fmt: skip


def _partitioned_contains(i: Mapping[str, Json]) -> Json:
    index = _partitioned(i, "inserted")
    types, tokens = _entries(i["queries"])
    return [bool(hit) for hit in index.contains(types, tokens)]


def _score(i: Mapping[str, Json]) -> Json:
    try:
        result = score(
            i["types"],
            forename_class=i["forename_class"],
            surname_class=i["surname_class"],
            force_records=i["force_records"],
            total_records=i["total_records"],
            fpr=i["fpr"],
            sent_types=i.get("sent_types", ()),
        )
    except ValueError:
        raise OpError("invalid_score_input") from None
    levels = dict(sorted(result.levels.items()))  # a set ordered them: sort, so the kit is reproducible
    return {"probability": result.probability, "weight": result.weight, "levels": levels}


OPS: Final[Mapping[str, Callable[[Mapping[str, Json]], Json]]] = {
    "fold": lambda i: fold_text(i["text"]),
    "fold_range": _fold_range,
    "given_names": _given_names,
    "surname": _surname,
    "previous_name": _previous_name,
    "nickname": lambda i: canonical_forename(i["name"]),
    "soundex": lambda i: soundex(i["text"]),
    "date": _date,
    "date_strict": _date_strict,
    "identifier": _identifier,
    "postcode": _postcode,
    "record": _record_rules,
    "name_classes": _name_classes,
    "keys": _keys,
    "tokens": _tokens,
    "canonical": _canonical,
    "subkey": _subkey,
    "key_types": _key_types,
    "cost": _cost,
    "positions": _positions,
    "index_build": _index_build,
    "index_contains": _index_contains,
    "fpr": _fpr,
    "fill": _fill,
    "partitioned_build": _partitioned_build,
    "partitioned_contains": _partitioned_contains,
    "score": _score,
    "limits": _limits,
}
"""Every operation of the contract (runner.md), by name."""


def answer(request: Mapping[str, Json]) -> dict[str, Json]:
    """The answer object for one request object: ``{"id", "output"}`` or ``{"id", "error": {"code"}}``."""
    rid = request.get("id")
    op = OPS.get(request.get("op", ""))
    if op is None:
        return {"id": rid, "error": {"code": "unsupported_op"}}
    try:
        return {"id": rid, "output": op(request.get("input") or {})}
    except OpError as exc:
        return {"id": rid, "error": {"code": exc.code, **exc.facts}}
    except (KeyError, TypeError, ValueError):
        return {"id": rid, "error": {"code": "bad_request"}}


def main() -> None:
    """Serve the contract on stdin/stdout until stdin closes: one line in, one line out, flushed."""
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        reply = (
            answer(request) if isinstance(request, dict) else {"id": None, "error": {"code": "bad_request"}}
        )
        out.write(json_line(reply).encode("utf-8"))
        out.flush()


if __name__ == "__main__":
    main()
