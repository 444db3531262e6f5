"""``crossforce completion``: each shell's script is click's own, names the command, and completes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from crossforce.cli.completion import SHELLS
from crossforce.cli.main import cli

SHELL_MARKERS = {"bash": "complete -o nosort -F", "zsh": "#compdef crossforce", "fish": "complete --no-files"}
"""A line only that shell's script has, so a script for the wrong shell cannot pass."""


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_script_is_generated_for_each_shell(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell], prog_name="crossforce")
    assert result.exit_code == 0, result.output
    script = result.stdout
    assert script.strip()
    assert "crossforce" in script and "_CROSSFORCE_COMPLETE" in script
    assert SHELL_MARKERS[shell] in script


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_script_is_what_the_environment_variable_gives(shell: str) -> None:
    """The documented alternative, ``_CROSSFORCE_COMPLETE=<shell>_source crossforce``, prints the same."""
    printed = CliRunner().invoke(cli, ["completion", shell], prog_name="crossforce").stdout
    env = {"_CROSSFORCE_COMPLETE": f"{shell}_source"}
    sourced = CliRunner().invoke(cli, [], env=env, prog_name="crossforce").stdout
    assert printed == sourced


def test_completion_json_carries_the_script_and_how_to_install_it() -> None:
    result = CliRunner().invoke(cli, ["completion", "fish", "--json"], prog_name="crossforce")
    doc = json.loads(result.stdout)
    assert doc["shell"] == "fish" and "_CROSSFORCE_COMPLETE" in doc["script"]
    assert "completions/crossforce.fish" in doc["install"]


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh", "--json"], prog_name="crossforce")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "USAGE"


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("crossforce con", "1", {"config"}),
        ("crossforce config set ", "3", {"officer", "purpose", "legal_basis", "server"}),
        ("crossforce completion ", "2", set(SHELLS)),
    ],
)
def test_the_generated_completion_completes_commands_and_choices(
    words: str, cword: str, expected: set[str]
) -> None:
    """What bash asks when Tab is pressed, answered by the same program the script calls."""
    env = {"_CROSSFORCE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    out = CliRunner().invoke(cli, [], env=env, prog_name="crossforce").stdout
    offered = {line.split(",", 1)[1] for line in out.splitlines() if line}
    assert expected <= offered, out
