"""How the desk shows which of a force's records a request names, and which one person it would disclose.

Why a module of its own: ``desk show``, ``desk resolve`` and ``desk approve`` all show the same thing (every
record the tokens touched, the key types that agreed, the score, and which records are the one person
to disclose; ``crossforce.client.personpick``), in a table or as JSON, and take the same ``--record``.
"""

from __future__ import annotations

import click

from crossforce.cli.render import make_console
from crossforce.cli.tables import records_table
from crossforce.client.personpick import Outcome, PersonPick, shown_probability
from crossforce.encoding.records import payload_fields


def _one_record(_ctx: click.Context, _param: click.Parameter, given: tuple[str, ...]) -> str | None:
    """``--record`` given more than once would disclose several people: refused, never the last one."""
    if len(set(given)) > 1:
        raise click.BadParameter(
            f"one request discloses one person: give one record, not {len(set(given))} ({', '.join(given)})"
        )
    return given[0] if given else None


record_option = click.option(
    "--record",
    "--include-record",
    "record_id",
    multiple=True,
    callback=_one_record,
    help="Choose this local record (and its duplicates) as the one person, among the records the "
    "request's tokens resolve to; default: the person the strongest agreement names.",
)
"""``--include-record`` is the old name, kept as an alias: it took several records, now one."""


def candidate_rows(pick: PersonPick) -> list[dict[str, str]]:
    """Each record touched, as the officer sees it: its fields, what agreed, the score, and whether
    it is the person to disclose."""
    person = {s.record_id for s in pick.person}
    return [
        {
            **payload_fields(s.record),
            "agreed": ", ".join(s.key_type_names) or "-",
            "score": shown_probability(s.score) if s.agreed_types else "-",
            "to disclose": "yes" if s.record_id in person else "no",
        }
        for s in pick.candidates
    ]


def pick_doc(pick: PersonPick) -> dict[str, object]:
    person = {s.record_id for s in pick.person}
    return {
        "outcome": pick.outcome.value,
        "reason": pick.reason,
        "candidates": [
            {
                "record_id": s.record_id,
                "key_types": list(s.key_type_names),
                "score": round(s.score, 6),
                "probability": round(s.probability, 6),
                "identifying": s.identifying,
                "to_disclose": s.record_id in person,
            }
            for s in pick.candidates
        ],
    }


def show_pick(pick: PersonPick) -> None:
    console = make_console()
    if pick.outcome is Outcome.NO_MATCH:
        console.print("[yellow]the tokens resolve to none of your records: a Bloom-filter false positive[/]")
        return
    console.print(records_table(candidate_rows(pick), title="your records these tokens resolve to"))
    if pick.outcome is Outcome.PERSON:
        console.print(
            f"one person to disclose: {', '.join(s.record_id for s in pick.person)} ({pick.reason})"
        )
    else:
        console.print(
            f"[bold yellow]ambiguous[/]: {pick.reason}; nothing is disclosed unless you choose "
            "one record with --record ID"
        )
