"""The matcher's synchronous servicers on gRPC's asyncio server, so waiting for a request holds no thread.

Why: grpc-python's threaded server reads a unary request inside the worker thread, so calls that send
headers and never a message held every worker and froze the matcher (issue 15, finding 4). Here the
event loop reads each request; a worker thread is taken only once the request is whole.

``SyncOnAio`` is the one ``grpc.aio.ServerInterceptor`` of the main server. It applies the synchronous
interceptor chain (``CallObserver``, ``DecodeGuard``, any extra, ``Authorise``: the same chain the
in-memory test server runs) and turns the resulting handler into an asynchronous one, once per method
when every interceptor of the chain ``builds_per_method`` (else on every call). That handler, before
reading any message:

1. resolves the caller from the client certificate and the deny list (a revoked certificate is refused
   without its request ever being read), and leaves that identity on the call's ``LoopContext`` so
   ``Authorise`` re-admits it against the deny list instead of reading the certificate again;
2. takes a per-certificate slot (``Caps``: so many unary calls, so many streams of each kind; beyond it
   RESOURCE_EXHAUSTED naming the cap);

then reads the request within ``TransportSettings.receive_deadline_s`` (DEADLINE_EXCEEDED otherwise),
and only then runs the synchronous handler in the worker pool with a ``LoopContext`` (``in_pool``).
Every call is taken as a client stream (``request_streaming``), whatever its kind, because only a
streaming handler runs before gRPC has read a message; for a unary method exactly one message is read.

Refusals made here are logged and counted through ``CallObserver.record_unread`` like any other call.
The per-certificate caps are ``crossforce.server.caps``; the context the servicers get is
``crossforce.server.aiocontext``. ``LoopThread`` runs the server's event loop on a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
import grpc.aio

from crossforce.crypto import pki
from crossforce.errors import CrossforceError
from crossforce.server import status
from crossforce.server.aiocontext import EOF, BlockingRequests, LoopContext, late
from crossforce.server.auth import needs_identity
from crossforce.server.caps import UNARY, Caps, Lease
from crossforce.server.identity import IdentityResolver
from crossforce.server.observability.calls import CallObserver
from crossforce.server.policy.settings import TransportSettings

Interceptor: TypeAlias = "grpc.ServerInterceptor[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_END = object()
T = TypeVar("T")


def kind_of(handler: Handler) -> str:
    """The call kind as ``CallObserver`` names it."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _behaviour(handler: Handler) -> Callable[..., Any]:
    """The one function a method handler carries, whichever of the four call kinds it is."""
    behaviour = handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    if behaviour is None:
        raise TypeError("a gRPC method handler without a behaviour")
    return behaviour


def builds_per_method(interceptor: Interceptor) -> bool:
    """Whether ``interceptor.intercept_service`` depends only on the method's name and the handler it is
    given (no per-call state, no side effect for a method the server has), so ``SyncOnAio`` may build a
    method's handler once and reuse it for every later call: an interceptor says so with a class
    attribute ``builds_per_method = True``."""
    return getattr(interceptor, "builds_per_method", False) is True


def _is_async(handler: Handler) -> bool:
    behaviour = _behaviour(handler)
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


class _Passthrough:
    """A continuation that answers with one handler already found (to run the synchronous chain)."""

    def __init__(self, handler: Handler | None) -> None:
        self.handler = handler

    def __call__(self, _details: grpc.HandlerCallDetails) -> Handler | None:
        return self.handler


@dataclass
class Call:
    """One call's state in its coroutine: the context, who it is (once known) and its slot."""

    method: str
    kind: str
    context: LoopContext
    started: float = field(default_factory=time.monotonic)
    who: pki.Identity | None = None
    lease: Lease | None = None

    def finish(self) -> None:
        if self.lease is not None:
            self.lease.give_back()
        self.context.end()


class SyncOnAio(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Run the synchronous chain and servicers on the asyncio server (see the module docstring)."""

    def __init__(
        self,
        *,
        chain: Sequence[Interceptor],
        observer: CallObserver,
        resolver: IdentityResolver,
        settings: TransportSettings,
        pool: futures.Executor,
    ) -> None:
        self._chain = tuple(chain)
        self._observer = observer
        self._resolver = resolver
        self._settings = settings
        self._pool = pool
        self.caps = Caps(
            unary=settings.max_unary_calls_per_identity, streams=settings.max_streams_per_identity
        )
        self._per_method = all(builds_per_method(i) for i in self._chain)
        self._built: dict[str, tuple[Handler, Handler]] = {}
        """Method -> (the handler gRPC found, the bridged handler built from it), when every interceptor
        of the chain builds from the method and its handler alone (``builds_per_method``). Keyed by the
        methods the server has (gRPC found a handler), so bounded; touched only on the loop thread."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        found: Handler | None = await continuation(handler_call_details)
        method = handler_call_details.method
        built = self._built.get(method)
        if built is not None and built[0] is found:
            return built[1]  # this method's chain and bridge, built at its first call
        if found is not None and _is_async(found):
            return found  # an asyncio-native servicer (reflection v1alpha): nothing to bridge
        handler = found
        for interceptor in reversed(self._chain):
            handler = interceptor.intercept_service(_Passthrough(handler), handler_call_details)
        if handler is None:
            return None  # type: ignore[return-value]  # gRPC answers UNIMPLEMENTED
        bridged = self._bridge(handler, method)
        if self._per_method and found is not None:
            self._built[method] = (found, bridged)
        return bridged

    # --- the asynchronous handler -----------------------------------------------------------------

    def _bridge(self, handler: Handler, method: str) -> Handler:
        kind = kind_of(handler)
        args = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        bucket = UNARY if kind == "unary" else method.rsplit("/", 1)[-1]
        if not handler.response_streaming:

            async def unary_response(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                call = Call(method, kind, LoopContext(context, asyncio.get_running_loop()))
                try:
                    first = await self._admit_and_read(call, bucket)
                    return await self._run_unary(handler, call, first)
                finally:
                    call.finish()

            return grpc.stream_unary_rpc_method_handler(unary_response, **args)

        async def stream_response(
            requests: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            call = Call(method, kind, LoopContext(context, asyncio.get_running_loop()))
            try:
                first = await self._admit_and_read(call, bucket)
                async for answer in self._run_stream(handler, call, first):
                    yield answer
            finally:
                call.finish()

        return grpc.stream_stream_rpc_method_handler(stream_response, **args)

    async def _admit_and_read(self, call: Call, bucket: str) -> Any:
        """Identity and a slot before any message is read, then the first message within the deadline."""
        if needs_identity(call.method):
            try:
                call.who = self._resolver(call.context)
                call.context.admitted = (self._resolver, call.who)
                call.lease = self.caps.take(call.who, bucket)
            except Exception as exc:
                await self._refuse(call, exc)
        timeout = self._settings.receive_deadline_s
        try:
            # ``asyncio.timeout`` rather than ``wait_for``: the same deadline without a task per call.
            async with asyncio.timeout(timeout):
                return await call.context.inner.read()
        except TimeoutError:
            await self._refuse(call, None, code=grpc.StatusCode.DEADLINE_EXCEEDED, details=late(timeout))

    async def _refuse(
        self,
        call: Call,
        exc: BaseException | None,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        details: str = "",
    ) -> NoReturn:
        """End a call that never reached its handler, with one log line and count like every call."""
        context = call.context
        if exc is not None:
            with contextlib.suppress(Exception):  # status.abort always raises, having recorded the status
                status.abort(context, exc)  # the one status table; records the code and trailer
        elif context.aborted is None:
            context.aborted = (code, details)
        code, _ = context.aborted or (code, details)
        self._observer.record_unread(
            kind=call.kind,
            method=call.method,
            context=context,
            started=call.started,
            code=code,
            error=type(exc).__name__ if isinstance(exc, CrossforceError) else None,
            org=call.who.org if call.who is not None else None,
            role=call.who.role if call.who is not None else None,
        )
        await context.send_abort()

    async def _request(self, handler: Handler, call: Call, first: Any) -> Any:
        """What the synchronous handler reads: its one message, or a blocking iterator over the stream."""
        if handler.request_streaming:
            return BlockingRequests(first, call.context, self._settings.receive_deadline_s)
        if first is EOF:
            await self._refuse(
                call, None, code=grpc.StatusCode.INVALID_ARGUMENT, details="the call carried no request"
            )
        return first

    async def _run_unary(self, handler: Handler, call: Call, first: Any) -> Any:
        loop = asyncio.get_running_loop()
        context = call.context
        behaviour = _behaviour(handler)
        request = await self._request(handler, call, first)
        try:
            return await in_pool(self._pool, loop, behaviour, request, context)
        except Exception:
            if context.aborted is not None:
                await context.send_abort()
            raise

    async def _run_stream(self, handler: Handler, call: Call, first: Any) -> AsyncIterator[Any]:
        context = call.context
        behaviour = _behaviour(handler)
        request = await self._request(handler, call, first)
        pending: futures.Future[Any] | None = None
        answers: Iterator[Any] | None = None
        try:
            pending = self._pool.submit(behaviour, request, context)
            answers = iter(await asyncio.wrap_future(pending))
            while True:
                pending = self._pool.submit(next, answers, _END)
                answer = await asyncio.wrap_future(pending)
                if answer is _END:
                    if context.expired():  # a watch that stopped at its deadline: the client's answer
                        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
                    return
                yield answer
        except Exception:
            if context.aborted is not None:
                await context.send_abort()
            raise
        finally:
            context.end()  # wake a waiting step first, so the close below runs soon
            if answers is not None and pending is not None:
                self._close_after(pending, answers)

    def _close_after(self, step: futures.Future[Any], answers: Iterator[Any]) -> None:
        """Close the handler's generator once its last step has returned, in the pool, so its ``finally``
        (a stream slot given back, the call's log line) runs even when the client went away mid-step."""

        def close(_: futures.Future[Any]) -> None:
            closer = getattr(answers, "close", None)
            if closer is not None:
                with contextlib.suppress(RuntimeError):  # the pool is shut down: the server has stopped
                    self._pool.submit(_quietly, closer)

        step.add_done_callback(close)


async def in_pool(
    pool: futures.Executor, loop: asyncio.AbstractEventLoop, behaviour: Callable[..., T], *args: Any
) -> T:
    """``behaviour(*args)`` on a pool thread, awaited on ``loop``: ``loop.run_in_executor`` with one future
    instead of two chained ones (the worker settles the loop's future with one ``call_soon_threadsafe``).
    As there, a call cancelled before a worker has taken it never runs, and one already running finishes
    with nobody waiting for its answer."""
    answer: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        try:
            result = behaviour(*args)
        except BaseException as exc:  # as the executor's own future keeps it: the awaiting call raises it
            _settle_soon(loop, answer, None, exc)
        else:
            _settle_soon(loop, answer, result, None)

    taken = pool.submit(work)
    try:
        return await answer
    except asyncio.CancelledError:
        taken.cancel()  # not started yet: it never will
        raise


def _settle_soon(
    loop: asyncio.AbstractEventLoop, answer: asyncio.Future[Any], result: Any, exc: BaseException | None
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: the server has stopped, nobody waits
        loop.call_soon_threadsafe(_settle, answer, result, exc)


def _settle(answer: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if answer.cancelled():
        return
    if exc is None:
        answer.set_result(result)
    elif isinstance(exc, StopIteration):  # a future cannot hold one (asyncio's own rule for tasks)
        answer.set_exception(RuntimeError("a handler raised StopIteration"))
    else:
        answer.set_exception(exc)


def _quietly(close: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # a generator raising on close was logged by CallObserver
        close()


class LoopThread:
    """An asyncio event loop on a thread of its own, so ``app.start`` can stay synchronous: callers and
    tests get the same handle whichever server runs inside."""

    def __init__(self, name: str = "matcher-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and wait for its result here."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def close(self) -> None:
        """Cancel whatever still runs on the loop, stop it and join its thread."""
        if self.loop.is_closed():
            return
        try:
            self.run(_cancel_the_rest())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=LOOP_JOIN_S)
            if not self._thread.is_alive():
                self.loop.close()


LOOP_JOIN_S = 5.0
"""How long ``LoopThread.close`` waits for the loop to stop (it only has cancelled tasks left)."""


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
