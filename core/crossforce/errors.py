"""One exception tree for the whole project.

Parsers and the pure core raise only these; the server maps them to gRPC status codes in one table
(``crossforce.server.status``) and the client maps gRPC errors back to them, so callers catch one
family whatever side of the wire they are on. Messages are written for a person and must never carry a
raw name, date or identifier (they can reach the matcher's logs).
"""

from __future__ import annotations


class CrossforceError(Exception):
    """Base of every error the project raises on purpose."""


class ValidationError(CrossforceError, ValueError):
    """Input is malformed or out of range (gRPC INVALID_ARGUMENT)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class RecordError(ValidationError):
    """A record in a force's file is unusable; names the file, line and field, never the value."""

    def __init__(self, message: str, *, source: str, line: int, field: str | None = None) -> None:
        where = f"{source}:{line}" + (f": {field}" if field else "")
        CrossforceError.__init__(self, f"{where}: {message}")
        self.field = field
        self.source = source
        self.line = line


class ResourceExhaustedError(CrossforceError):
    """A size limit or a quota stopped the call (gRPC RESOURCE_EXHAUSTED); the message says which."""


class TooLargeError(ResourceExhaustedError):
    """A message, index or batch exceeds a named limit (gRPC RESOURCE_EXHAUSTED)."""


class QuotaExceededError(ResourceExhaustedError):
    """A rate or daily quota is spent (gRPC RESOURCE_EXHAUSTED); says which limit and when it resets.

    ``retry_after_s`` is how long until the refused charge would fit, or None when it never will (a
    batch bigger than the limit itself: split it). It crosses the wire in its own trailer
    (``crossforce.wire.errors``), so a batch run can wait exactly that long and carry on.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuthenticationError(CrossforceError):
    """The caller has no valid identity (gRPC UNAUTHENTICATED)."""


class PermissionDeniedError(CrossforceError):
    """The caller may not do this, or the object is not theirs (gRPC PERMISSION_DENIED).

    "Not found" and "not yours" use the same text so nobody can probe what exists.
    """


class NotFoundError(CrossforceError):
    """Something the caller owns does not exist (gRPC NOT_FOUND)."""


class AlreadyExistsError(CrossforceError):
    """A create collided with an existing object (gRPC ALREADY_EXISTS)."""


class PreconditionError(CrossforceError):
    """The system is not in a state that allows this (gRPC FAILED_PRECONDITION): rollback, replay,
    expired index, illegal disclosure transition."""


class VerificationError(CrossforceError):
    """A signature, digest, proof or tree head does not verify. Always loud; never retried silently."""


class UnavailableError(CrossforceError):
    """Storage or a dependency is down for now (gRPC UNAVAILABLE); the caller may retry."""


GRPC_STATUS: tuple[tuple[type[CrossforceError], str], ...] = (
    (ValidationError, "INVALID_ARGUMENT"),
    (ResourceExhaustedError, "RESOURCE_EXHAUSTED"),
    (AuthenticationError, "UNAUTHENTICATED"),
    (PermissionDeniedError, "PERMISSION_DENIED"),
    (NotFoundError, "NOT_FOUND"),
    (AlreadyExistsError, "ALREADY_EXISTS"),
    (PreconditionError, "FAILED_PRECONDITION"),
    (VerificationError, "INVALID_ARGUMENT"),
    (UnavailableError, "UNAVAILABLE"),
)
"""The one table between this tree and gRPC status codes (by name, so this module stays grpc-free).
The first row for a status is the error a client raises when it receives that status."""


def status_name_for(exc: CrossforceError | type[CrossforceError]) -> str:
    """The gRPC status name for an error or error class (``INTERNAL`` for one the table does not name)."""
    kind_of = exc if isinstance(exc, type) else type(exc)
    for kind, name in GRPC_STATUS:
        if issubclass(kind_of, kind):
            return name
    return "INTERNAL"


def error_for_status(name: str) -> type[CrossforceError]:
    """The class a client raises for a bare status (no ``crossforce-error`` trailer, e.g. from a proxy)."""
    for kind, status in GRPC_STATUS:
        if status == name:
            return kind
    return CrossforceError


WIRE_ERRORS: tuple[type[CrossforceError], ...] = (
    CrossforceError,
    ValidationError,
    ResourceExhaustedError,
    TooLargeError,
    QuotaExceededError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    AlreadyExistsError,
    PreconditionError,
    VerificationError,
    UnavailableError,
)
"""Every class that keeps its identity across the wire (``crossforce.wire.errors``), by class name.

``RecordError`` is not here: it names a line of a force's own file and is raised only where that file
is read; were one ever sent, it would arrive as its parent, ``ValidationError``, with the same text.
"""

_BY_NAME = {kind.__name__: kind for kind in WIRE_ERRORS}


def wire_name(exc: CrossforceError) -> str:
    """The name that identifies ``exc``'s class on the wire: its own, or its nearest ``WIRE_ERRORS`` base."""
    for kind in type(exc).__mro__:
        if kind in WIRE_ERRORS:
            return kind.__name__
    return CrossforceError.__name__


def error_named(
    name: str, message: str, *, status: str, retry_after_s: float | None = None
) -> CrossforceError:
    """Rebuild the error a peer raised from its wire ``name``, ``message`` and the gRPC ``status`` name.

    Trusts the name only when it is a known class that maps to the same status the call ended with;
    otherwise (unknown name, a mismatch) the status alone decides, as ``error_for_status`` does. So a
    missing or altered trailer can never turn, say, a refusal into a different kind of status.
    ``retry_after_s`` is kept only on a ``QuotaExceededError`` (the one class that carries it).
    """
    kind = _BY_NAME.get(name)
    if kind is None or status_name_for(kind) != status:
        kind = error_for_status(status)
    if issubclass(kind, QuotaExceededError):
        return kind(message, retry_after_s=retry_after_s)
    return kind(message)
