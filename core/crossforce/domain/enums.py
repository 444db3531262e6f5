"""Enumerations of the domain: roles, hit strength, request states, refusal reasons, parties.

Numbers are the proto enum numbers; role names are the certificate role texts."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """The roles a certificate can carry (its SAN URI ``crossforce://<org>/<role>``); defined only here.

    Members are ``str``, so they compare and hash equal to the role text a certificate carries. Which
    role may call which RPC is the matcher's role table (``crossforce.server.policy.roles``).
    """

    FORCE_SYSTEM = "force-system"
    """A force's (or vetting body's) own server: holds its keys, publishes, resolves tokens."""
    VETTING_OFFICER = "vetting-officer"
    DISCLOSURE_OFFICER = "disclosure-officer"
    AUDITOR = "auditor"
    """Oversight (e.g. an inspectorate): reads the whole log and every request's metadata, never payloads."""
    OPERATOR = "operator"
    """Runs the matcher: health, reports, overdue requests."""


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
"""Every role, in the order tables and help text show them."""

# Groups of roles with one meaning each, ordered by preference (a person before the force's server), so
# the matcher's role table and a client choosing which certificate to use read the same definition.
HOLDER_ROLES: tuple[str, ...] = (Role.DISCLOSURE_OFFICER.value, Role.FORCE_SYSTEM.value)
"""Act for the holding force on its requests: watch them, resolve their tokens."""
DECIDER_ROLES: tuple[str, ...] = (Role.DISCLOSURE_OFFICER.value,)
"""Decide a disclosure (approve, refuse): only a person, never the force's server."""
REQUESTER_ROLES: tuple[str, ...] = (Role.VETTING_OFFICER.value, Role.FORCE_SYSTEM.value)
"""Receive a disclosure for the requesting organisation (fetch and open it)."""
OVERSIGHT_ROLES: tuple[str, ...] = (Role.AUDITOR.value, Role.OPERATOR.value)
"""See every request's metadata (never payloads) and the operator's report."""


class Strength(enum.IntEnum):
    """The label of a hit's probability (proto ``Strength``; spec v2, "Scoring"): STRONG at 0.95 or more,
    MEDIUM at 0.70 or more, WEAK at or above the purpose's report threshold (``crossforce.scoring.label``).

    The thresholds are the same for every purpose, so a label means one thing everywhere. NONE: no label,
    which is how a hit-only purpose's hit is answered (it says only that a force may hold the person)."""

    NONE = 0
    WEAK = 1
    MEDIUM = 2
    STRONG = 3

    @property
    def label(self) -> str:
        """Lower-case name for people: ``none``, ``weak``, ``medium``, ``strong``."""
        return self.name.lower()


def strength_label(value: int) -> str:
    """The label of a strength number; an unknown number is shown as itself (never raises)."""
    try:
        return Strength(value).label
    except ValueError:
        return str(value)


class RequestState(enum.IntEnum):
    """Disclosure request states (proto ``RequestState``; 0, unspecified, is never a state)."""

    OPEN = 1
    CONFIRMED = 2
    NO_MATCH = 3
    APPROVED = 4
    REFUSED = 5
    DELIVERED = 6

    @property
    def label(self) -> str:
        """Lower-case name for people and files: ``open``, ``no_match``, ..."""
        return self.name.lower()


class RefusalReason(enum.IntEnum):
    """Why a holder refused (proto ``RefusalReason``); UNSPECIFIED means "not refused"."""

    UNSPECIFIED = 0
    NOT_RELEVANT = 1
    LEGAL_RESTRICTION = 2
    INSUFFICIENT_BASIS = 3
    REFER_TO_FORCE = 4
    OTHER = 5


class Party(enum.IntEnum):
    """Which side of a request the caller lists (proto ``Party``)."""

    HOLDER = 1
    """Requests against the caller's force."""
    REQUESTER = 2
    """Requests the caller's organisation opened."""


class NotSearchedReason(enum.IntEnum):
    """Why an expected force was not searched by a check (proto ``NotSearchedReason``)."""

    UNSPECIFIED = 0
    NEVER_PUBLISHED = 1
    """Expected, but the matcher holds no index from it."""
    EXPIRED = 2
    """Its newest index is past its expiry date."""
    RETIRED_EPOCH_ONLY = 3
    """Its only index is under a network-secret epoch that is no longer in use."""
    NO_TOKENS_FOR_EPOCH = 4
    """The check carried no token for the epoch of its index (the requester lacks that epoch's secret)."""

    @property
    def label(self) -> str:
        """Words for people: ``never published``, ``expired``, ..."""
        return _NOT_SEARCHED_LABELS[self]


_NOT_SEARCHED_LABELS = {
    NotSearchedReason.UNSPECIFIED: "not searched",
    NotSearchedReason.NEVER_PUBLISHED: "never published",
    NotSearchedReason.EXPIRED: "index expired",
    NotSearchedReason.RETIRED_EPOCH_ONLY: "index only under a retired epoch",
    NotSearchedReason.NO_TOKENS_FOR_EPOCH: "no tokens for its epoch",
}


class OrgKind(enum.StrEnum):
    """What kind of organisation a client certificate speaks for; the CA sets it, the matcher obeys it.

    The kind, not the role, says whether an organisation holds police records: only a police force may
    publish an index or act as the holder of a request, so a vetting body cannot plant a "tripwire"
    index and learn of other bodies' checks. Only the operator's own auditor reads the whole audit log.
    """

    TERRITORIAL_POLICE = "territorial-police"
    """One of the 43 forces of ``crossforce/data/forces.csv`` (the default kind of a listed code)."""
    NATIONAL_POLICE = "national-police"
    """A police force outside that list (e.g. a national or specialist force): holds records too."""
    VETTING_BODY = "vetting-body"
    """Checks candidates and receives disclosures; holds no police records."""
    OPERATOR = "operator"
    """Runs the matcher; its auditors oversee the whole deployment."""

    @property
    def is_police(self) -> bool:
        """Whether organisations of this kind hold police records (may publish and be a holder)."""
        return self in POLICE_KINDS


POLICE_KINDS: frozenset[OrgKind] = frozenset({OrgKind.TERRITORIAL_POLICE, OrgKind.NATIONAL_POLICE})
"""The kinds that hold police records."""
