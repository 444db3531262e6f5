"""A profile's health, judged from facts already gathered: pure rules, no file, clock or network.

Why a pure module: ``crossforce.client.selfcheck`` reads the profile and asks the matcher; this module
only judges what it found (python-tuf's ``TrustedMetadataSet`` beside its ``Updater``), with the same
certificate rule the SDK applies before every call (``crossforce.client.certstatus``), so ``crossforce
doctor`` and the error before a call cannot disagree.

Every finding is OK, WARN or FAIL. A FAIL names the project error class it stands for, so the CLI maps
it to an exit status through its one table (``crossforce.cli.status``) like any other failure. Messages
name paths, roles, dates and fingerprints, never a key or a secret byte.
"""

from __future__ import annotations

import enum
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crossforce import errors
from crossforce.client.certstatus import (
    EXPIRY_WARNING_DAYS,
    CertFacts,
    ca_problem,
    certificate_problem,
    days_left,
    expiry_warning,
    newest_ca,
    when,
)


class Level(enum.IntEnum):
    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True)
class Finding:
    """One line of a health report: what was checked, on what, how it went, and why."""

    check: str
    """The kind of check: ``certificate``, ``ca``, ``matcher``, ``log key``, ``epochs``, ..."""
    subject: str
    """What it was checked on: a role, a path, an address."""
    level: Level
    detail: str
    failure: type[errors.CrossforceError] | None = None
    """For a FAIL, the error it stands for (which gives the exit status)."""
    facts: Mapping[str, str | int | bool | None] = field(default_factory=dict)
    """Extra values for ``--json`` (dates, days left, versions)."""


# ----------------------------------------------------------------------------------- certificates


def certificate_finding(
    cert: CertFacts, now: datetime, *, profile_path: str, refused: str | None = None
) -> Finding:
    """A role's certificate: FAIL if unusable or refused by the matcher, WARN if it ends within a week.

    ``refused``: why the matcher turned this certificate away when asked (revoked, unknown CA), if it did.
    """
    facts: dict[str, str | int | bool | None] = {
        "cn": cert.common_name,
        "role": cert.role,
        "not_after": cert.not_after.isoformat(),
        "days_left": days_left(cert.not_after, now),
        "fingerprint": cert.fingerprint,
    }
    summary = f"{cert.common_name}, until {when(cert.not_after)} ({facts['days_left']} days left)"
    problem = certificate_problem(cert, now, profile_path=profile_path)
    if problem is not None:
        return Finding("certificate", cert.role, Level.FAIL, problem, errors.AuthenticationError, facts)
    if refused is not None:
        return Finding(
            "certificate", cert.role, Level.FAIL, f"{summary}; {refused}", errors.AuthenticationError, facts
        )
    warning = expiry_warning(cert, now, profile_path=profile_path)
    if warning is not None:
        return Finding("certificate", cert.role, Level.WARN, warning, None, facts)
    return Finding("certificate", cert.role, Level.OK, summary, None, facts)


def unreadable_certificate(role: str, reason: str) -> Finding:
    return Finding("certificate", role, Level.FAIL, reason, errors.ValidationError)


def ca_finding(ca_pem: bytes, now: datetime) -> Finding:
    """The deployment CA the profile trusts (the newest in the bundle): every certificate hangs from it."""
    try:
        ca = newest_ca(ca_pem)
    except errors.AuthenticationError as exc:
        return Finding("ca", "ca.pem", Level.FAIL, str(exc), errors.ValidationError)
    if ca is None:
        return Finding("ca", "ca.pem", Level.FAIL, "holds no certificate", errors.ValidationError)
    left = days_left(ca.not_after, now)
    facts: dict[str, str | int | bool | None] = {
        "cn": ca.common_name,
        "not_after": ca.not_after.isoformat(),
        "days_left": left,
        "fingerprint": ca.fingerprint,
    }
    problem = ca_problem(ca_pem, now)
    if problem is not None:
        return Finding("ca", "ca.pem", Level.FAIL, problem, errors.AuthenticationError, facts)
    level = Level.WARN if left < EXPIRY_WARNING_DAYS else Level.OK
    detail = f"{ca.common_name}, until {when(ca.not_after)} ({left} days left)"
    return Finding("ca", "ca.pem", level, detail, None, facts)


# ----------------------------------------------------------------------------------- the matcher


@dataclass(frozen=True)
class Reach:
    """How asking the matcher went: ``error`` is None when it answered, else the error it raised."""

    address: str
    role: str | None
    """The role whose certificate made the call; None when no certificate was usable."""
    error: errors.CrossforceError | None = None


def reach_finding(reach: Reach) -> Finding:
    if reach.role is None:
        return Finding(
            "matcher",
            reach.address,
            Level.WARN,
            "not asked: no certificate in this profile is usable (see the certificate lines)",
        )
    if reach.error is not None:
        return Finding(
            "matcher", reach.address, Level.FAIL, str(reach.error) or type(reach.error).__name__,
            type(reach.error), {"role": reach.role},
        )  # fmt: skip
    return Finding(
        "matcher", reach.address, Level.OK, f"answered a ping as {reach.role}", None, {"role": reach.role}
    )


def not_asked(check: str, subject: str) -> Finding:
    """A check that needs the matcher's answer when the matcher could not be asked."""
    return Finding(check, subject, Level.WARN, "not checked: the matcher could not be asked")


def _short(key: bytes) -> str:
    return key.hex()[:16]


def log_key_finding(*, pinned: bytes | None, served: bytes) -> Finding:
    """The audit log key pinned in the profile against the one the matcher serves now."""
    if pinned is None:
        return Finding(
            "log key",
            "pinned",
            Level.WARN,
            f"none pinned yet (it is pinned on the first audit read); the matcher serves {_short(served)}...",
            None,
            {"served": served.hex()},
        )
    facts: dict[str, str | int | bool | None] = {"pinned": pinned.hex(), "served": served.hex()}
    if pinned != served:
        return Finding(
            "log key",
            "pinned",
            Level.FAIL,
            f"the matcher serves log key {_short(served)}..., not the pinned {_short(pinned)}...: "
            "its audit log cannot be verified against what this profile saw; treat as a security event",
            errors.VerificationError,
            facts,
        )
    return Finding("log key", "pinned", Level.OK, f"{_short(pinned)}... matches the matcher's", None, facts)


def epochs_finding(
    *, held: Sequence[int], held_current: int | None, active: Sequence[int], needs_secret: bool = True
) -> Finding:
    """The network secret's epochs this profile holds against the epochs the matcher serves checks for.

    A check makes tokens only for the epochs in use that the profile holds, so a force on an epoch this
    profile lacks cannot be searched: missing the newest is a FAIL, missing the previous a WARN.
    ``needs_secret``: False for a profile that neither publishes nor checks (an operator's, an
    auditor's), which needs no secret at all.
    """
    facts: dict[str, str | int | bool | None] = {
        "held": ",".join(map(str, held)),
        "current": held_current,
        "matcher_active": ",".join(map(str, active)),
    }
    if not held and not needs_secret:
        return Finding(
            "epochs", "network secret", Level.OK, "none held; not needed by this profile's roles", None, facts
        )
    if not held:
        return Finding(
            "epochs",
            "network secret",
            Level.FAIL,
            "this profile holds no network secret; install one with crossforce keys import",
            errors.ValidationError,
            facts,
        )
    mine = f"held {', '.join(map(str, held))} (current {held_current})"
    if not active:
        return Finding(
            "epochs",
            "network secret",
            Level.WARN,
            f"{mine}; no force has published yet, so the matcher serves no epoch to compare",
            None,
            facts,
        )
    theirs = f"the matcher serves {', '.join(map(str, active))}"
    newest = max(active)
    missing = [e for e in active if e not in held]
    if newest in missing:
        return Finding(
            "epochs",
            "network secret",
            Level.FAIL,
            f"{mine}; {theirs}: epoch {newest} is missing, so forces on it cannot be searched or "
            "matched; import the current secret with crossforce keys import",
            errors.PreconditionError,
            facts,
        )
    if missing:
        return Finding(
            "epochs",
            "network secret",
            Level.WARN,
            f"{mine}; {theirs}: epoch {', '.join(map(str, missing))} is missing, so forces still on it "
            "are not searched until they republish",
            None,
            facts,
        )
    if held_current is not None and held_current > newest:
        return Finding(
            "epochs",
            "network secret",
            Level.OK,
            f"{mine}; {theirs} (epoch {held_current} is not in use yet: publish under it)",
            None,
            facts,
        )
    return Finding("epochs", "network secret", Level.OK, f"{mine}; {theirs}", None, facts)


@dataclass(frozen=True)
class Registration:
    """What the matcher holds for this organisation (None fields when it is not registered)."""

    registered: bool
    key_version: int | None = None
    keys_match: bool | None = None


def registration_finding(
    org: str, reg: Registration, *, profile_path: str, can_register: bool = True
) -> Finding:
    """This organisation's keys at the matcher. ``can_register``: the profile holds a force-system
    certificate (only that role registers); without one, not being registered is only a warning."""
    if not reg.registered and not can_register:
        return Finding(
            "registration",
            org,
            Level.WARN,
            f"{org} is not registered; that needs a force-system certificate, and only matters to publish "
            "or to receive disclosures",
            None,
            {"registered": False},
        )
    if not reg.registered:
        return Finding(
            "registration",
            org,
            Level.FAIL,
            f"{org} is not registered with the matcher; run crossforce org register --profile {profile_path}",
            errors.PreconditionError,
            {"registered": False},
        )
    facts: dict[str, str | int | bool | None] = {
        "registered": True,
        "key_version": reg.key_version,
        "keys_match_local": reg.keys_match,
    }
    if not reg.keys_match:
        return Finding(
            "registration",
            org,
            Level.FAIL,
            f"registered (key version {reg.key_version}) with keys that are not this profile's: "
            "disclosures are sealed to keys this profile cannot open; re-register from the force "
            f"system that holds the keys (crossforce org register --profile {profile_path})",
            errors.VerificationError,
            facts,
        )
    return Finding(
        "registration", org, Level.OK, f"registered, key version {reg.key_version}, keys match", None, facts
    )


# ----------------------------------------------------------------------------------- local folders


@dataclass(frozen=True)
class PathMode:
    """One entry of the profile folder: its path relative to the profile, and its ``st_mode``."""

    relative: str
    mode: int
    secret: bool
    """A private key or the network secret: must be readable by its owner alone whatever its folder."""


def folders_finding(profile_path: str, entries: Sequence[PathMode]) -> Finding:
    """Folders must be 0700 and secret files 0600 (no group or other bits): keys and the network secret
    are the organisation's identity, and a token store lets anyone with the secret test guesses."""
    loose = [
        e.relative or "."
        for e in entries
        if (stat.S_ISDIR(e.mode) or e.secret) and stat.S_IMODE(e.mode) & 0o077
    ]
    if loose:
        shown = ", ".join(loose[:5]) + (f" and {len(loose) - 5} more" if len(loose) > 5 else "")
        return Finding(
            "folders",
            profile_path,
            Level.FAIL,
            f"readable by other users: {shown}; chmod 700 the folders and 600 the key files",
            errors.ValidationError,
            {"loose": len(loose)},
        )
    return Finding("folders", profile_path, Level.OK, "private (folders 0700, keys 0600)", None)


# ----------------------------------------------------------------------------------- the verdict

FAILURE_ORDER: tuple[type[errors.CrossforceError], ...] = (
    errors.VerificationError,
    errors.AuthenticationError,
    errors.UnavailableError,
    errors.PreconditionError,
    errors.ValidationError,
)
"""Which failure decides the verdict when several fail, worst first: a security event, then an identity
the matcher refuses, then a matcher that cannot be reached, then local configuration."""


def worst(findings: Sequence[Finding]) -> Finding | None:
    """The FAIL that decides the exit status (by ``FAILURE_ORDER``, then first listed), or None."""
    failed = [f for f in findings if f.level is Level.FAIL]
    if not failed:
        return None

    def rank(f: Finding) -> int:
        for i, kind in enumerate(FAILURE_ORDER):
            if f.failure is not None and issubclass(f.failure, kind):
                return i
        return len(FAILURE_ORDER)

    return min(failed, key=rank)
