"""What every ``crossforce`` command shares: the error boundary, profile and role options, the justification.

The error boundary is the CLI's contract with the people and scripts that run it: an error the project
raises on purpose (``CrossforceError``) is one red line on stderr and an exit status that says what
kind of failure it was (``crossforce.cli.status``), never a traceback, because a traceback from a
vetting desk is noise at best and can leak local state at worst.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import click
import grpc
from rich.console import Console
from rich.text import Text

from crossforce.cli.render import fail_line, make_console, warn_line
from crossforce.cli.status import ExitStatus, exit_status_for
from crossforce.client.certstatus import CertificateExpiryWarning
from crossforce.client.profile import Profile
from crossforce.client.sdk import Client
from crossforce.domain import ROLES, Justification
from crossforce.errors import CrossforceError, UnavailableError, ValidationError

F = TypeVar("F", bound=Callable[..., Any])

MAX_ERRORS_SHOWN = 50
"""Bad rows named one by one before the rest are only counted."""


UNREACHABLE_RPC_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class CrossforceGroup(click.Group):
    """The root group: turns the project's errors into one red line and their exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with certificate_warnings_on_stderr():
                return super().invoke(ctx)
        except UnavailableError as exc:
            fail_line(f"{exc} (is the matcher running, and is the profile's server address right?)")
            status = exit_status_for(exc)
        except CrossforceError as exc:
            fail_line(str(exc) or type(exc).__name__)
            status = exit_status_for(exc)
        except grpc.RpcError as exc:  # an SDK path that did not translate (should not happen)
            details = exc.details() if hasattr(exc, "details") else str(exc)
            fail_line(f"matcher call failed: {details}")
            code = exc.code() if hasattr(exc, "code") else None
            status = ExitStatus.UNREACHABLE if code in UNREACHABLE_RPC_CODES else ExitStatus.INTERNAL
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            fail_line(f"{exc.strerror or exc}{where}")
            status = exit_status_for(exc)
        ctx.exit(int(status))


@contextlib.contextmanager
def certificate_warnings_on_stderr() -> Iterator[None]:
    """Show each ``CertificateExpiryWarning`` the SDK raises as one ``warning:`` line on stderr, once per
    command (a command that opens two connections with one certificate warns once), at the moment it is
    raised; every other warning goes where it went before."""
    shown: set[str] = set()
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if not issubclass(category, CertificateExpiryWarning):
            previous(message, category, filename, lineno, file, line)
            return
        text = str(message)
        if text not in shown:
            shown.add(text)
            make_console(stderr=True).print(Text(f"warning: {text}", style="yellow"), soft_wrap=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", CertificateExpiryWarning)
        warnings.showwarning = show
        yield


def warn_skipped(console: Console, errors: Sequence[object]) -> None:
    """One warning per bad row skipped, up to ``MAX_ERRORS_SHOWN``, then how many more."""
    for err in errors[:MAX_ERRORS_SHOWN]:
        warn_line(console, f"skipped {err}")
    if len(errors) > MAX_ERRORS_SHOWN:
        warn_line(console, f"... and {len(errors) - MAX_ERRORS_SHOWN} more bad rows skipped")


def profile_option(f: F) -> F:
    return click.option(
        "--profile",
        "profile_dir",
        required=True,
        envvar="CROSSFORCE_PROFILE",
        type=click.Path(file_okay=False, path_type=Path),
        help="The organisation's profile folder (env CROSSFORCE_PROFILE).",
    )(f)


def role_option(default_help: str) -> Callable[[F], F]:
    def wrap(f: F) -> F:
        return click.option(
            "--role",
            type=click.Choice(ROLES),
            default=None,
            help=f"Which of the profile's certificates to use (default: {default_help}).",
        )(f)

    return wrap


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")(
        f
    )


SERVER_PART = "crossforce.server"
NEEDS_SERVER = "this command runs the matcher, which is not installed here: pip install crossforce-server"


def server_part() -> ModuleType:
    """The matcher's public face, imported only by the commands that run it: a force installs the client
    alone, and then ``crossforce serve`` says what to install instead of printing an import traceback."""
    try:
        return importlib.import_module(SERVER_PART)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (exc.name == SERVER_PART or exc.name.startswith(SERVER_PART + ".")):
            raise ValidationError(NEEDS_SERVER) from None
        raise


def load_profile(profile_dir: Path) -> Profile:
    return Profile.load(profile_dir)


def pick_role(profile: Profile, role: str | None, prefer: Sequence[str]) -> str:
    """The explicit role, else the first preferred role the profile holds a certificate for."""
    if role:
        return role
    if profile.dev_plaintext:
        return prefer[0]
    have = profile.roles()
    for candidate in prefer:
        if candidate in have:
            return candidate
    raise ValidationError(
        f"profile {profile.org} holds no certificate for {' or '.join(prefer)} "
        f"(has: {', '.join(have) or 'none'}); "
        "issue one with `crossforce pki issue` and install it with --profile"
    )


def open_client(profile_dir: Path, role: str | None, prefer: Sequence[str]) -> Client:
    profile = load_profile(profile_dir)
    return Client(profile, role=pick_role(profile, role, prefer))


def reader_options(default_role_help: str) -> Callable[[F], F]:
    """The stack every command that reads from the matcher and prints starts with: ``--profile``,
    ``--role`` and ``--json``, in that order (so their help reads the same everywhere)."""

    def wrap(f: F) -> F:
        return profile_option(role_option(default_role_help)(json_option(f)))

    return wrap


def why_options(f: F) -> F:
    """The justification every check carries; all four are required by the matcher."""
    for name, help_text in reversed(
        (
            ("--purpose", "A configured purpose code, e.g. school-staff-vetting."),
            ("--legal-basis", "The legal basis, e.g. 'Police Act 1997 s113B'."),
            ("--case-ref", "Your case or application reference."),
            ("--officer", "Your collar number or staff id."),
        )
    ):
        f = click.option(name, required=True, help=help_text)(f)
    return f


def no_requests_option(f: F) -> F:
    """``check`` and ``check-batch``: ask whether there is a trace without opening requests."""
    return click.option(
        "--no-requests", is_flag=True, help="Only ask whether there is a trace; open no disclosure requests."
    )(f)


def make_why(purpose: str, legal_basis: str, case_ref: str, officer: str) -> Justification:
    return Justification(
        purpose=purpose, legal_basis=legal_basis, case_reference=case_ref, officer_id=officer
    )
