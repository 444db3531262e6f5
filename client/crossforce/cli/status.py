"""The ``crossforce`` command's exit statuses, and the one table that maps every error to one of them.

A script that runs ``crossforce`` must be able to tell "the matcher is down, retry later" from "my
input is wrong, do not retry" from "the log did not verify, raise the alarm" without parsing English
(httpie ``ExitStatus``, pip ``status_codes``). The codes are part of the CLI's contract and are
documented in the README under "Exit statuses"; a new code may be added, an existing one never
renumbered. The names are part of the contract too: under ``--json`` a failure is
``{"error": {"code": "<name>", "message", "exit_status"}}`` on stdout (``common.CrossforceGroup``), so
an existing name is never changed either.

``USAGE`` is 2 because click already exits 2 for a usage error (unknown option, missing argument), and
``INTERNAL`` is 1 because that is what Python exits with on an uncaught exception, so the table agrees
with what happens when nothing here is reached.
"""

from __future__ import annotations

import enum

from crossforce import errors


class ExitStatus(enum.IntEnum):
    SUCCESS = 0
    INTERNAL = 1
    """A bug or an error the project did not raise on purpose; the message says what to report."""
    USAGE = 2
    """The command line itself is wrong: an unknown option, a missing argument (click's own code)."""
    BAD_INPUT = 3
    """A file, record, option value or request the caller gave is malformed, unknown or not allowed in
    its present state; retrying the same input will fail the same way."""
    UNREACHABLE = 4
    """The matcher (or its storage) could not be reached or is unavailable for now; retry later."""
    REFUSED = 5
    """The matcher refused the caller: no valid identity, a revoked certificate, or a role that may
    not do this."""
    QUOTA = 6
    """A rate or daily quota is spent; the message says which and when it resets."""
    VERIFICATION_FAILED = 7
    """A signature, digest, proof or tree head did not verify: treat as a security event."""
    INCOMPLETE_SEARCH = 8
    """A check (or any answer of a batch) that could not search every force the matcher expects (never
    published, index expired, only under a retired epoch): its "no trace" is not "nothing known"."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (128 + SIGINT, the shell's convention) after finishing the work in flight: what
    was written is whole, and ``--resume`` carries on."""


ERROR_STATUS: tuple[tuple[type[errors.CrossforceError], ExitStatus], ...] = (
    (errors.VerificationError, ExitStatus.VERIFICATION_FAILED),
    (errors.UnavailableError, ExitStatus.UNREACHABLE),
    (errors.AuthenticationError, ExitStatus.REFUSED),
    (errors.PermissionDeniedError, ExitStatus.REFUSED),
    (errors.QuotaExceededError, ExitStatus.QUOTA),
    (errors.TooLargeError, ExitStatus.BAD_INPUT),
    (errors.ResourceExhaustedError, ExitStatus.QUOTA),
    (errors.ValidationError, ExitStatus.BAD_INPUT),
    (errors.NotFoundError, ExitStatus.BAD_INPUT),
    (errors.AlreadyExistsError, ExitStatus.BAD_INPUT),
    (errors.PreconditionError, ExitStatus.BAD_INPUT),
)
"""The one table from the project's error tree to exit statuses, most specific class first (the first
row that matches wins). A ``ResourceExhaustedError`` that is not a ``TooLargeError`` is a quota: that is
what the matcher's RESOURCE_EXHAUSTED means when a client cannot yet tell the two apart."""


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The exit status for an error that reached the CLI's boundary.

    Project errors go through ``ERROR_STATUS``; ``OSError`` is the caller's local files (a missing
    profile, an unreadable record file), so ``BAD_INPUT``; anything else is ``INTERNAL``.
    """
    if isinstance(exc, errors.CrossforceError):
        for kind, status in ERROR_STATUS:
            if isinstance(exc, kind):
                return status
        return ExitStatus.INTERNAL
    if isinstance(exc, OSError):
        return ExitStatus.BAD_INPUT
    return ExitStatus.INTERNAL
