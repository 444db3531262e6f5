"""The holder's side of a request: which of its own records the tokens resolve to, and which one person
that is (``crossforce.client.personpick``); then confirm or clear the request on the matcher.

Which records the tokens are resolved against matters (issue 13: a true hit must never be called a
false positive): a request carries the index versions it matched (``matched_indexes``), and the desk
resolves against the token store's generation of exactly that version, current or not. A request from
a matcher that did not record versions resolves against the current generation of each epoch, then
against the older generations still held. If the generation a request needs is not held, this raises
``GenerationGoneError`` and leaves the request open: it cannot tell a hit from a false positive, so it
says neither. Before resolving, any staged generation is settled with the matcher (``reconcile``) so a
publish whose acknowledgement was lost is current here too.

One request covers one person (issue 15): the records the strongest agreement names, never every record
a token touched. When the tokens name no one person (a tie between people, or only a name that namesakes
share) this raises ``AmbiguousPersonError`` and leaves the request open until an officer chooses a
record. The matcher forgets a request's tokens once it is resolved (issue 16), so the chosen person's
records are kept in the profile (``crossforce.client.resolutions``) for approval to read back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from crossforce.client.connection import Connection
from crossforce.client.personpick import (
    AmbiguousPersonError,
    Outcome,
    PersonPick,
    RecordScore,
    Touched,
    pick_from_scores,
    pick_person,
)
from crossforce.client.profile import Profile
from crossforce.client.resolutions import Kept, Resolutions
from crossforce.client.retries import new_idempotency_key
from crossforce.client.tokenstore import Generation, GenerationGoneError, TokenStore
from crossforce.domain import DisclosureRequest, IndexRef, QueryToken, RequestState, Resolution
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError
from crossforce.scoring import agreement_levels
from crossforce.wire import disclosure as wire_disclosure


class LocalResolver:
    """Resolves requests against one force's token store; never sends a record anywhere."""

    def __init__(
        self,
        *,
        connection: Connection,
        profile: Profile,
        token_store: Callable[[], TokenStore],
        reconcile: Callable[[], object] | None = None,
    ) -> None:
        """``reconcile``: settles staged generations with the matcher before a request is resolved."""
        self._conn = connection
        self._profile = profile
        self._token_store = token_store
        self._reconcile = reconcile

    def person_pick(self, request: DisclosureRequest) -> PersonPick:
        """Every local record the request touched, scored, and the one person it names (read only).

        A request resolved already (the matcher has forgotten its tokens) gives what was kept then.
        Raises ``GenerationGoneError`` when the generation the request matched is not held.
        """
        if request.state is not RequestState.OPEN and not request.matched_tokens:
            return self._kept_pick(request)
        touched, held = self._touched(request)
        sent = {t.key_type for t in request.matched_tokens}
        return pick_person(touched, sent_types=sent, records_held=held)

    def local_matches(self, request: DisclosureRequest) -> tuple[Record, ...]:
        """The one person's records the request would disclose (empty: a Bloom false positive).

        Raises ``AmbiguousPersonError`` when the tokens name no one person, ``GenerationGoneError`` when
        the generation is not held."""
        pick = self.person_pick(request)
        if pick.outcome is Outcome.AMBIGUOUS:
            raise AmbiguousPersonError(request.request_id, pick)
        return pick.records

    def resolve(
        self, request: DisclosureRequest, *, record_id: str | None = None, undecided: bool = False
    ) -> Resolution:
        """Confirm ``request`` with one person's records, or clear it (no record touched).

        ``record_id``: the officer's choice among the records touched (that record and its duplicates).
        Without it an ambiguous request raises ``AmbiguousPersonError`` and stays open, as one whose
        generation is not held raises ``GenerationGoneError``; unless ``undecided`` (the officer is about
        to refuse it): then it is confirmed with no person chosen (``records`` empty), and its candidates
        are kept as such, so an approval would still have to choose.
        """
        pick = self.person_pick(request)
        if record_id:
            pick = pick.choose(record_id)
        elif pick.outcome is Outcome.AMBIGUOUS and not undecided:
            raise AmbiguousPersonError(request.request_id, pick)
        kept_rows = [_kept_row(s) for s in pick.person]
        if pick.outcome is Outcome.AMBIGUOUS:
            kept_rows = [_kept_row(s, chosen=False) for s in pick.candidates]
        if kept_rows and request.state is RequestState.OPEN:
            # Kept before the matcher forgets the tokens, so approval can find the records afterwards.
            with Resolutions(self._profile.path) as kept:
                kept.keep(request.request_id, kept_rows)
        confirmed = bool(pick.candidates) if undecided else bool(pick.person)
        msg = self._conn.call(
            self._conn.disclosure.Resolve,
            wire_disclosure.resolve_request(
                request.request_id, confirmed=confirmed, idempotency_key=new_idempotency_key()
            ),
        )
        updated = wire_disclosure.disclosure_request_from_pb(msg)
        return Resolution(request=updated, confirmed=confirmed, records=pick.records)

    # ------------------------------------------------------------------ inside
    def _touched(self, request: DisclosureRequest) -> tuple[list[Touched], int]:
        """The records the request's tokens resolve to, with the tokens each agreed with, and the most
        records any generation used holds (the scoring's record count)."""
        if self._reconcile is not None and self._token_store().staged():
            self._reconcile()
        store = self._token_store()
        by_epoch: dict[int, list[QueryToken]] = {}
        for tok in request.matched_tokens:
            by_epoch.setdefault(tok.epoch, []).append(tok)
        refs = {r.epoch: r for r in request.matched_indexes}
        found: dict[str, tuple[Generation, set[tuple[int, bytes]]]] = {}
        missing: list[IndexRef] = []
        fallbacks: list[tuple[list[QueryToken], list[Generation]]] = []
        for epoch, tokens in sorted(by_epoch.items()):
            ref = refs.get(epoch)
            gen = store.generation_for(ref) if ref is not None else store.current(epoch)
            if gen is None:
                missing.append(ref or IndexRef(epoch=epoch, version=0))
                continue
            _collect(store, gen, tokens, found)
            if ref is None:
                older = [g for g in reversed(store.generations()) if g.epoch == epoch and g != gen]
                fallbacks.append((tokens, older))
        if not found:
            # No recorded version: the request may predate the current generation (a republish since).
            for tokens, older in fallbacks:
                for gen in older:
                    if _collect(store, gen, tokens, found):
                        break
        if not found and missing:
            raise GenerationGoneError(request.request_id, missing)
        touched: list[Touched] = []
        for rid in sorted(found):
            gen, agreed = found[rid]
            record = store.record(gen, rid)
            if record is not None:
                touched.append(Touched(record=record, ref=gen.ref, tokens=frozenset(agreed)))
        held = max((g.record_count for g, _agreed in found.values()), default=0)
        return touched, held

    def _kept_pick(self, request: DisclosureRequest) -> PersonPick:
        """What was kept when ``request`` was resolved (its tokens are gone from the matcher)."""
        with Resolutions(self._profile.path) as kept:
            matched = kept.get(request.request_id)
        if matched is None:
            if request.state is RequestState.NO_MATCH:
                return pick_from_scores(())  # resolved to none of our records: nothing was kept
            raise PreconditionError(
                f"request {request.request_id} was resolved by another profile (or before profiles kept "
                "resolutions) and the matcher no longer holds its tokens: this profile cannot tell which "
                "of your records it matched; use the profile that resolved it"
            )
        store = self._token_store()
        scored: list[RecordScore] = []
        gone: list[IndexRef] = []
        for row in matched:
            gen = store.generation_for(row.ref)
            record = store.record(gen, row.record_id) if gen is not None else None
            if gen is None or record is None:
                gone.append(row.ref)
                continue
            types = row.key_types or ()
            scored.append(
                RecordScore(
                    record=record,
                    ref=row.ref,
                    agreed_types=types,
                    levels=agreement_levels(types),
                    probability=row.probability,
                    weight=row.weight,
                )
            )
        if gone:
            raise GenerationGoneError(
                request.request_id, sorted(set(gone), key=lambda r: (r.epoch, r.version))
            )
        return _kept_as_pick(scored, undecided=any(not row.chosen for row in matched))


def _kept_as_pick(scored: Sequence[RecordScore], *, undecided: bool) -> PersonPick:
    """Only one person's records are kept, except the candidates of a request confirmed without a
    choice, and every record an earlier version kept: several of those may be several people, so the
    officer chooses."""
    ranked = tuple(sorted(scored, key=lambda s: (-s.probability, -s.weight, s.record_id)))
    if undecided and len(ranked) > 1:
        return PersonPick(
            Outcome.AMBIGUOUS,
            (),
            ranked,
            f"{len(ranked)} records were kept without a chosen person (by an earlier version, or to "
            "refuse an ambiguous request); they may be different people",
        )
    return PersonPick(Outcome.PERSON, ranked, ranked, "kept when the request was resolved")


def _kept_row(scored: RecordScore, *, chosen: bool = True) -> Kept:
    return Kept(
        ref=scored.ref,
        record_id=scored.record_id,
        key_types=scored.agreed_types,
        probability=scored.score,
        weight=scored.weight,
        chosen=chosen,
    )


def _collect(
    store: TokenStore,
    gen: Generation,
    tokens: Sequence[QueryToken],
    found: dict[str, tuple[Generation, set[tuple[int, bytes]]]],
) -> bool:
    hits = store.matches(gen, ((t.key_type, t.token) for t in tokens))
    for rid, agreed in hits.items():
        _gen, held = found.setdefault(rid, (gen, set()))
        held |= agreed
    return bool(hits)
