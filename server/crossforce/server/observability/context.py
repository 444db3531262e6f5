"""A servicer context that forwards every call to the context it wraps.

Two interceptors hand the next handler a context of their own: ``CallObserver`` (it notes how the call
ended) and ``Authorise`` (it carries the caller's identity). Both subclass this, so the type checker sees
a real ``grpc.ServicerContext`` and nothing is hidden behind ``__getattr__``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

import grpc


class ForwardingContext(grpc.ServicerContext):
    """Every ``grpc.ServicerContext`` method is ``inner``'s, delegated one by one."""

    def __init__(self, inner: grpc.ServicerContext) -> None:
        self.inner = inner

    def is_active(self) -> bool:
        return self.inner.is_active()

    def time_remaining(self) -> float:
        return self.inner.time_remaining()

    def cancel(self) -> None:
        self.inner.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return self.inner.add_callback(callback)

    def invocation_metadata(self) -> Any:
        return self.inner.invocation_metadata()

    def peer(self) -> str:
        return self.inner.peer()

    def peer_identities(self) -> Iterable[bytes] | None:
        return self.inner.peer_identities()

    def peer_identity_key(self) -> str | None:
        return self.inner.peer_identity_key()

    def auth_context(self) -> Mapping[str, Any]:
        return self.inner.auth_context()

    def set_compression(self, compression: grpc.Compression) -> None:
        self.inner.set_compression(compression)

    def send_initial_metadata(self, initial_metadata: Any) -> None:
        self.inner.send_initial_metadata(initial_metadata)

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self.inner.set_trailing_metadata(trailing_metadata)

    def trailing_metadata(self) -> Any:
        return self.inner.trailing_metadata()

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.inner.abort(code, details)

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        self.inner.abort_with_status(status)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.inner.set_code(code)

    def set_details(self, details: str) -> None:
        self.inner.set_details(details)

    def disable_next_message_compression(self) -> None:
        self.inner.disable_next_message_compression()


def unwrap(context: grpc.ServicerContext) -> Iterable[grpc.ServicerContext]:
    """``context`` and every context it wraps, outermost first."""
    current: grpc.ServicerContext | None = context
    while current is not None:
        yield current
        current = current.inner if isinstance(current, ForwardingContext) else None
