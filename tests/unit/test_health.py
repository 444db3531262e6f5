"""The pure rules behind the certificate check before a call and ``crossforce doctor``
(``crossforce.client.certstatus``, ``crossforce.client.health``), and the reading of gRPC's
connection failures (``crossforce.client.connection.connect_failure``)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest

from crossforce import errors
from crossforce.client import certstatus, health
from crossforce.client.connection import connect_failure
from crossforce.crypto import issuing

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PROFILE = "profiles/kent"


def cert(
    *, starts: timedelta = timedelta(days=-20), ends: timedelta = timedelta(days=10)
) -> certstatus.CertFacts:
    return certstatus.CertFacts(
        org="kent",
        role="force-system",
        common_name="kent:force-system",
        not_before=NOW + starts,
        not_after=NOW + ends,
        fingerprint="ab" * 32,
    )


# ------------------------------------------------------------------------- certificates


def test_expired_certificate_says_when_and_how_to_renew() -> None:
    problem = certstatus.certificate_problem(cert(ends=timedelta(days=-3)), NOW, profile_path=PROFILE)
    assert problem is not None
    assert "your certificate for kent/force-system expired on 2026-11-27 12:00 UTC" in problem
    assert f"crossforce pki renew PKI_DIR --org kent --role force-system --profile {PROFILE}" in problem


def test_not_yet_valid_certificate_points_at_the_clock() -> None:
    problem = certstatus.certificate_problem(cert(starts=timedelta(hours=2)), NOW, profile_path=PROFILE)
    assert problem is not None and "is not valid until 2026-11-30 14:00 UTC" in problem and "clock" in problem


@pytest.mark.parametrize(
    ("ends", "warned", "words"),
    [
        (timedelta(days=30), False, ""),
        (timedelta(days=7, minutes=1), False, ""),
        (timedelta(days=6, hours=23), True, "in 6 days"),
        (timedelta(days=1, hours=1), True, "in 1 day)"),
        (timedelta(hours=5), True, "within a day"),
        (timedelta(days=-1), False, ""),  # expired: an error, not a warning
    ],
)
def test_expiry_warning_only_within_a_week_of_a_usable_certificate(
    ends: timedelta, warned: bool, words: str
) -> None:
    warning = certstatus.expiry_warning(cert(ends=ends), NOW, profile_path=PROFILE)
    assert (warning is not None) is warned
    if warning is not None:
        assert words in warning and "crossforce pki renew" in warning


def test_certificate_finding_levels_and_facts() -> None:
    ok = health.certificate_finding(cert(ends=timedelta(days=20)), NOW, profile_path=PROFILE)
    assert ok.level is health.Level.OK and ok.facts["days_left"] == 20 and ok.failure is None
    soon = health.certificate_finding(cert(ends=timedelta(days=2)), NOW, profile_path=PROFILE)
    assert soon.level is health.Level.WARN
    gone = health.certificate_finding(cert(ends=timedelta(days=-10, hours=-3)), NOW, profile_path=PROFILE)
    assert gone.level is health.Level.FAIL and gone.failure is errors.AuthenticationError
    assert gone.facts["days_left"] == -10
    revoked = health.certificate_finding(
        cert(), NOW, profile_path=PROFILE, refused="refused by the matcher: certificate has been revoked"
    )
    assert revoked.level is health.Level.FAIL and "revoked" in revoked.detail


def test_cert_facts_read_a_real_certificate() -> None:
    ca = issuing.create_ca("unit")
    pair = issuing.issue_client_certificate(ca, org="kent", role="auditor", valid_days=3)
    facts = certstatus.cert_facts(pair.cert_pem)
    assert (facts.org, facts.role, facts.common_name) == ("kent", "auditor", "kent:auditor")
    assert facts.not_before < facts.not_after
    assert certstatus.ca_problem(ca.cert_pem, facts.not_after) is None
    assert "expired on" in str(certstatus.ca_problem(ca.cert_pem, facts.not_after + timedelta(days=4000)))
    with pytest.raises(errors.AuthenticationError):
        certstatus.cert_facts(b"not a certificate")


# ------------------------------------------------------------------------- what the matcher holds


def test_log_key_pinned_differently_is_a_security_event() -> None:
    same = health.log_key_finding(pinned=b"\x01" * 32, served=b"\x01" * 32)
    assert same.level is health.Level.OK
    differ = health.log_key_finding(pinned=b"\x01" * 32, served=b"\x02" * 32)
    assert differ.level is health.Level.FAIL and differ.failure is errors.VerificationError
    unpinned = health.log_key_finding(pinned=None, served=b"\x02" * 32)
    assert unpinned.level is health.Level.WARN


@pytest.mark.parametrize(
    ("held", "current", "active", "level"),
    [
        ((), None, (1,), health.Level.FAIL),  # no secret at all
        ((1,), 1, (), health.Level.WARN),  # nobody published yet
        ((1,), 1, (1,), health.Level.OK),
        ((1, 2), 2, (2, 1), health.Level.OK),
        ((2,), 2, (2, 1), health.Level.WARN),  # previous epoch missing: forces still on it not searched
        ((1,), 1, (2, 1), health.Level.FAIL),  # newest epoch missing
        ((1, 2), 2, (1,), health.Level.OK),  # rotated locally, not yet published under 2
    ],
)
def test_epochs_held_against_epochs_in_use(
    held: tuple[int, ...], current: int | None, active: tuple[int, ...], level: health.Level
) -> None:
    assert health.epochs_finding(held=held, held_current=current, active=active).level is level


def test_registration_missing_or_with_other_keys_fails() -> None:
    missing = health.registration_finding("kent", health.Registration(False), profile_path=PROFILE)
    assert missing.level is health.Level.FAIL and "crossforce org register" in missing.detail
    other = health.registration_finding("kent", health.Registration(True, 3, False), profile_path=PROFILE)
    assert other.level is health.Level.FAIL and other.failure is errors.VerificationError
    fine = health.registration_finding("kent", health.Registration(True, 3, True), profile_path=PROFILE)
    assert fine.level is health.Level.OK and fine.facts["key_version"] == 3


def test_folders_private_unless_a_folder_or_a_secret_file_is_open_to_others() -> None:
    def entry(relative: str, kind: int, perm: int, *, secret: bool = False) -> health.PathMode:
        return health.PathMode(relative, kind | perm, secret=secret)

    private = [
        entry("", stat.S_IFDIR, 0o700),
        entry("ca.pem", stat.S_IFREG, 0o644),
        entry("keys/org-keys.json", stat.S_IFREG, 0o600, secret=True),
    ]
    assert health.folders_finding(PROFILE, private).level is health.Level.OK
    open_dir = [*private, entry("certs", stat.S_IFDIR, 0o755)]
    found = health.folders_finding(PROFILE, open_dir)
    assert found.level is health.Level.FAIL and "certs" in found.detail
    open_key = [*private, entry("certs/auditor-key.pem", stat.S_IFREG, 0o640, secret=True)]
    assert "auditor-key.pem" in health.folders_finding(PROFILE, open_key).detail


def test_worst_failure_decides_the_verdict() -> None:
    def f(level: health.Level, failure: type[errors.CrossforceError] | None = None) -> health.Finding:
        return health.Finding("x", "y", level, "d", failure)

    assert health.worst([f(health.Level.OK), f(health.Level.WARN)]) is None
    picked = health.worst(
        [
            f(health.Level.FAIL, errors.ValidationError),
            f(health.Level.FAIL, errors.UnavailableError),
            f(health.Level.FAIL, errors.AuthenticationError),
        ]
    )
    assert picked is not None and picked.failure is errors.AuthenticationError


# ------------------------------------------------------------------------- failed connections

TARGET = "localhost:50051"


def failure(details: str) -> errors.CrossforceError | None:
    return connect_failure(details, target=TARGET, who="kent/force-system", doctor="crossforce doctor")


@pytest.mark.parametrize(
    ("details", "kind", "words"),
    [
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: "
            "Failed to connect to remote host: Connection refused",
            errors.UnavailableError,
            "nothing is listening at localhost:50051",
        ),
        (
            "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:50051: "
            "Socket closed",
            errors.AuthenticationError,
            "rejected this profile's certificate for kent/force-system",
        ),
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: Tls handshake "
            "failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:"
            "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate: OK",
            errors.VerificationError,
            "(unable to get local issuer certificate)",
        ),
        (
            "errors resolving nosuchhost.invalid:50051: [field:hostname lookup error:Domain name not found]",
            errors.UnavailableError,
            "cannot resolve",
        ),
    ],
)
def test_connection_failures_say_which_side_gave_up(
    details: str, kind: type[errors.CrossforceError], words: str
) -> None:
    found = failure(details)
    assert type(found) is kind and words in str(found)


def test_other_unavailability_keeps_the_plain_mapping() -> None:
    assert failure("matcher storage is unavailable") is None
    assert failure("Socket closed") is None  # a call cut mid-way, not a failed handshake


def test_profiles_that_make_no_tokens_need_no_secret_and_no_registration() -> None:
    """An operator's or auditor's profile holds no network secret and cannot register: not a failure."""
    no_secret = health.epochs_finding(held=(), held_current=None, active=(1,), needs_secret=False)
    assert no_secret.level is health.Level.OK
    unregistered = health.registration_finding(
        "ops", health.Registration(False), profile_path=PROFILE, can_register=False
    )
    assert unregistered.level is health.Level.WARN
