"""Defaults for officer, purpose, legal basis and server: option > environment > config.toml > built-in.

The file is ``crossforce.client.profileconfig``; the order is realised by click (option, then the
``CROSSFORCE_*`` variable) and ``common.resolve_why`` / ``common.load_profile`` (then the file). These
tests run the real option stack on a tiny command, so no matcher is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crossforce.cli.common import (
    CrossforceGroup,
    json_option,
    load_profile,
    profile_option,
    resolve_why,
    why_options,
)
from crossforce.cli.main import cli
from crossforce.client import profileconfig
from crossforce.client.profile import Profile
from crossforce.errors import ValidationError

NO_ENV = {s.envvar: None for s in profileconfig.SETTINGS}
"""Every defaulting variable unset, whatever the shell running the tests exports."""


@click.group(cls=CrossforceGroup)
def root() -> None:
    """A root with the real error boundary."""


@root.command()
@profile_option
@why_options
@json_option
def why(
    profile_dir: Path,
    purpose: str | None,
    legal_basis: str | None,
    case_ref: str,
    officer: str | None,
    as_json: bool,
) -> None:
    """Print the justification the option stack resolves to."""
    j = resolve_why(profile_dir, purpose=purpose, legal_basis=legal_basis, case_ref=case_ref, officer=officer)
    click.echo(json.dumps([j.officer_id, j.purpose, j.legal_basis, j.case_reference]))


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "dbs"
    Profile.create(
        path, org="dbs", display_name="DBS", server="localhost:7001", pki_dir=None, roles=(), secret=None
    )
    return path


def invoke(args: list[str], env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(root, args, env={**NO_ENV, **(env or {})}, catch_exceptions=False)


def test_option_beats_environment_beats_config(profile: Path) -> None:
    profileconfig.set_value(profile, "officer", "CONFIG-1")
    profileconfig.set_value(profile, "purpose", "config-purpose")
    profileconfig.set_value(profile, "legal_basis", "config basis")
    base = ["why", "--profile", str(profile), "--case-ref", "C-1"]

    assert json.loads(invoke(base).stdout) == ["CONFIG-1", "config-purpose", "config basis", "C-1"]
    env = {"CROSSFORCE_OFFICER": "ENV-2", "CROSSFORCE_LEGAL_BASIS": "env basis"}
    assert json.loads(invoke(base, env).stdout) == ["ENV-2", "config-purpose", "env basis", "C-1"]
    given = [*base, "--officer", "OPT-3", "--purpose", "opt-purpose"]
    assert json.loads(invoke(given, env).stdout) == ["OPT-3", "opt-purpose", "env basis", "C-1"]


@pytest.mark.parametrize("key", ["officer", "purpose", "legal_basis"])
def test_a_missing_justification_names_the_option_the_variable_and_the_key(profile: Path, key: str) -> None:
    values = {"officer": "O-1", "purpose": "p", "legal_basis": "b"}
    del values[key]
    for k, v in values.items():
        profileconfig.set_value(profile, k, v)
    setting = profileconfig.BY_KEY[key]

    result = invoke(["why", "--profile", str(profile), "--case-ref", "C-1"])
    assert result.exit_code == 2
    assert setting.option in result.stderr and setting.envvar in result.stderr
    assert f"config set {key}" in result.stderr

    result = invoke(["why", "--profile", str(profile), "--case-ref", "C-1", "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "USAGE" and setting.envvar in error["message"]


def test_the_case_reference_is_never_a_default(profile: Path) -> None:
    with pytest.raises(ValidationError, match="unknown key 'case_ref'"):
        profileconfig.set_value(profile, "case_ref", "C-1")
    result = invoke(
        ["why", "--profile", str(profile), "--officer", "o", "--purpose", "p", "--legal-basis", "b"]
    )
    assert result.exit_code == 2 and "--case-ref" in result.stderr


def test_unknown_key_in_the_file_is_an_error_naming_the_key(profile: Path) -> None:
    (profile / "config.toml").write_text('officer = "O-1"\nlegal-basis = "typo"\n')
    with pytest.raises(ValidationError, match="unknown key 'legal-basis'") as caught:
        profileconfig.load_config(profile)
    assert "config.toml" in str(caught.value)
    result = invoke(
        ["why", "--profile", str(profile), "--case-ref", "C", "--purpose", "p", "--legal-basis", "b"]
    )
    assert result.exit_code == 3 and "legal-basis" in result.stderr


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('officer = "unterminated\n', "not valid TOML"),
        ("officer = 4411\n", "officer must be a non-empty string"),
        ('officer = ""\n', "officer must be a non-empty string"),
        ('[officer]\nid = "x"\n', "officer must be a non-empty string"),
    ],
)
def test_malformed_config_is_refused_naming_file_and_key(profile: Path, text: str, fragment: str) -> None:
    (profile / "config.toml").write_text(text)
    with pytest.raises(ValidationError, match=fragment):
        profileconfig.load_config(profile)


@pytest.mark.parametrize(
    "value", ["Police Act 1997 s113B", 'quote " and back\\slash', "Siân's basis\ttab", "x = 1\n[table]"]
)
def test_any_string_round_trips_through_the_file(profile: Path, value: str) -> None:
    """Values are written as JSON strings, valid TOML basic strings: nothing a person types breaks it."""
    profileconfig.set_value(profile, "legal_basis", value)
    assert profileconfig.load_config(profile) == {"legal_basis": value}


def test_unset_removes_only_that_key_and_absent_file_is_no_defaults(profile: Path) -> None:
    assert profileconfig.load_config(profile) == {}
    profileconfig.set_value(profile, "officer", "O-1")
    profileconfig.set_value(profile, "purpose", "p")
    assert profileconfig.unset_value(profile, "officer") == {"purpose": "p"}
    assert profileconfig.unset_value(profile, "officer") == {"purpose": "p"}
    assert oct((profile / "config.toml").stat().st_mode & 0o777) == "0o600"


def test_server_default_environment_beats_config_beats_profile(
    profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSFORCE_SERVER", raising=False)
    assert load_profile(profile).server == "localhost:7001"
    profileconfig.set_value(profile, "server", "matcher.example:443")
    assert load_profile(profile).server == "matcher.example:443"
    monkeypatch.setenv("CROSSFORCE_SERVER", "127.0.0.1:9")
    assert load_profile(profile).server == "127.0.0.1:9"
    # only in memory: profile.json still holds the address the profile was made with
    assert json.loads((profile / "profile.json").read_text())["server"] == "localhost:7001"


def test_config_show_set_unset_commands(profile: Path) -> None:
    runner = CliRunner()
    env = {**NO_ENV, "CROSSFORCE_OFFICER": "ENV-9"}
    doc = json.loads(
        runner.invoke(
            cli,
            ["config", "set", "purpose", "school-staff-vetting", "--profile", str(profile), "--json"],
            env=env,
        ).stdout
    )
    assert doc["config"] == {"purpose": "school-staff-vetting"}
    assert doc["effective"]["purpose"] == {"value": "school-staff-vetting", "source": "config"}
    assert doc["effective"]["officer"] == {"value": "ENV-9", "source": "env CROSSFORCE_OFFICER"}
    assert doc["effective"]["server"] == {"value": None, "source": "unset"}
    shown = runner.invoke(cli, ["config", "show", "--profile", str(profile)], env=env)
    assert shown.exit_code == 0 and "school-staff-vetting" in shown.stdout and "ENV-9" in shown.stdout
    doc = json.loads(
        runner.invoke(
            cli, ["config", "unset", "purpose", "--profile", str(profile), "--json"], env=env
        ).stdout
    )
    assert doc["config"] == {} and doc["changed"] == "unset purpose"


def test_config_refuses_a_folder_that_is_not_a_profile(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["config", "set", "officer", "O-1", "--profile", str(tmp_path / "typo"), "--json"]
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["code"] == "BAD_INPUT"
    assert not (tmp_path / "typo").exists()


def test_config_set_rejects_an_unknown_key_as_usage() -> None:
    result = CliRunner().invoke(cli, ["config", "set", "case_ref", "C-1", "--profile", "x"])
    assert result.exit_code == 2 and "case_ref" in result.stderr


def test_environment_variables_are_documented_on_check() -> None:
    text = CliRunner().invoke(cli, ["check", "--help"], env=NO_ENV).stdout
    for s in profileconfig.SETTINGS[:3]:
        assert s.envvar in text, s.envvar
