"""Every policy the matcher enforces, as frozen dataclasses with sensible defaults (pure).

Handlers read named settings, never literals, so one TOML file changes a deployment's behaviour and a
reviewer can see every bound in one place. Parsing is strict: an unknown key or a value of the wrong type
is a ValidationError naming the key, because a misspelt limit that silently keeps its default is how
quotas quietly stop working.

Why in the policy package: the pure rules (``disclosure``, ``quotas``) read these values, and a pure
package may only import pure modules (tests/unit/test_architecture.py follows the imports). So this
module parses TOML *text* (``ServerSettings.from_toml_text``) and never touches a file; reading the file
is ``crossforce.server.settings.load_settings``. It is over 400 lines because each setting's parsing
and validation sit beside its declaration, so one file shows every bound a deployment can change.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_type_hints

from crossforce.auditlog.checkpoint import witness_verifiers
from crossforce.auditlog.logkey import WitnessPolicy
from crossforce.clock import DAY_MS, DAY_S
from crossforce.domain import Justification
from crossforce.errors import PermissionDeniedError, ValidationError
from crossforce.limits import DEFAULT_LIMITS, Limits
from crossforce.server.policy import justification
from crossforce.server.policy.justification import (
    DEFAULT_CASE_REFERENCE_PATTERN,
    DEFAULT_LEGAL_BASES,
    check_pattern,
)

_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
"""Purpose and organisation codes: lower-case, digits and hyphens (they appear in logs and certificates)."""

TERRITORIAL_FORCES: tuple[str, ...] = (
    "avon-and-somerset", "bedfordshire", "cambridgeshire", "cheshire", "city-of-london", "cleveland",
    "cumbria", "derbyshire", "devon-and-cornwall", "dorset", "durham", "dyfed-powys", "essex",
    "gloucestershire", "greater-manchester", "gwent", "hampshire", "hertfordshire", "humberside", "kent",
    "lancashire", "leicestershire", "lincolnshire", "merseyside", "metropolitan", "norfolk", "north-wales",
    "north-yorkshire", "northamptonshire", "northumbria", "nottinghamshire", "south-wales",
    "south-yorkshire", "staffordshire", "suffolk", "surrey", "sussex", "thames-valley", "warwickshire",
    "west-mercia", "west-midlands", "west-yorkshire", "wiltshire",
)  # fmt: skip
"""The 43 territorial forces of England and Wales: the forces every check is expected to search unless a
deployment says otherwise. The same codes as ``crossforce.forces.all_forces()`` (a unit test holds them
together); spelt out here because that module reads a data file and this package does no I/O."""


OFFICER_CREDENTIALS_REQUIRED = "required"
OFFICER_CREDENTIALS_OPTIONAL = "optional"
OFFICER_CREDENTIAL_MODES = (OFFICER_CREDENTIALS_REQUIRED, OFFICER_CREDENTIALS_OPTIONAL)
"""``ServerSettings.officer_credentials``: whether a check must carry a signed officer assertion."""

UNITS_PER_CHECK = 1000
"""Default quota units per check of v1's limits: above ``TYPICAL_CHECK_UNITS``, so an honest caller's
checks per day and per second are at least what they were when a check cost one."""
TYPICAL_CHECK_UNITS = 700
"""An honest check of a typical record, measured on the realistic profile (README, "Quotas")."""
DEFAULT_REPORT_THRESHOLD = 0.6
"""A hit is reported from a 60% chance that the force holds the person: with parameters 2.2 at 1M records
this is the lowest threshold keeping false-force and false-trace within issue 14's 0.5% on the fitting
seed and on both held-out seeds, for 0.02-0.12 points of recall against 0.5 (docs/quality.md)."""
DEFAULT_REQUEST_THRESHOLD = 0.6
"""Every reported hit may open a request: a hit the officer cannot follow up helps nobody."""
SAFEGUARDING_THRESHOLD = 0.2
"""Safeguarding reports (and requests) from one chance in five: a missed record there can cost a child's
safety, a wasted look costs an hour of a disclosure officer's time."""
HIGHEST_REPORT_THRESHOLD = 0.95
"""The strong label's threshold: a report threshold above it would hide hits the matcher calls strong."""


@dataclass(frozen=True, kw_only=True)
class PurposePolicy:
    """Why a check may be made, and what follows from a hit for that reason."""

    code: str
    description: str
    allows_disclosure: bool = True
    """False for hit-only purposes: the requester learns "possible trace" and no request is opened."""
    deadline_days: float = 14.0
    """How long the holding force has to resolve and decide before the request is reported overdue."""
    daily_limit_per_org: int = 20_000 * UNITS_PER_CHECK
    """Quota units per organisation per UTC day for this purpose (``QuotaSettings``)."""
    urgent: bool = False
    """Shown to disclosure officers so they triage it first (safeguarding)."""
    report_threshold: float = DEFAULT_REPORT_THRESHOLD
    """Least probability (``crossforce.scoring``) at which a force's hit is reported at all: below it the
    answer says nothing of that force, as for a miss. Lower finds more true records and shows more
    namesakes; a purpose where a missed record is worse than a wasted look (safeguarding) sets it lower."""
    request_threshold: float = DEFAULT_REQUEST_THRESHOLD
    """Least probability at which a hit opens a disclosure request (at least ``report_threshold``): a
    request costs a disclosure officer's time at the holding force, so a deployment may report weaker
    hits than it asks forces to look at."""

    def __post_init__(self) -> None:
        if not _CODE_RE.fullmatch(self.code):
            raise ValidationError("must be lower-case letters, digits and hyphens", field="purpose code")
        if not self.description.strip():
            raise ValidationError(f"purpose {self.code} needs a description", field="description")
        if self.allows_disclosure and not self.deadline_days > 0:
            raise ValidationError(f"purpose {self.code}: must be positive", field="deadline_days")
        if self.deadline_days < 0:
            raise ValidationError(f"purpose {self.code}: must not be negative", field="deadline_days")
        if self.daily_limit_per_org < 1:
            raise ValidationError(f"purpose {self.code}: must be at least 1", field="daily_limit_per_org")
        if not 0.0 < self.report_threshold <= HIGHEST_REPORT_THRESHOLD:
            raise ValidationError(
                f"purpose {self.code}: must be above 0 and at most {HIGHEST_REPORT_THRESHOLD}",
                field="report_threshold",
            )
        if not self.report_threshold <= self.request_threshold <= 1.0:
            raise ValidationError(
                f"purpose {self.code}: must be at least report_threshold ({self.report_threshold})"
                " and at most 1",
                field="request_threshold",
            )

    @property
    def deadline_ms(self) -> int:
        return round(self.deadline_days * DAY_MS)


def default_purposes() -> Mapping[str, PurposePolicy]:
    """The purposes a fresh deployment recognises; a TOML file may override or disable each."""
    policies = (
        PurposePolicy(
            code="school-staff-vetting",
            description="Enhanced vetting of staff and volunteers working in schools",
            deadline_days=14,
            daily_limit_per_org=20_000 * UNITS_PER_CHECK,
        ),
        PurposePolicy(
            code="childcare-vetting",
            description="Vetting of childminders, nursery and other childcare staff",
            deadline_days=14,
            daily_limit_per_org=20_000 * UNITS_PER_CHECK,
        ),
        PurposePolicy(
            code="firearms-licensing",
            description="Suitability checks for firearm and shotgun certificates",
            deadline_days=28,
            daily_limit_per_org=5_000 * UNITS_PER_CHECK,
        ),
        PurposePolicy(
            code="safeguarding-referral",
            description="A person who may pose a risk to a child or vulnerable adult (urgent)",
            deadline_days=2,
            daily_limit_per_org=5_000 * UNITS_PER_CHECK,
            urgent=True,
            report_threshold=SAFEGUARDING_THRESHOLD,
            request_threshold=SAFEGUARDING_THRESHOLD,
        ),
        PurposePolicy(
            code="investigation",
            description="A named suspect, witness or victim in a live investigation",
            deadline_days=7,
            daily_limit_per_org=10_000 * UNITS_PER_CHECK,
        ),
        PurposePolicy(
            code="hit-only-screening",
            description="Screening that needs only 'possible trace' or 'no trace'; never opens a request",
            allows_disclosure=False,
            deadline_days=0,
            daily_limit_per_org=50_000 * UNITS_PER_CHECK,
        ),
    )
    return types.MappingProxyType({p.code: p for p in policies})


@dataclass(frozen=True, kw_only=True)
class QuotaSettings:
    """Rates that bound how fast a key holder can enumerate a force's index (docs/threat-model.md).

    Every rate, burst and daily limit is in quota units (spec v2, "Limits"): a candidate costs the sum of
    its tokens' ``date_span``, the dates of birth they can agree with (``policy.candidates.cost``); an
    honest check of a typical record costs about ``TYPICAL_CHECK_UNITS``. The defaults are v1's limits in
    checks times ``UNITS_PER_CHECK``, so honest work fits as it did."""

    org_rate_per_s: float = 50.0 * UNITS_PER_CHECK
    """Sustained units per second per organisation (a batch costs the sum over its candidates)."""
    org_burst: int = 20_000 * UNITS_PER_CHECK
    officer_rate_per_s: float = 10.0 * UNITS_PER_CHECK
    """Sustained units per second per officer id within an organisation."""
    officer_burst: int = 10_000 * UNITS_PER_CHECK
    anomaly_factor: float = 10.0
    """Alert when an organisation's short-window rate exceeds this multiple of its long-run average."""
    anomaly_window_s: int = 60
    anomaly_baseline_s: int = DAY_S
    """Time constant of the long-run (exponentially weighted) average the short window is compared to."""
    anomaly_warmup_s: int = 3600
    """No anomaly alerts until an organisation has this much history (its average means nothing yet)."""
    anomaly_min_units: int = 100 * UNITS_PER_CHECK
    """A window that charged fewer units than this is never anomalous, so a quiet organisation's first
    few checks of the day do not page anyone."""
    max_alerts: int = 10_000
    """Alerts kept in memory for the operator's report (oldest dropped first)."""
    officer_prune_threshold: int = 100_000
    """Above this many tracked officers, buckets that have refilled completely are forgotten (losslessly:
    a full bucket is the same as a new one)."""

    def __post_init__(self) -> None:
        for name in ("org_rate_per_s", "officer_rate_per_s"):
            if not getattr(self, name) > 0:
                raise ValidationError("must be positive", field=f"quotas.{name}")
        for name in (
            "org_burst",
            "officer_burst",
            "anomaly_window_s",
            "anomaly_warmup_s",
            "anomaly_min_units",
            "max_alerts",
            "officer_prune_threshold",
        ):
            if getattr(self, name) < 1:
                raise ValidationError("must be at least 1", field=f"quotas.{name}")
        if not self.anomaly_factor > 1:
            raise ValidationError("must be greater than 1", field="quotas.anomaly_factor")
        if self.anomaly_baseline_s < self.anomaly_window_s:
            raise ValidationError("must be at least anomaly_window_s", field="quotas.anomaly_baseline_s")


@dataclass(frozen=True, kw_only=True)
class TransportSettings:
    """How long and how much a caller may hold the matcher's connections and calls (issue 15, findings 4
    and 11; docs/operations.md, "Slow and greedy clients").

    The caps are per client certificate (a fingerprint), so one organisation's system cannot take every
    slot; the receive deadline bounds how long a call whose request never arrives is kept at all."""

    receive_deadline_s: float = 10.0
    """A call whose request message has not fully arrived this long after its headers is ended
    DEADLINE_EXCEEDED; for a publish stream, the longest wait for each next chunk."""
    max_unary_calls_per_identity: int = 16
    """Calls (checks, decisions, reads) one certificate may have in flight at once, waiting for their
    request included; beyond it RESOURCE_EXHAUSTED. 16: a vetting body's 16 parallel callers fit."""
    max_streams_per_identity: int = 2
    """Open streams of each kind (publish, watch, health watch) one certificate may hold at once."""
    max_concurrent_calls: int = 1024
    """Calls the whole matcher admits at once (gRPC's own cap); a waiting call holds no thread."""
    keepalive_time_s: float = 60.0
    """The matcher pings a connection quiet for this long, so a dead peer's calls end (and free their
    slots) within keepalive_time_s + keepalive_timeout_s instead of at TCP's hours-long timeout."""
    keepalive_timeout_s: float = 20.0
    min_client_ping_interval_s: float = 30.0
    """A client pinging more often than this is sent GOAWAY (too_many_pings): pings cost the server."""
    max_connection_idle_s: float = 300.0
    """A connection with no call for this long is closed (clients reconnect transparently)."""
    max_connection_age_s: float = 3600.0
    """A connection is asked to go away (GOAWAY) at this age, so no peer holds one forever and load
    rebalances across replicas; calls open at that moment get ``max_connection_age_grace_s``."""
    max_connection_age_grace_s: float = 86_400.0
    """How long calls open on an aged-out connection may still run (new calls go to a new connection at
    once). A day: a long publish stream is never cut off; a watch stream the grace ends is reopened by
    the client (``crossforce.client.desk.follow_watch``). No connection lives past age + grace."""

    def __post_init__(self) -> None:
        for name in ("max_unary_calls_per_identity", "max_streams_per_identity", "max_concurrent_calls"):
            if getattr(self, name) < 1:
                raise ValidationError("must be at least 1", field=f"transport.{name}")
        for name in (
            "receive_deadline_s",
            "keepalive_time_s",
            "keepalive_timeout_s",
            "min_client_ping_interval_s",
            "max_connection_idle_s",
            "max_connection_age_s",
            "max_connection_age_grace_s",
        ):
            if not getattr(self, name) > 0:
                raise ValidationError("must be positive (seconds)", field=f"transport.{name}")


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """The whole policy of one matcher deployment."""

    limits: Limits = DEFAULT_LIMITS
    purposes: Mapping[str, PurposePolicy] = field(default_factory=default_purposes)
    org_purposes: Mapping[str, frozenset[str]] = field(default_factory=lambda: types.MappingProxyType({}))
    """Optional restriction: an organisation listed here may check only for these purposes
    (e.g. a childcare regulator only for childcare-vetting). Organisations not listed may use any."""
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    index_max_age_s: int = 7 * DAY_S
    """An index not republished for this long is reported stale (it still matches until it expires)."""
    expected_forces: tuple[str, ...] = TERRITORIAL_FORCES
    """The organisations every check is expected to search (kept sorted, without repeats). A check's
    answer names each one it did not search and why; every organisation that has published an index is
    expected as well, so a national body that publishes is never silently left out. Empty: only the
    organisations that have published (small test networks)."""
    witnesses: tuple[str, ...] = ()
    """Witness verifier keys (C2SP vkeys from ``crossforce witness keygen``): the matcher stores
    cosignatures from these only, and names them in its published log-key.pub for clients (issue 16)."""
    witness_quorum: int = 0
    """How many witnesses must cosign a head for clients to accept it; 0: a majority of ``witnesses``."""
    retention_days: int = 365
    """How long a finished request (no_match, refused, delivered) keeps more than its audit trail: after
    this many days since its last change, the matcher clears its justification text and sealed payload
    (``usecases.retention``; docs/threat-model.md, "Forgetting")."""
    case_reference_pattern: str = DEFAULT_CASE_REFERENCE_PATTERN
    """The form a case reference must take (a regular expression matched against the whole value) for
    an organisation not listed in ``case_reference_patterns`` (``policy.justification``)."""
    case_reference_patterns: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    """Per organisation: the form of its own case-management numbers, e.g. {kent = "^KT-[0-9]{6}$"}."""
    legal_bases: tuple[str, ...] = DEFAULT_LEGAL_BASES
    """The legal bases a check may cite; anything else is refused (free text would carry personal data)."""
    scoring_params: str = ""
    """Path of the scoring parameter file the matcher states probabilities with, as ``crossforce
    calibrate`` writes it; empty: the shipped one (``crossforce/scoring/params-v2.json``). Read at start."""
    max_index_bits_per_record: int = 4096
    """An index may hold at most this many bits per record it declares (crossforce builds about 1,000),
    so a force cannot make the matcher hold a huge, nearly empty filter; ``limits.max_index_bytes`` is
    the absolute ceiling whatever is declared."""
    officer_credentials: str = OFFICER_CREDENTIALS_REQUIRED
    """"required": a check (and a desk decision naming an officer) must carry an officer assertion signed
    by the organisation's registered signing key, and the officer id used everywhere is the one it
    asserts (``crossforce.server.officers``). "optional": without one the free-text officer id is used,
    and marked unverified; for a network whose forces have not yet updated their clients."""
    officer_clock_skew_s: int = 300
    """How far in the future an officer assertion may say it was issued (the issuer's clock may run ahead)."""
    transport: TransportSettings = field(default_factory=TransportSettings)
    """Deadlines, keepalive and per-certificate caps of the gRPC transport (the ``[transport]`` table)."""

    def __post_init__(self) -> None:
        _check_witnesses(self)
        _check_justification_rules(self)
        object.__setattr__(self, "purposes", types.MappingProxyType(dict(self.purposes)))
        if isinstance(self.expected_forces, str) or not all(isinstance(o, str) for o in self.expected_forces):
            raise ValidationError("must be a list of organisation codes", field="expected_forces")
        for org in self.expected_forces:
            if not _CODE_RE.fullmatch(org):
                raise ValidationError(
                    f"{org[:64]!r} is not an organisation code (lower-case, digits and hyphens)",
                    field="expected_forces",
                )
        object.__setattr__(self, "expected_forces", tuple(sorted(set(self.expected_forces))))
        object.__setattr__(
            self,
            "org_purposes",
            types.MappingProxyType({k: frozenset(v) for k, v in self.org_purposes.items()}),
        )
        if not self.purposes:
            raise ValidationError("at least one purpose must be configured", field="purposes")
        for code, policy in self.purposes.items():
            if code != policy.code:
                raise ValidationError(f"key {code} holds a policy for {policy.code}", field="purposes")
        for org, codes in self.org_purposes.items():
            if not _CODE_RE.fullmatch(org):
                raise ValidationError("organisation codes are lower-case, digits and hyphens", field=org)
            unknown = sorted(codes - self.purposes.keys())
            if unknown:
                raise ValidationError(
                    f"unknown purposes {', '.join(unknown)}; known: {', '.join(sorted(self.purposes))}",
                    field=f"org_purposes.{org}",
                )
        biggest = self.limits.max_batch_candidates
        for name in ("org_burst", "officer_burst"):
            if getattr(self.quotas, name) < biggest:
                # A batch is charged all at once and a candidate costs at least one unit, so a burst
                # smaller than the largest batch would make the largest legal batch impossible forever.
                raise ValidationError(
                    f"must be at least limits.max_batch_candidates ({biggest})", field=f"quotas.{name}"
                )
        if self.index_max_age_s < 1:
            raise ValidationError("must be at least 1", field="index_max_age_s")
        if self.retention_days < 1:
            raise ValidationError("must be at least 1 (days)", field="retention_days")
        if self.max_index_bits_per_record < 1:
            raise ValidationError("must be at least 1", field="max_index_bits_per_record")
        if self.officer_credentials not in OFFICER_CREDENTIAL_MODES:
            raise ValidationError(
                f"must be one of: {', '.join(OFFICER_CREDENTIAL_MODES)}", field="officer_credentials"
            )
        if not 0 <= self.officer_clock_skew_s <= 3600:
            raise ValidationError("must be between 0 and 3600 (seconds)", field="officer_clock_skew_s")

    def purpose(self, code: str) -> PurposePolicy:
        """The policy for ``code``; ValidationError listing the allowed codes if there is none."""
        policy = self.purposes.get(code)
        if policy is None:
            raise ValidationError(
                f"unknown purpose; allowed: {', '.join(sorted(self.purposes))}", field="purpose"
            )
        return policy

    def purpose_for(self, org: str, code: str) -> PurposePolicy:
        """As ``purpose``, and PermissionDeniedError if ``org`` is restricted to other purposes."""
        policy = self.purpose(code)
        allowed = self.org_purposes.get(org)
        if allowed is not None and code not in allowed:
            raise PermissionDeniedError(
                f"organisation {org} may not check for purpose {code}; allowed: {', '.join(sorted(allowed))}"
            )
        return policy

    def check_justification(self, org: str, why: Justification) -> None:
        """ValidationError naming the first field of ``why`` that breaks this deployment's rules for
        ``org`` (``policy.justification``); the value is never quoted."""
        justification.check_justification(
            why,
            org=org,
            case_reference_patterns=self.case_reference_patterns,
            default_case_reference_pattern=self.case_reference_pattern,
            legal_bases=self.legal_bases,
        )

    # --- loading --------------------------------------------------------------------------------

    @classmethod
    def from_toml_text(cls, text: str) -> ServerSettings:
        """Parse the text of a settings file; ValidationError names the key (or says the TOML is bad)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"not valid TOML: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ServerSettings:
        """Build from parsed TOML. Tables override defaults key by key; unknown keys are errors."""
        _reject_unknown(
            data,
            {"limits", "quotas", "purposes", "org_purposes", "index_max_age_s", "expected_forces"}
            | {"witnesses", "witness_quorum", "retention_days", "max_index_bits_per_record"}
            | {"case_reference_pattern", "case_reference_patterns", "legal_bases", "scoring_params"}
            | {"officer_credentials", "officer_clock_skew_s"}
            | {"transport"},
            "",
        )
        limits = _build(Limits, _table(data, "limits"), "limits", DEFAULT_LIMITS)
        quotas = _build(QuotaSettings, _table(data, "quotas"), "quotas", QuotaSettings())
        purposes = dict(default_purposes())
        for code, entry in _table(data, "purposes").items():
            where = f"purposes.{code}"
            if not isinstance(entry, Mapping):
                raise ValidationError("must be a table", field=where)
            fields = dict(entry)
            enabled = fields.pop("enabled", True)
            if not isinstance(enabled, bool):
                raise ValidationError("must be true or false", field=f"{where}.enabled")
            if not enabled:
                purposes.pop(code, None)
                continue
            if "code" in fields:
                raise ValidationError("the code is the table name; do not repeat it", field=f"{where}.code")
            base = purposes.get(code)
            if base is None:
                if "description" not in fields:
                    raise ValidationError("a new purpose needs a description", field=where)
                base = PurposePolicy(code=code, description=str(fields["description"]))
            purposes[code] = _build(PurposePolicy, fields, where, base)
        org_purposes: dict[str, frozenset[str]] = {}
        for org, codes in _table(data, "org_purposes").items():
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ValidationError("must be a list of purpose codes", field=f"org_purposes.{org}")
            org_purposes[org] = frozenset(codes)
        kwargs: dict[str, Any] = {}
        if "index_max_age_s" in data:
            kwargs["index_max_age_s"] = _coerce(data["index_max_age_s"], int, "index_max_age_s")
        if "expected_forces" in data:
            codes = data["expected_forces"]
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ValidationError("must be a list of organisation codes", field="expected_forces")
            kwargs["expected_forces"] = tuple(codes)
        if "witnesses" in data:
            vkeys = data["witnesses"]
            if not isinstance(vkeys, list) or not all(isinstance(v, str) for v in vkeys):
                raise ValidationError("must be a list of witness verifier keys", field="witnesses")
            kwargs["witnesses"] = tuple(vkeys)
        if "witness_quorum" in data:
            kwargs["witness_quorum"] = _coerce(data["witness_quorum"], int, "witness_quorum")
        for name in ("retention_days", "max_index_bits_per_record"):
            if name in data:
                kwargs[name] = _coerce(data[name], int, name)
        if "officer_credentials" in data:
            kwargs["officer_credentials"] = _coerce(data["officer_credentials"], str, "officer_credentials")
        if "officer_clock_skew_s" in data:
            skew = data["officer_clock_skew_s"]
            kwargs["officer_clock_skew_s"] = _coerce(skew, int, "officer_clock_skew_s")
        if "case_reference_pattern" in data:
            kwargs["case_reference_pattern"] = _coerce(
                data["case_reference_pattern"], str, "case_reference_pattern"
            )
        patterns = _table(data, "case_reference_patterns")
        if patterns:
            kwargs["case_reference_patterns"] = {
                org: _coerce(p, str, f"case_reference_patterns.{org}") for org, p in patterns.items()
            }
        if "scoring_params" in data:
            kwargs["scoring_params"] = _coerce(data["scoring_params"], str, "scoring_params")
        if "legal_bases" in data:
            bases = data["legal_bases"]
            if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
                raise ValidationError("must be a list of legal bases", field="legal_bases")
            kwargs["legal_bases"] = tuple(bases)
        kwargs["transport"] = _build(
            TransportSettings, _table(data, "transport"), "transport", TransportSettings()
        )
        return cls(limits=limits, quotas=quotas, purposes=purposes, org_purposes=org_purposes, **kwargs)


_T = TypeVar("_T")


def _check_witnesses(settings: ServerSettings) -> None:
    """Each witness key parses as a cosignature/v1 vkey; the quorum fits; 0 becomes a majority."""
    try:
        witness_verifiers(WitnessPolicy(witnesses=tuple(settings.witnesses), quorum=len(settings.witnesses)))
    except ValidationError as exc:
        raise ValidationError(str(exc), field="witnesses") from None
    quorum = settings.witness_quorum or (len(settings.witnesses) // 2 + 1 if settings.witnesses else 0)
    if not 0 <= quorum <= len(settings.witnesses):
        raise ValidationError(f"must be between 1 and {len(settings.witnesses)}", field="witness_quorum")
    object.__setattr__(settings, "witnesses", tuple(settings.witnesses))
    object.__setattr__(settings, "witness_quorum", quorum)


def _check_justification_rules(settings: ServerSettings) -> None:
    """Every case reference pattern compiles, organisations are codes, and some legal basis is allowed."""
    check_pattern(settings.case_reference_pattern, "case_reference_pattern")
    for org, pattern in settings.case_reference_patterns.items():
        if not _CODE_RE.fullmatch(org):
            raise ValidationError("organisation codes are lower-case, digits and hyphens", field=org)
        check_pattern(pattern, f"case_reference_patterns.{org}")
    object.__setattr__(
        settings, "case_reference_patterns", types.MappingProxyType(dict(settings.case_reference_patterns))
    )
    if isinstance(settings.legal_bases, str) or not settings.legal_bases:
        raise ValidationError("must list at least one legal basis", field="legal_bases")
    if any(not isinstance(b, str) or not b.strip() for b in settings.legal_bases):
        raise ValidationError("legal bases must be non-empty text", field="legal_bases")
    object.__setattr__(settings, "legal_bases", tuple(settings.legal_bases))


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ValidationError("must be a table", field=key)
    return value


def _reject_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ValidationError(
            f"unknown setting; known keys here: {', '.join(sorted(known))}", field=prefix + unknown[0]
        )


def _coerce(value: Any, typ: Any, where: str) -> Any:
    # bool is a subclass of int in Python; TOML keeps them apart and so do we.
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ValidationError("must be true or false", field=where)
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValidationError("must be an integer", field=where)
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValidationError("must be a number", field=where)
    if typ is str:
        if isinstance(value, str):
            return value
        raise ValidationError("must be a string", field=where)
    raise ValidationError("cannot be set from TOML", field=where)


def _build(cls: type[_T], table: Mapping[str, Any], where: str, base: _T) -> _T:
    """``base`` with the scalar fields in ``table`` replaced, type-checked and re-validated."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _reject_unknown(table, names, where)
    changes = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in table.items()}
    if cls is Limits:
        for key, value in changes.items():
            if value < 0:
                raise ValidationError("must not be negative", field=f"{where}.{key}")
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]
