"""A synchronous servicer context over one call of gRPC's asyncio server, for a worker thread.

Why: the matcher's servicers are synchronous and run in a thread pool, while the asyncio server's own
context is asynchronous (``abort`` and ``read`` are coroutines) and grpc's built-in adapter for
synchronous handlers lacks ``is_active`` and runs ``add_callback`` callbacks only after a handler
returns, which a watch waiting for news needs at cancellation. ``LoopContext`` gives the servicers the
whole ``grpc.ServicerContext`` they were written against; ``BlockingRequests`` gives a client-streaming
handler its messages, each read on the loop within the receive deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from typing import Any, NoReturn

import grpc
import grpc.aio

from crossforce.crypto import pki
from crossforce.server import status

EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # not in grpc-stubs
"""What ``read`` answers once the client has half-closed its stream."""


class CallEnded(grpc.RpcError):
    """What a handler's request iterator raises once the call is over (cancelled, deadline, stop), as
    grpc-python's own does; ``status`` lets it through."""


class LoopContext(grpc.ServicerContext):
    """The synchronous servicer context of one call on the asyncio server, for a worker thread.

    ``abort`` records the status and raises as grpc-python's threaded server does (a bare ``Exception``,
    which ``status`` recognises); the call's coroutine sends it once the handler has returned. Callbacks
    run when the call ends, cancelled or not, so a waiting watch wakes at once.
    """

    def __init__(self, inner: grpc.aio.ServicerContext[Any, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.inner = inner
        self.loop = loop
        self.ended = False
        self.aborted: tuple[grpc.StatusCode, str] | None = None
        self.admitted: tuple[object, pki.Identity] | None = None
        """(resolver, identity): who the transport resolved before reading the request, and with which
        resolver, so ``Authorise`` re-admits that identity instead of reading the certificate again."""
        self._callbacks: list[Callable[[], None]] = []

    def end(self) -> None:
        """The call is over: ``is_active`` turns False and every callback runs (once)."""
        if self.ended:
            return
        self.ended = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a callback must not stop the others; grpc logs and goes on too
                status.log.exception("call end callback failed")

    async def send_abort(self) -> NoReturn:
        """Send the recorded status (on the loop); raises grpc's AbortError, which ends the call."""
        code, details = self.aborted or (grpc.StatusCode.UNKNOWN, "")
        await self.inner.abort(code, details, tuple(self.inner.trailing_metadata() or ()))
        raise AssertionError("unreachable: abort raises")

    def expired(self) -> bool:
        """The call's deadline has passed (the client has given up, even if gRPC has not ended it yet)."""
        remaining = self.inner.time_remaining()
        return remaining is not None and remaining <= 0

    # grpc.ServicerContext
    def is_active(self) -> bool:
        if self.ended or self.inner.done():
            return False
        remaining = self.inner.time_remaining()
        return remaining is None or remaining > 0

    def time_remaining(self) -> float:
        return self.inner.time_remaining()  # None when the call has no deadline, as grpc

    def cancel(self) -> None:
        self.abort(grpc.StatusCode.CANCELLED, "cancelled by the server")

    def add_callback(self, callback: Callable[[], None]) -> bool:
        if self.ended:
            return False
        self._callbacks.append(callback)
        return True

    def invocation_metadata(self) -> Any:
        return self.inner.invocation_metadata()

    def peer(self) -> str:
        return self.inner.peer()

    def peer_identities(self) -> Any:
        return self.inner.peer_identities()

    def peer_identity_key(self) -> str | None:
        return self.inner.peer_identity_key()

    def auth_context(self) -> Mapping[str, Any]:
        return self.inner.auth_context()

    def set_compression(self, compression: grpc.Compression) -> None:
        self.inner.set_compression(compression)

    def send_initial_metadata(self, initial_metadata: Any) -> None:
        sent = asyncio.run_coroutine_threadsafe(self.inner.send_initial_metadata(initial_metadata), self.loop)
        sent.result()

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self.inner.set_trailing_metadata(tuple(trailing_metadata))

    def trailing_metadata(self) -> Any:
        return self.inner.trailing_metadata()

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        if self.aborted is None:
            self.aborted = (code, details)
        raise Exception()  # grpc-python's threaded server raises exactly this; status.already_aborted

    def abort_with_status(self, status_: grpc.Status) -> NoReturn:
        if status_.trailing_metadata:
            self.set_trailing_metadata(status_.trailing_metadata)
        self.abort(status_.code, status_.details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.inner.set_code(code)

    def set_details(self, details: str) -> None:
        self.inner.set_details(details)

    def disable_next_message_compression(self) -> None:
        self.inner.disable_next_message_compression()


class BlockingRequests(Iterator[Any]):
    """A client stream's messages for a worker thread: the first already read on the loop, each next one
    read there too, within the receive deadline (DEADLINE_EXCEEDED when a chunk is that late)."""

    def __init__(self, first: Any, context: LoopContext, timeout_s: float) -> None:
        self._pending: Any = first
        self._context = context
        self._timeout_s = timeout_s

    def __next__(self) -> Any:
        message, self._pending = self._pending, None
        if message is None:
            if self._context.ended:
                raise CallEnded()
            read = asyncio.run_coroutine_threadsafe(self._read(), self._context.loop)
            try:
                message = read.result(timeout=self._timeout_s + 1.0)
            except (TimeoutError, futures.TimeoutError):
                self._context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, late(self._timeout_s))
            except (asyncio.CancelledError, futures.CancelledError, Exception):
                raise CallEnded() from None  # cancelled, connection lost, server stopping: nothing to read
        if message is EOF:
            raise StopIteration
        return message

    async def _read(self) -> Any:
        return await asyncio.wait_for(self._context.inner.read(), self._timeout_s)


def late(timeout_s: float) -> str:
    return f"the request did not arrive within {timeout_s:g} s of the call (the matcher's receive deadline)"
