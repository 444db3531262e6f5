"""What every ``crossforce`` command shares: the error boundary, profile and role options, the justification.

The error boundary is the CLI's contract with the people and scripts that run it: an error the project
raises on purpose (``CrossforceError``) is one red line on stderr and an exit status that says what
kind of failure it was (``crossforce.cli.status``), never a traceback, because a traceback from a
vetting desk is noise at best and can leak local state at worst. Under ``--json`` the same failure is a
JSON document on stdout instead, with the same exit status.

Defaults (issue 19): ``--officer``, ``--purpose`` and ``--legal-basis`` come from the option, else
``CROSSFORCE_<KEY>``, else the profile's ``config.toml``; the matcher's address from
``CROSSFORCE_SERVER``, else ``config.toml``, else ``profile.json`` (``crossforce.client.profileconfig``):
one address, or several comma-separated for matchers sharing one database (the SDK fails over between them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import click
import grpc
from rich.console import Console
from rich.text import Text

from crossforce.cli.render import emit_json_error, fail_line, make_console, warn_line
from crossforce.cli.status import ExitStatus, exit_status_for
from crossforce.client import profileconfig
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
    """The root group: turns the project's errors into one red line and their exit status.

    Under ``--json`` the same failure is one JSON document on stdout instead,
    ``{"error": {"code": "<ExitStatus name>", "message": "...", "exit_status": N}}``, with the same exit
    status: a script reads stdout whether the command worked or not, and never parses English from
    stderr. Usage errors (a bad option, a missing argument) are included, so this boundary is the one
    place that decides what a failure looks like, for every command that declares ``--json``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[RAW_ARGS_KEY] = list(args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if not wants_json(ctx):
                raise
            emit_json_error(ExitStatus.USAGE, exc.format_message())
            ctx.exit(int(ExitStatus.USAGE))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with certificate_warnings_on_stderr():
                return super().invoke(ctx)
        except click.ClickException as exc:
            if not wants_json(ctx):
                raise
            status = ExitStatus.USAGE if isinstance(exc, click.UsageError) else ExitStatus.BAD_INPUT
            emit_json_error(status, exc.format_message())
            ctx.exit(int(status))
        except UnavailableError as exc:
            status = exit_status_for(exc)
            report_failure(
                ctx, status, f"{exc} (is the matcher running, and is the profile's server address right?)"
            )
        except CrossforceError as exc:
            status = exit_status_for(exc)
            report_failure(ctx, status, str(exc) or type(exc).__name__)
        except grpc.RpcError as exc:  # an SDK path that did not translate (should not happen)
            details = exc.details() if hasattr(exc, "details") else str(exc)
            code = exc.code() if hasattr(exc, "code") else None
            status = ExitStatus.UNREACHABLE if code in UNREACHABLE_RPC_CODES else ExitStatus.INTERNAL
            report_failure(ctx, status, f"matcher call failed: {details}")
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            status = exit_status_for(exc)
            report_failure(ctx, status, f"{exc.strerror or exc}{where}")
        ctx.exit(int(status))


RAW_ARGS_KEY = "crossforce.raw_args"
JSON_KEY = "crossforce.json"
"""``ctx.meta`` keys (shared by every context of one run): the command line as given, and whether a
command's ``--json`` flag was parsed as set."""


def wants_json(ctx: click.Context) -> bool:
    """Whether this run asked for JSON: the parsed flag once the command's options were parsed (so a
    ``--json`` that is another option's value does not count), else the bare word on the command line
    (a usage error can stop parsing before ``--json`` is reached)."""
    if JSON_KEY in ctx.meta:
        return bool(ctx.meta[JSON_KEY])
    raw: list[str] = ctx.meta.get(RAW_ARGS_KEY, [])
    return "--json" in (raw[: raw.index("--")] if "--" in raw else raw)


def report_failure(ctx: click.Context, status: ExitStatus, message: str) -> None:
    """One failure, as a JSON error on stdout under ``--json`` or as one red line on stderr."""
    if wants_json(ctx):
        emit_json_error(status, message)
    else:
        fail_line(message)


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


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """Record the parsed flag for the error boundary; eager, so it is known before any other option
    can fail."""
    ctx.meta[JSON_KEY] = value
    return value


def json_option(f: F) -> F:
    """``--json``: machine-readable output on stdout, and errors as JSON too (``CrossforceGroup``)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        is_eager=True,
        help='Print JSON for scripts instead of tables (errors too: {"error": {"code", "message"}}).',
    )(f)


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
    """The profile, talking to the server the defaults say: ``CROSSFORCE_SERVER``, else the profile's
    ``config.toml``, else the address in ``profile.json`` (changed in memory only, never on disk). A bad
    address list is refused here, naming ``server``, before any connection is tried."""
    profile = Profile.load(profile_dir)
    server = profileconfig.resolve(profile_dir, "server", os.environ.get(SERVER_ENVVAR))
    if server:
        profileconfig.addresses(server)
    return dataclasses.replace(profile, server=server) if server else profile


SERVER_ENVVAR = profileconfig.BY_KEY["server"].envvar


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


DEFAULTED_WHY = ("officer", "purpose", "legal_basis")
"""The justification values that may come from the environment or the profile's ``config.toml``; the
case reference names one case and is always given."""


def why_options(f: F) -> F:
    """The justification every check carries; the matcher requires all four. Officer, purpose and legal
    basis default from ``CROSSFORCE_<KEY>``, then the profile's ``config.toml`` (``resolve_why``)."""
    f = click.option("--case-ref", required=True, help="Your case or application reference.")(f)
    for key in reversed(DEFAULTED_WHY):
        setting = profileconfig.BY_KEY[key]
        f = click.option(
            setting.option,
            key,
            envvar=setting.envvar,
            default=None,
            help=f"{setting.help} Default: env {setting.envvar}, then config key {key}.",
        )(f)
    return f


def no_requests_option(f: F) -> F:
    """``check`` and ``check-batch``: ask whether there is a trace without opening requests."""
    return click.option(
        "--no-requests", is_flag=True, help="Only ask whether there is a trace; open no disclosure requests."
    )(f)


def resolve_why(
    profile_dir: Path, *, purpose: str | None, legal_basis: str | None, case_ref: str, officer: str | None
) -> Justification:
    """The justification, each missing value taken from the profile's ``config.toml``; a value with no
    source at all is a usage error naming the option, the environment variable and the config key."""
    given = {"officer": officer, "purpose": purpose, "legal_basis": legal_basis}
    values: dict[str, str] = {}
    for key in DEFAULTED_WHY:
        value = profileconfig.resolve(profile_dir, key, given[key])
        if not value:
            raise click.UsageError(profileconfig.missing_message(key))
        values[key] = value
    return make_why(values["purpose"], values["legal_basis"], case_ref, values["officer"])


def make_why(purpose: str, legal_basis: str, case_ref: str, officer: str) -> Justification:
    return Justification(
        purpose=purpose, legal_basis=legal_basis, case_reference=case_ref, officer_id=officer
    )
