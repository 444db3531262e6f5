"""Settings: sensible defaults, strict TOML loading with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossforce.errors import PermissionDeniedError, ValidationError
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server.policy.candidates import max_cost
from crossforce.server.policy.settings import TYPICAL_CHECK_UNITS, UNITS_PER_CHECK
from crossforce.server.settings import (
    PurposePolicy,
    QuotaSettings,
    ServerSettings,
    load_settings,
)

DEFAULT_SETTINGS = ServerSettings()

DEFAULT_CODES = {
    "school-staff-vetting",
    "childcare-vetting",
    "firearms-licensing",
    "safeguarding-referral",
    "investigation",
    "hit-only-screening",
}


def test_defaults() -> None:
    s = DEFAULT_SETTINGS
    assert set(s.purposes) == DEFAULT_CODES
    assert s.purpose("school-staff-vetting").deadline_days == 14
    safeguarding = s.purpose("safeguarding-referral")
    assert safeguarding.deadline_days == 2 and safeguarding.urgent
    assert not s.purpose("hit-only-screening").allows_disclosure
    assert all(p.allows_disclosure for c, p in s.purposes.items() if c != "hit-only-screening")
    assert s.limits == DEFAULT_LIMITS
    assert s.quotas.org_burst >= s.limits.max_batch_candidates
    assert s.quotas.officer_burst >= s.limits.max_batch_candidates
    assert s.org_purposes == {}


def test_unknown_purpose_lists_allowed_codes() -> None:
    with pytest.raises(ValidationError) as info:
        DEFAULT_SETTINGS.purpose("fishing-expedition")
    assert info.value.field == "purpose"
    for code in DEFAULT_CODES:
        assert code in str(info.value)
    assert "fishing" not in str(info.value), "the caller's text is not echoed into logs"


def test_settings_are_immutable() -> None:
    with pytest.raises(TypeError):
        DEFAULT_SETTINGS.purposes["x"] = DEFAULT_SETTINGS.purpose("investigation")  # type: ignore[index]


FULL = """
index_max_age_s = 86400

[limits]
max_batch_candidates = 500
max_filter_fpr = 1e-7

[quotas]
org_rate_per_s = 5
org_burst = 600
officer_burst = 500
anomaly_factor = 8.5

[purposes.school-staff-vetting]
deadline_days = 10
daily_limit_per_org = 100

[purposes.investigation]
enabled = false

[purposes.adoption-panel]
description = "Prospective adopters"
deadline_days = 21.5

[org_purposes]
ofsted = ["childcare-vetting", "school-staff-vetting"]
"""


def test_toml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "matcher.toml"
    path.write_text(FULL, encoding="utf-8")
    s = load_settings(path)
    assert s.index_max_age_s == 86400
    assert s.limits.max_batch_candidates == 500 and s.limits.max_filter_fpr == 1e-7
    assert s.limits.max_tokens_per_candidate == DEFAULT_LIMITS.max_tokens_per_candidate
    assert s.quotas.org_rate_per_s == 5.0 and s.quotas.org_burst == 600 and s.quotas.anomaly_factor == 8.5
    assert s.quotas.officer_rate_per_s == QuotaSettings().officer_rate_per_s
    school = s.purpose("school-staff-vetting")
    assert (school.deadline_days, school.daily_limit_per_org) == (10, 100)
    assert school.description == DEFAULT_SETTINGS.purpose("school-staff-vetting").description
    assert "investigation" not in s.purposes
    assert s.purpose("adoption-panel").deadline_days == 21.5
    assert s.org_purposes == {"ofsted": frozenset({"childcare-vetting", "school-staff-vetting"})}


def test_empty_toml_is_the_defaults() -> None:
    assert ServerSettings.from_toml_text("") == DEFAULT_SETTINGS


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("max_batch = 3", "max_batch"),
        ("[limits]\nmax_batch = 3", "limits.max_batch"),
        ("[quotas]\norg_rate_pers = 3", "quotas.org_rate_pers"),
        ("[purposes.investigation]\ndeadline = 3", "purposes.investigation.deadline"),
        ("[quotas]\norg_burst = '2000'", "quotas.org_burst"),
        ("[quotas]\norg_burst = 2000.5", "quotas.org_burst"),
        ("[quotas]\norg_burst = true", "quotas.org_burst"),
        ("[quotas]\norg_rate_per_s = 0", "quotas.org_rate_per_s"),
        ("[quotas]\nanomaly_factor = 1", "quotas.anomaly_factor"),
        ("[quotas]\norg_burst = 10", "quotas.org_burst"),  # smaller than the largest batch
        ("[limits]\nmax_batch_candidates = -1", "limits.max_batch_candidates"),
        ("[purposes.investigation]\nallows_disclosure = 1", "purposes.investigation.allows_disclosure"),
        ("[purposes.investigation]\ndeadline_days = 0", "deadline_days"),
        ("[purposes.investigation]\nenabled = 'no'", "purposes.investigation.enabled"),
        ("[purposes.investigation]\ncode = 'x'", "purposes.investigation.code"),
        ("[purposes.new-thing]\ndeadline_days = 3", "purposes.new-thing"),
        ("[purposes.Bad_Code]\ndescription = 'x'", "purpose code"),
        ("[org_purposes]\nofsted = ['nope']", "org_purposes.ofsted"),
        ("[org_purposes]\nofsted = 'childcare-vetting'", "org_purposes.ofsted"),
        ("limits = 3", "limits"),
        ("index_max_age_s = 0", "index_max_age_s"),
        ("expected_forces = 'kent'", "expected_forces"),
        ("expected_forces = [1]", "expected_forces"),
        ("expected_forces = ['Kent']", "expected_forces"),
        ("expected_forces = ['kent', '']", "expected_forces"),
    ],
)
def test_bad_toml_names_the_key(text: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ServerSettings.from_toml_text(text)
    assert info.value.field == field, str(info.value)


def test_every_purpose_disabled_is_refused() -> None:
    text = "\n".join(f"[purposes.{c}]\nenabled = false" for c in DEFAULT_CODES)
    with pytest.raises(ValidationError, match="at least one purpose"):
        ServerSettings.from_toml_text(text)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[quotas]\nnope = 1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"bad\.toml: quotas\.nope: unknown setting"):
        load_settings(path)
    path.write_text("[quotas\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(ValidationError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_org_purpose_restriction() -> None:
    s = ServerSettings(org_purposes={"ofsted": frozenset({"childcare-vetting"})})
    assert s.purpose_for("ofsted", "childcare-vetting").code == "childcare-vetting"
    assert s.purpose_for("kent", "investigation").code == "investigation"
    with pytest.raises(PermissionDeniedError, match="ofsted may not check for purpose investigation"):
        s.purpose_for("ofsted", "investigation")


def test_purpose_policy_validation() -> None:
    with pytest.raises(ValidationError):
        PurposePolicy(code="x", description="")
    with pytest.raises(ValidationError):
        PurposePolicy(code="x", description="d", daily_limit_per_org=0)
    assert PurposePolicy(code="x", description="d", allows_disclosure=False, deadline_days=0).deadline_ms == 0
    assert PurposePolicy(code="x", description="d", deadline_days=0.5).deadline_ms == 43_200_000


def test_expected_forces_default_to_the_43_territorial_forces() -> None:
    from crossforce.forces import all_forces
    from crossforce.server.policy.settings import TERRITORIAL_FORCES

    codes = tuple(sorted(f.code for f in all_forces()))
    assert len(codes) == 43
    assert codes == TERRITORIAL_FORCES  # the pure copy never drifts from the forces data file
    assert DEFAULT_SETTINGS.expected_forces == codes


def test_expected_forces_from_toml_are_sorted_without_repeats() -> None:
    s = ServerSettings.from_toml_text("expected_forces = ['kent', 'nca', 'essex', 'kent']")
    assert s.expected_forces == ("essex", "kent", "nca")
    assert ServerSettings.from_toml_text("expected_forces = []").expected_forces == ()
    assert ServerSettings(expected_forces=("kent", "essex")).expected_forces == ("essex", "kent")


def test_every_purpose_reports_and_requests_from_a_documented_threshold() -> None:
    s = DEFAULT_SETTINGS
    for code, p in s.purposes.items():
        assert 0 < p.report_threshold <= p.request_threshold <= 1, code
    assert s.purpose("school-staff-vetting").report_threshold == 0.6  # 2.2 at 1M: docs/quality.md
    assert s.purpose("safeguarding-referral").report_threshold == 0.2  # a missed record costs more there


def test_thresholds_load_from_toml_and_are_validated() -> None:
    text = "[purposes.investigation]\nreport_threshold = 0.3\nrequest_threshold = 0.8\n"
    p = ServerSettings.from_toml_text(text).purpose("investigation")
    assert (p.report_threshold, p.request_threshold) == (0.3, 0.8)
    for bad, field in [
        ("report_threshold = 0.0", "report_threshold"),
        ("report_threshold = 0.99", "report_threshold"),
        ("report_threshold = 0.6\nrequest_threshold = 0.4", "request_threshold"),
        ("request_threshold = 1.5", "request_threshold"),
        ('report_threshold = "high"', "purposes.investigation.report_threshold"),
    ]:
        with pytest.raises(ValidationError, match=field):
            ServerSettings.from_toml_text(f"[purposes.investigation]\n{bad}\n")


def test_quota_defaults_are_in_units_and_fit_a_typical_check_as_v1_fitted_one() -> None:
    q, s = DEFAULT_SETTINGS.quotas, DEFAULT_SETTINGS
    assert UNITS_PER_CHECK >= TYPICAL_CHECK_UNITS
    assert q.org_burst == 20_000 * UNITS_PER_CHECK and q.org_rate_per_s == 50 * UNITS_PER_CHECK
    assert s.purpose("school-staff-vetting").daily_limit_per_org // TYPICAL_CHECK_UNITS >= 20_000
    # the largest legal batch of worst-case records (3,559 units each) fits the default bursts
    assert min(q.org_burst, q.officer_burst) >= s.limits.max_batch_candidates * max_cost(s.limits)
