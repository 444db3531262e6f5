"""The officer credential a call carries: a pre-issued assertion, or one the SDK issues itself.

The matcher takes the officer a check (or a desk decision) acts for from an officer assertion signed by
the organisation's registered signing key (``crossforce.crypto.officer``; server side
``crossforce.server.officers``), never from free text. Two ways to hold one:

- a force or vetting body system whose profile holds the organisation's keys (``keys/``) issues a
  short-lived assertion for whichever officer id the caller names, so existing callers that pass
  ``Justification.officer_id`` keep working unchanged;
- an officer workstation without the organisation's key is given a file issued by its organisation
  (``crossforce officer issue``) and presents that (``--officer-credential FILE``): it can act only as
  the officer the file names.

A pre-issued assertion wins for its own officer; a different officer id needs the organisation's key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nacl.signing

from crossforce.client.profile import Profile
from crossforce.clock import Clock, now_ms
from crossforce.crypto import officer
from crossforce.errors import AuthenticationError, NotFoundError, ValidationError
from crossforce.fsutil import atomic_write_private

MINTED_LIFETIME_MS = 3600 * 1000
"""Assertions the SDK issues for its own calls live an hour: long enough to reuse, short if leaked."""
RENEW_BEFORE_MS = 5 * 60 * 1000
"""A cached assertion is replaced once it has less than this left (a call may be retried for minutes)."""
MAX_FILE_BYTES = 4096

SigningKeySource = Callable[[], nacl.signing.SigningKey]
"""Reads the organisation's signing key; raises NotFoundError when the profile holds none."""


class OfficerCredentials:
    """The encoded assertion to attach for an officer id, issued on demand or pre-issued."""

    def __init__(
        self,
        *,
        org: str,
        signing_key: SigningKeySource | None,
        issued: bytes | None = None,
        clock: Clock = now_ms,
    ) -> None:
        """``signing_key``: how to read the organisation's key (None, or NotFoundError when called: the
        profile holds none); ``issued``: a pre-issued encoded assertion (``load``)."""
        self._org = org
        self._read_key = signing_key
        self._key: nacl.signing.SigningKey | None = None
        self._clock = clock
        self._issued = officer.parse(issued) if issued is not None else None
        self._issued_bytes = issued
        if self._issued is not None and self._issued.org != org:
            raise ValidationError(
                f"the officer credential was issued by {self._issued.org}, not by {org}",
                field="officer_credential",
            )
        self._minted: dict[str, officer.OfficerAssertion] = {}

    @classmethod
    def for_profile(cls, profile: Profile, *, issued: bytes | None = None) -> OfficerCredentials:
        """Credentials for ``profile``'s organisation, issued with its key when it holds one."""
        return cls(org=profile.org, signing_key=lambda: profile.org_keys().signing, issued=issued)

    @property
    def issued_officer(self) -> str | None:
        """The officer id of the pre-issued assertion, None if there is none."""
        return self._issued.officer_id if self._issued is not None else None

    def for_officer(self, officer_id: str) -> bytes | None:
        """The encoded assertion for a call naming ``officer_id`` (empty: whichever the credential names),
        or None when there is none to send (the matcher then decides: by default it refuses)."""
        now = self._clock()
        issued = self._issued
        if issued is not None and officer_id in ("", issued.officer_id):
            if now >= issued.expires_at_ms:
                raise AuthenticationError(
                    "the officer credential has expired; ask your organisation for a new one "
                    "(crossforce officer issue)"
                )
            return self._issued_bytes
        if not officer_id:
            return None
        key = self._signing_key()
        if key is None:
            if issued is not None:
                raise ValidationError(
                    "differs from the officer id in the officer credential, and this profile holds no "
                    "organisation key to issue another",
                    field="officer_id",
                )
            return None
        cached = self._minted.get(officer_id)
        if cached is None or now >= cached.expires_at_ms - RENEW_BEFORE_MS or now < cached.issued_at_ms:
            cached = officer.issue(
                key, org=self._org, officer_id=officer_id, now_ms=now, lifetime_ms=MINTED_LIFETIME_MS
            )
            self._minted[officer_id] = cached
        return cached.encode()

    def _signing_key(self) -> nacl.signing.SigningKey | None:
        if self._key is None and self._read_key is not None:
            try:
                self._key = self._read_key()
            except NotFoundError:
                self._read_key = None  # no key file: never look again
        return self._key


def load(path: Path) -> bytes:
    """The encoded assertion in an officer credential file (``save``), parsed but not verified."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no officer credential file at {path}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ValidationError(f"{path} is too large to be an officer credential file")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not an officer credential file (not text)") from None
    encoded = officer.from_armoured(text)
    officer.parse(encoded)
    return encoded


def save(assertion: officer.OfficerAssertion, path: Path) -> None:
    """Write ``assertion`` to ``path`` (0600: whoever reads it can act as the officer until it expires)."""
    atomic_write_private(Path(path), assertion.armoured().encode("ascii"))
