"""Project errors across gRPC: the status code from ``crossforce.errors.GRPC_STATUS`` (the one table) and
the exact class in the trailing-metadata key ``crossforce-error``.

Why: a status code alone is lossy (``VerificationError`` and ``ValidationError`` share
INVALID_ARGUMENT), so a client could not tell "your input is wrong" from "the matcher's answer does not
verify". The server (``crossforce.server.status``) sends ``error_trailer(exc)`` with the status; the SDK
calls ``error_from_rpc`` on every ``grpc.RpcError``. A call that ends without the trailer (a proxy, a
deadline, a network failure) still maps by status code alone. A quota refusal also carries its
retry-after in ``crossforce-retry-after-ms``, so ``QuotaExceededError.retry_after_s`` means the same on
both sides (a missing or malformed value reads as None: "not known", never "retry now").
"""

from __future__ import annotations

import grpc

from crossforce import errors

ERROR_METADATA_KEY = "crossforce-error"
"""Trailing-metadata key whose value is the error's wire name (``crossforce.errors.wire_name``)."""
RETRY_AFTER_METADATA_KEY = "crossforce-retry-after-ms"
"""Trailing-metadata key, beside ``crossforce-error`` on a quota refusal: whole milliseconds until the
refused charge would fit (absent when it never will)."""
MAX_RETRY_AFTER_MS = 400 * 24 * 3600 * 1000
"""A retry-after beyond this (a year and more) is not believed: the trailer is ignored."""


def status_code_for(exc: errors.CrossforceError) -> grpc.StatusCode:
    """The gRPC status for a project error, from the one table."""
    return grpc.StatusCode[errors.status_name_for(exc)]


def error_trailer(exc: errors.CrossforceError) -> tuple[tuple[str, str], ...]:
    """Trailing metadata that names ``exc``'s class, for ``context.set_trailing_metadata``; a quota
    refusal also says when to retry (``RETRY_AFTER_METADATA_KEY``)."""
    trailer = [(ERROR_METADATA_KEY, errors.wire_name(exc))]
    if isinstance(exc, errors.QuotaExceededError) and exc.retry_after_s is not None:
        trailer.append((RETRY_AFTER_METADATA_KEY, str(max(0, round(exc.retry_after_s * 1000)))))
    return tuple(trailer)


def _trailer(exc: grpc.RpcError, wanted: str) -> str:
    trailing = getattr(exc, "trailing_metadata", None)
    pairs = trailing() if callable(trailing) else None
    for key, value in pairs or ():
        if key == wanted:
            return value if isinstance(value, str) else bytes(value).decode("ascii", "replace")
    return ""


def _retry_after_s(exc: grpc.RpcError) -> float | None:
    """The retry-after trailer in seconds; None if absent or not a sane whole number of milliseconds."""
    text = _trailer(exc, RETRY_AFTER_METADATA_KEY)
    if not text.isascii() or not text.isdigit() or int(text) > MAX_RETRY_AFTER_MS:
        return None
    return int(text) / 1000


def error_from_rpc(exc: grpc.RpcError) -> errors.CrossforceError:
    """The project error a failed call stands for: the class the server named, else the status's class.

    The message is the server's text followed by the status name in brackets, e.g. ``"... [NOT_FOUND]"``.
    Never raises; an object without ``code``/``details`` (a bare ``RpcError``) becomes ``UNKNOWN``.
    """
    code_of = getattr(exc, "code", None)
    code = code_of() if callable(code_of) else None
    details_of = getattr(exc, "details", None)
    details = details_of() if callable(details_of) else str(exc)
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return errors.error_named(
        _trailer(exc, ERROR_METADATA_KEY),
        f"{details} [{name}]",
        status=name,
        retry_after_s=_retry_after_s(exc),
    )
