"""Which officer a call acts for: the id in the organisation's signed officer assertion, never free text.

Why (issue 15, finding 1): the per-officer quota bucket was keyed on a free-text id, so rotating the id
reset the bucket. A call now carries an officer assertion (``crossforce.crypto.officer``) in the
``x-crossforce-officer-bin`` metadata, signed by the caller organisation's registered signing key; the
matcher verifies it against the key it holds for the organisation the client certificate names, and the
officer id it asserts is the one the quota bucket, the audit event and the request rows use. A free-text
``officer_id`` in the request must then be empty or that same id (INVALID_ARGUMENT otherwise).

Without an assertion the call is UNAUTHENTICATED, unless the deployment sets ``officer_credentials =
"optional"``: then the free text is used as before and reported as unverified. The id's shape (a collar
number, not a name or a date) is still ``policy.justification``'s rule, applied by the use cases.
Metadata is read with ``context.invocation_metadata()``, which the sync and the asyncio servers share.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from crossforce.clock import SECOND_MS, now_ms
from crossforce.crypto import officer as assertions
from crossforce.crypto.pki import Identity
from crossforce.domain import Justification
from crossforce.errors import AuthenticationError, ValidationError, VerificationError
from crossforce.server.auth import caller
from crossforce.server.policy.settings import OFFICER_CREDENTIALS_OPTIONAL, ServerSettings
from crossforce.server.usecases.common import check_text

if TYPE_CHECKING:
    from crossforce.server.matcher import Matcher

VERIFIED_CACHE = 4096
"""Signature checks remembered (about 4096 officers' current assertions; a few hundred kB)."""
ISSUE_HINT = (
    "issue one with `crossforce officer issue --profile PROFILE --officer ID --out FILE` and pass "
    "`--officer-credential FILE` (the SDK issues its own when its profile holds the organisation's "
    "signing key)"
)


@dataclass(frozen=True)
class Officer:
    """The officer a call acts for. ``verified``: the id came from a valid assertion, not free text."""

    officer_id: str
    verified: bool


def presented(context: grpc.ServicerContext) -> bytes | None:
    """The encoded assertion the call carries, None if none; AuthenticationError if it carries several
    (which one would count is exactly the ambiguity an attacker wants)."""
    found = [value for key, value in context.invocation_metadata() or () if key == assertions.METADATA_KEY]
    if not found:
        return None
    if len(found) > 1:
        raise AuthenticationError("the call carries more than one officer credential; send one")
    value = found[0]
    return value if isinstance(value, bytes) else value.encode("latin-1")


class OfficerCredentials:
    """Decides the officer of a call under one deployment's settings."""

    def __init__(
        self,
        *,
        signing_key: Callable[[str], bytes | None],
        clock: Callable[[], int],
        settings: ServerSettings,
    ) -> None:
        """``signing_key``: the organisation's currently registered signing key (None: not registered)."""
        self._signing_key = signing_key
        self._clock = clock
        self._optional = settings.officer_credentials == OFFICER_CREDENTIALS_OPTIONAL
        self._max_skew_ms = settings.officer_clock_skew_s * SECOND_MS
        self._max_text_chars = settings.limits.max_text_chars

    def officer(self, who: Identity, encoded: bytes | None, claimed: str, *, named: bool = True) -> Officer:
        """The officer ``who``'s call acts for, from its assertion ``encoded`` and the free text ``claimed``.

        ``named``: the call must name an officer (a check); a desk decision may name none, and then an
        empty ``claimed`` without an assertion is simply no officer.
        """
        check_text("officer_id", claimed, self._max_text_chars, required=False)  # huge input: refused first
        if encoded is None:
            if not claimed and not named:
                return Officer(officer_id="", verified=False)
            if self._optional:
                return Officer(officer_id=claimed, verified=False)
            raise AuthenticationError(f"officer credential required: {ISSUE_HINT}")
        asserted = self._verified(who, encoded)
        if claimed and claimed != asserted.officer_id:
            raise ValidationError(
                "differs from the officer id in the officer credential; leave it empty or give the same id",
                field="officer_id",
            )
        return Officer(officer_id=asserted.officer_id, verified=True)

    def justified(
        self, who: Identity, why: Justification, encoded: bytes | None
    ) -> tuple[Justification, Officer]:
        """``why`` with the officer id this call acts for, and that officer."""
        acting = self.officer(who, encoded, why.officer_id)
        return dataclasses.replace(why, officer_id=acting.officer_id), acting

    def _verified(self, who: Identity, encoded: bytes) -> assertions.OfficerAssertion:
        key = self._signing_key(who.org)
        if key is None:
            raise AuthenticationError(
                f"officer credential cannot be verified: {who.org} has not registered its signing key "
                "(crossforce org register)"
            )
        try:
            asserted = _verified_signature(encoded, who.org, key)
            assertions.check_live(asserted, now_ms=self._clock(), max_skew_ms=self._max_skew_ms)
        except (ValidationError, VerificationError) as exc:
            raise AuthenticationError(f"officer credential refused: {exc}") from None
        return asserted


@functools.lru_cache(maxsize=VERIFIED_CACHE)
def _verified_signature(encoded: bytes, org: str, signing_public: bytes) -> assertions.OfficerAssertion:
    """The signature check, remembered: the SDK sends one assertion for an hour of calls, and verifying
    costs about 200 us. Keyed on the exact bytes, organisation and key, so a hit is the same answer; a
    failure raises and is not remembered. Liveness is checked on every call (``check_live``)."""
    return assertions.verify_signature(encoded, org=org, signing_public=signing_public)


def for_matcher(matcher: Matcher) -> OfficerCredentials:
    """The officer rules of ``matcher``: its registry's keys and its settings. An assertion's lifetime is
    judged by the wall clock, as TLS judges the client certificate's, not by the matcher's replaceable
    clock (which dates what it records, and which tests move days ahead to expire an index)."""
    return OfficerCredentials(
        signing_key=matcher.registry.signing_key, clock=now_ms, settings=matcher.checking.settings
    )


def decision_officer(matcher: Matcher, context: grpc.ServicerContext, claimed: str) -> Officer:
    """The officer a desk decision (Approve, Refuse) records: as for a check, but one may name none."""
    return for_matcher(matcher).officer(caller(context), presented(context), claimed, named=False)
