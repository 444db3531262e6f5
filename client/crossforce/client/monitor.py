"""The log monitor's rules: which verified log events and which tree heads raise which alarm (pure).

``crossforce audit monitor`` follows the matcher's audit log. The SDK verifies every new entry first
(``AuditReader.verify_log``: consistency with the head verified before, root recomputed from the
leaves); these rules then read what was verified and say what a person must look at. They do no I/O
(python-tuf's ``TrustedMetadataSet`` against its ``Updater``): the command fetches and persists,
these functions decide. Every rule returns a new ``MonitorState`` and never changes the one given.

Alarms (docs/threat-model.md: the operator swaps keys, shows a rewritten history, hides entries):

- a REGISTRATION or KEY_CHANGE for an organisation that did not announce that key version (and
  fingerprint, when announced) out of band, and any key event for the monitor's own organisation
  naming keys its profile does not hold (the operator's logged key swap);
- a key event whose continuity proof is missing or does not verify (issue 16: key continuity): a
  KEY_CHANGE needs the previous signing key's hand-over (``orgkeys.verify_key_change``), a
  REGISTRATION the binding of a force-system certificate the deployment's CA issued to that organisation
  (``continuity.verify_key_history``, as every client checks before pinning);
  and a key version that does not follow the one seen before;
- an EPOCH_CHANGE that was not announced, or whose epoch goes backwards;
- a head smaller than the last one verified (rollback), a head that does not extend it (a fork, a
  timestamp going backwards, a failed consistency proof), and entries missing or unreadable.

The announcements file and the monitor's kept state are ``crossforce.client.monitorfiles``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from crossforce.auditlog.events import EpochChange, KeyChange, Registration, parse_event
from crossforce.auditlog.treehead import TreeHead
from crossforce.client.monitorfiles import Announcements, KeySeen, MonitorState, key_fingerprint
from crossforce.crypto import continuity, orgkeys
from crossforce.errors import CrossforceError, ValidationError


class AlarmKind(enum.StrEnum):
    """What went wrong; the names are part of the ``--json`` output and never change."""

    UNANNOUNCED_KEY = "unannounced_key"
    FOREIGN_OWN_KEY = "foreign_own_key"
    KEY_PROOF = "key_proof"
    KEY_VERSION = "key_version"
    UNANNOUNCED_EPOCH = "unannounced_epoch"
    EPOCH_BACKWARDS = "epoch_backwards"
    ROLLBACK = "rollback"
    INCONSISTENT_HEAD = "inconsistent_head"
    ENTRIES_MISSING = "entries_missing"
    UNREADABLE_ENTRY = "unreadable_entry"


@dataclass(frozen=True, kw_only=True)
class Alarm:
    """One finding a person must look at: what, which organisation, which log entry, and why."""

    kind: AlarmKind
    message: str
    org: str | None = None
    log_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alarm": self.kind.value,
            "org": self.org,
            "log_index": self.log_index,
            "message": self.message,
        }

    def line(self) -> str:
        where = f" at log index {self.log_index}" if self.log_index is not None else ""
        return f"ALARM {self.kind.value}{where}: {self.message}"


# ---------------------------------------------------------------------------------------------- heads
def head_alarms(*, last: TreeHead | None, new: TreeHead, checked: int) -> list[Alarm]:
    """Alarms about a signed head before the SDK verifies entries against it (the signature is checked
    by the caller): the log shrank below a head verified or entries checked, or a head of the same size
    has another root, or the clock went backwards. Consistency proper is ``verify_log``'s."""
    alarms: list[Alarm] = []
    floor = max(checked, last.tree_size if last else 0)
    if new.tree_size < floor:
        alarms.append(
            Alarm(
                kind=AlarmKind.ROLLBACK,
                message=f"the matcher's signed head has {new.tree_size} entries, fewer than the {floor} "
                "already verified: the log was rolled back",
            )
        )
    elif last is not None and new.tree_size == last.tree_size and new.root_hash != last.root_hash:
        alarms.append(
            Alarm(
                kind=AlarmKind.INCONSISTENT_HEAD,
                message=f"two different roots are signed for {new.tree_size} entries: the log forked",
            )
        )
    elif last is not None and new.timestamp_ms < last.timestamp_ms:
        alarms.append(
            Alarm(kind=AlarmKind.INCONSISTENT_HEAD, message="the signed head's timestamp went backwards")
        )
    return alarms


def verification_alarm(message: str) -> Alarm:
    """The log did not verify (a consistency proof, a leaf, a root, an entry out of place)."""
    return Alarm(kind=AlarmKind.INCONSISTENT_HEAD, message=f"the log did not verify: {message}")


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True, kw_only=True)
class Context:
    """What the event rules judge against: who runs the monitor and what was announced."""

    own_org: str
    own_keys: Collection[tuple[bytes, bytes]]
    """(signing, box) public keys this organisation's profile made; a key event for it naming any other
    keys was not made by it."""
    announcements: Announcements | None
    """None: key events of other organisations and epochs are not checked against announcements."""
    ca_pem: bytes | None = None
    """The deployment's CA: a REGISTRATION must carry the binding of a certificate it issued to that
    organisation. None for a development deployment without a CA (nothing is required then)."""


def check_entries(
    state: MonitorState, rows: Iterable[tuple[int, bytes]], ctx: Context
) -> tuple[MonitorState, list[Alarm]]:
    """Check verified entries ``(index, entry)`` from ``state.checked`` on, in order; entries this role
    may not read are empty and only counted. Returns the state after them and the alarms they raise."""
    alarms: list[Alarm] = []
    checked, epoch, keys = state.checked, state.epoch, dict(state.keys)
    own: list[tuple[int, Registration, bool]] = []  # own-organisation key events: index, event, proven
    for index, entry in rows:
        if index != checked:
            alarms.append(
                Alarm(
                    kind=AlarmKind.ENTRIES_MISSING,
                    message=f"entry {checked} was expected next in the verified log, not {index}",
                    log_index=checked,
                )
            )
            break
        checked += 1
        if not entry:
            continue
        try:
            event = parse_event(entry)
        except ValidationError as exc:
            alarms.append(
                Alarm(
                    kind=AlarmKind.UNREADABLE_ENTRY,
                    message=f"a verified entry is not an event this client can read ({exc})",
                    log_index=index,
                )
            )
            continue
        if isinstance(event, Registration):
            found = _key_alarms(index, event, keys.get(event.org), ctx)
            alarms += found
            if event.org == ctx.own_org:
                own.append((index, event, not any(a.kind == AlarmKind.KEY_PROOF for a in found)))
            seen = keys.get(event.org)
            if seen is None or event.key_version > seen.key_version:
                keys[event.org] = KeySeen(
                    key_version=event.key_version, signing_key=event.signing_key, log_index=index
                )
        elif isinstance(event, EpochChange):
            alarms += _epoch_alarms(index, event, epoch, ctx)
            epoch = max(epoch, event.current_epoch)
    alarms += _own_key_alarms(own, ctx)
    new = replace(state, checked=checked, epoch=epoch, keys=MappingProxyType(keys))
    return new, sorted(alarms, key=lambda a: -1 if a.log_index is None else a.log_index)


def _own_key_alarms(events: Sequence[tuple[int, Registration, bool]], ctx: Context) -> list[Alarm]:
    """Key events for the monitor's own organisation whose keys its profile does not hold.

    A version the profile has since rotated away from is not an alarm when its proof holds and a later
    version in the same pass ends in the profile's keys: the chain of hand-overs proves the organisation
    made it (a profile keeps only its current keys). Every other foreign key is an alarm.
    """
    newest = events[-1][1] if events else None
    settled = newest is not None and (newest.signing_key, newest.box_key) in ctx.own_keys
    alarms: list[Alarm] = []
    for index, event, proven in events:
        if (event.signing_key, event.box_key) in ctx.own_keys:
            continue
        if settled and proven and newest is not None and event.key_version < newest.key_version:
            continue
        what = "key change" if isinstance(event, KeyChange) else "registration"
        alarms.append(
            Alarm(
                kind=AlarmKind.FOREIGN_OWN_KEY,
                message=f"a {what} for {event.org} (key version {event.key_version}) names keys this "
                "profile did not make: someone else's keys are logged as yours; tell the operator and "
                "every organisation",
                org=event.org,
                log_index=index,
            )
        )
    return alarms


def _key_alarms(index: int, event: Registration, seen: KeySeen | None, ctx: Context) -> list[Alarm]:
    org, version = event.org, event.key_version
    alarms: list[Alarm] = []

    def alarm(kind: AlarmKind, message: str) -> None:
        alarms.append(Alarm(kind=kind, message=message, org=org, log_index=index))

    what = "key change" if isinstance(event, KeyChange) else "registration"
    if org != ctx.own_org and ctx.announcements is not None:  # own keys: ``_own_key_alarms``
        announced = ctx.announcements.keys.get(org, {})
        printed = key_fingerprint(event.signing_key, event.box_key)
        if version not in announced:
            alarm(
                AlarmKind.UNANNOUNCED_KEY,
                f"a {what} for {org} (key version {version}, fingerprint {printed}) was not announced",
            )
        elif announced[version] not in (None, printed):
            alarm(
                AlarmKind.UNANNOUNCED_KEY,
                f"the {what} for {org} (key version {version}) logs fingerprint {printed}, not the one "
                "announced",
            )
    expected = seen.key_version + 1 if seen is not None else 1
    if (seen is not None and version != expected) or isinstance(event, KeyChange) != (version > 1):
        alarm(
            AlarmKind.KEY_VERSION,
            f"a {what} for {org} logs key version {version} where version {expected} was expected next",
        )
    if problem := _continuity_problem(event, seen, ca_pem=ctx.ca_pem):
        alarm(
            AlarmKind.KEY_PROOF,
            f"the {what} for {org} (key version {version}) {problem}: it may not have been made by {org}",
        )
    return alarms


def _continuity_problem(event: Registration, seen: KeySeen | None, *, ca_pem: bytes | None) -> str:
    """Why the logged key event's continuity proof does not hold ("" when it does): the same checks a
    client makes before pinning (``crossforce.crypto.continuity``)."""
    try:
        if isinstance(event, KeyChange):
            if not event.previous_key_proof:
                return "carries no proof from its previous signing key"
            if seen is None:
                return "has no earlier key version in the log to prove it"
            orgkeys.verify_key_change(
                event.org,
                event.signing_key,
                event.box_key,
                event.key_version,
                event.previous_key_proof,
                seen.signing_key,
            )
        else:
            first = continuity.KeyVersion(
                org=event.org,
                signing_key=event.signing_key,
                box_key=event.box_key,
                key_version=event.key_version,
                log_index=0,
                at_ms=event.at_ms,
                certificate=event.certificate,
                certificate_proof=event.certificate_proof,
            )
            continuity.verify_key_history(event.org, [first], ca_pem=ca_pem)
    except CrossforceError as exc:
        return f"has no valid continuity proof ({exc})"
    return ""


def _epoch_alarms(index: int, event: EpochChange, last: int, ctx: Context) -> list[Alarm]:
    alarms: list[Alarm] = []
    if event.current_epoch < last:
        alarms.append(
            Alarm(
                kind=AlarmKind.EPOCH_BACKWARDS,
                message=f"an epoch change moves the current epoch back from {last} to {event.current_epoch}",
                log_index=index,
            )
        )
    if ctx.announcements is not None and event.current_epoch not in ctx.announcements.epochs:
        alarms.append(
            Alarm(
                kind=AlarmKind.UNANNOUNCED_EPOCH,
                message=f"an epoch change to epoch {event.current_epoch} (retiring through "
                f"{event.retired_through}) was not announced",
                log_index=index,
            )
        )
    return alarms
