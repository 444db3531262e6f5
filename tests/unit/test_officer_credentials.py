"""Which officer a call acts for, on both sides: the matcher's rule (``crossforce.server.officers``) and
the SDK's credential source (``crossforce.client.officercreds``). Over real assertions, no network."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import nacl.signing
import pytest

from crossforce.client import officercreds
from crossforce.client.officercreds import OfficerCredentials as ClientCredentials
from crossforce.crypto import officer
from crossforce.crypto.pki import Identity
from crossforce.domain import Justification
from crossforce.errors import AuthenticationError, NotFoundError, TooLargeError, ValidationError
from crossforce.server.officers import OfficerCredentials
from crossforce.server.policy.settings import ServerSettings

NOW = 1_790_000_000_000
DBS_KEY = nacl.signing.SigningKey(b"\x01" * 32)
OFSTED_KEY = nacl.signing.SigningKey(b"\x02" * 32)
REGISTERED = {"dbs": bytes(DBS_KEY.verify_key), "ofsted": bytes(OFSTED_KEY.verify_key)}
DBS = Identity(
    org="dbs", role="vetting-officer", fingerprint="00", not_after=datetime(2100, 1, 1, tzinfo=UTC)
)
WHY = Justification(
    purpose="school-staff-vetting", legal_basis="Police Act 1997 s113B", case_reference="C-1", officer_id=""
)


def rules(mode: str = "required") -> OfficerCredentials:
    return OfficerCredentials(
        signing_key=REGISTERED.get, clock=lambda: NOW, settings=ServerSettings(officer_credentials=mode)
    )


def assertion(
    key: nacl.signing.SigningKey = DBS_KEY, org: str = "dbs", officer_id: str = "DBS-4411"
) -> bytes:
    return officer.issue(key, org=org, officer_id=officer_id, now_ms=NOW).encode()


# ------------------------------------------------------------------------------------------ the matcher


def test_the_officer_is_the_one_the_assertion_names() -> None:
    acting = rules().officer(DBS, assertion(), "")
    assert (acting.officer_id, acting.verified) == ("DBS-4411", True)
    why, _ = rules().justified(DBS, WHY, assertion())
    assert why.officer_id == "DBS-4411" and why.case_reference == WHY.case_reference


def test_free_text_equal_to_the_asserted_id_is_accepted_and_any_other_refused() -> None:
    assert rules().officer(DBS, assertion(), "DBS-4411").officer_id == "DBS-4411"
    with pytest.raises(ValidationError, match="officer_id: differs from the officer id") as info:
        rules().officer(DBS, assertion(), "DBS-9999")
    assert "DBS-9999" not in str(info.value)  # refusals never quote what was sent


def test_without_an_assertion_a_check_is_unauthenticated_and_says_how_to_get_one() -> None:
    with pytest.raises(AuthenticationError, match=r"officer credential required: .*crossforce officer issue"):
        rules().officer(DBS, None, "DBS-4411")


def test_the_optional_setting_takes_free_text_marked_unverified() -> None:
    acting = rules("optional").officer(DBS, None, "DBS-4411")
    assert (acting.officer_id, acting.verified) == ("DBS-4411", False)
    assert rules("optional").officer(DBS, assertion(), "").verified  # one sent is still checked
    with pytest.raises(AuthenticationError):
        rules("optional").officer(DBS, assertion(OFSTED_KEY), "")


def test_a_decision_may_name_no_officer_but_never_an_unverified_one() -> None:
    assert rules().officer(DBS, None, "", named=False).officer_id == ""
    with pytest.raises(AuthenticationError, match="officer credential required"):
        rules().officer(DBS, None, "KEN-DO-7", named=False)


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (assertion(OFSTED_KEY), "bad signature"),
        (assertion(OFSTED_KEY, org="ofsted"), "issued by ofsted, not by dbs"),
        (officer.issue(DBS_KEY, org="dbs", officer_id="D-1", now_ms=NOW - 2 * 3600_000, lifetime_ms=3600_000)
         .encode(), "expired"),
        (b"\x01" * 40, "truncated"),
    ],
)  # fmt: skip
def test_a_bad_assertion_is_unauthenticated_and_says_why(encoded: bytes, message: str) -> None:
    with pytest.raises(AuthenticationError, match=f"officer credential refused: .*{message}"):
        rules().officer(DBS, encoded, "")


def test_an_organisation_that_has_not_registered_cannot_have_its_assertions_verified() -> None:
    stranger = Identity(org="ncsc", role="vetting-officer", fingerprint="01", not_after=DBS.not_after)
    with pytest.raises(AuthenticationError, match="ncsc has not registered its signing key"):
        rules().officer(stranger, assertion(org="ncsc"), "")


def test_the_setting_is_one_of_two_words() -> None:
    assert ServerSettings.from_toml_text('officer_credentials = "optional"').officer_credentials == "optional"
    assert ServerSettings().officer_credentials == "required"
    with pytest.raises(ValidationError, match="officer_credentials: must be one of: required, optional"):
        ServerSettings.from_toml_text('officer_credentials = "sometimes"')
    with pytest.raises(ValidationError, match="officer_clock_skew_s"):
        ServerSettings.from_toml_text("officer_clock_skew_s = -1")


# ------------------------------------------------------------------------------------------ the SDK


def no_key() -> nacl.signing.SigningKey:
    raise NotFoundError("organisation key file not found")


def test_the_sdk_issues_one_per_officer_with_the_organisation_key_and_reuses_it() -> None:
    clock = [NOW]
    creds = ClientCredentials(org="dbs", signing_key=lambda: DBS_KEY, clock=lambda: clock[0])
    first = creds.for_officer("DBS-4411")
    assert first is not None and creds.for_officer("DBS-4411") == first
    assert rules().officer(DBS, first, "DBS-4411").verified
    assert officer.parse(creds.for_officer("DBS-5000") or b"").officer_id == "DBS-5000"
    clock[0] = NOW + officercreds.MINTED_LIFETIME_MS - officercreds.RENEW_BEFORE_MS  # near its end: renewed
    assert creds.for_officer("DBS-4411") != first
    assert creds.for_officer("") is None  # no officer named, nothing pre-issued: nothing to send


def test_without_the_organisation_key_only_a_pre_issued_assertion_is_sent() -> None:
    assert ClientCredentials(org="dbs", signing_key=no_key).for_officer("DBS-4411") is None
    given = assertion()
    creds = ClientCredentials(org="dbs", signing_key=no_key, issued=given, clock=lambda: NOW)
    assert creds.issued_officer == "DBS-4411"
    assert creds.for_officer("DBS-4411") == given and creds.for_officer("") == given
    with pytest.raises(ValidationError, match="holds no organisation key"):
        creds.for_officer("DBS-9999")


def test_an_expired_pre_issued_assertion_is_refused_before_it_is_sent() -> None:
    creds = ClientCredentials(
        org="dbs", signing_key=no_key, issued=assertion(), clock=lambda: NOW + officer.DEFAULT_LIFETIME_MS
    )
    with pytest.raises(AuthenticationError, match="expired"):
        creds.for_officer("DBS-4411")


def test_a_pre_issued_assertion_of_another_organisation_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="issued by ofsted, not by dbs"):
        ClientCredentials(org="dbs", signing_key=no_key, issued=assertion(OFSTED_KEY, org="ofsted"))


def test_the_credential_file_round_trips_and_is_private(tmp_path: Path) -> None:
    a = officer.issue(DBS_KEY, org="dbs", officer_id="DBS-4411", now_ms=NOW)
    path = tmp_path / "officer.cred"
    officercreds.save(a, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert officercreds.load(path) == a.encode()
    (tmp_path / "junk").write_bytes(b"\xff\xfe")
    with pytest.raises(ValidationError, match="not an officer credential file"):
        officercreds.load(tmp_path / "junk")
    with pytest.raises(NotFoundError):
        officercreds.load(tmp_path / "missing")


def test_a_remembered_signature_is_still_checked_for_expiry_every_time() -> None:
    clock = [NOW]
    matcher = OfficerCredentials(
        signing_key=REGISTERED.get, clock=lambda: clock[0], settings=ServerSettings()
    )
    encoded = assertion()
    assert matcher.officer(DBS, encoded, "").verified
    clock[0] = NOW + officer.DEFAULT_LIFETIME_MS
    with pytest.raises(AuthenticationError, match="expired"):
        matcher.officer(DBS, encoded, "")
    ofsted = Identity(org="ofsted", role="vetting-officer", fingerprint="02", not_after=DBS.not_after)
    clock[0] = NOW
    with pytest.raises(AuthenticationError, match="issued by dbs, not by ofsted"):  # same bytes, other caller
        matcher.officer(ofsted, encoded, "")


def test_an_oversized_free_text_officer_id_is_refused_before_anything_else() -> None:
    """Its size is judged first, as for every text field (RESOURCE_EXHAUSTED), credential or not."""
    huge = "x" * (ServerSettings().limits.max_text_chars + 1)
    for encoded in (None, assertion()):
        with pytest.raises(TooLargeError, match="officer_id is longer than"):
            rules().officer(DBS, encoded, huge)
