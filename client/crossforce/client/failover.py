"""One gRPC channel over several matcher addresses: a call that gets no answer moves to the next one.

Several identical matchers share one database (issue 17); a client is given all their addresses. This
channel holds one real channel per address and hands the SDK's stubs callables that, for a call
``retries.may_retry`` allows, try the addresses in turn, starting with the one that answered last, each at
most once per call (a sole address twice), pausing ``retries.backoff_s`` between attempts. The very same
request message is sent every time, so a write's idempotency key is the one it was built with.

What is not retried goes to the address that answered last and fails as it fails: a write without a key,
and the publish stream (its request iterator cannot be replayed; the publisher settles a lost answer
itself). Any call that got no answer from an address moves the next call past it, so a write that follows
is not sent to a matcher already seen down. A watch (a server stream) moves on UNAVAILABLE only while it
has yielded nothing (its deadline is how it ends quietly, never a failure); once a message has been seen,
a broken stream is the caller's to reopen, as it was before.

When every attempt failed, ``AttemptsFailed`` (a ``grpc.RpcError``) carries each address's failure, so the
SDK can say which addresses were tried and what each did (``Connection.error_for``).

Being a ``grpc.Channel``, it composes with ``grpc.intercept_channel`` (the load tests time calls through
one): the interceptor sees one call however many attempts it took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from crossforce.client import retries

Sleep = Callable[[float], None]

if TYPE_CHECKING:  # generic only in the typing stubs
    _UnaryUnaryBase = grpc.UnaryUnaryMultiCallable[Any, Any]
    _UnaryStreamBase = grpc.UnaryStreamMultiCallable[Any, Any]
else:
    _UnaryUnaryBase = grpc.UnaryUnaryMultiCallable
    _UnaryStreamBase = grpc.UnaryStreamMultiCallable


@dataclass(frozen=True)
class Attempt:
    """One address's failure during a call."""

    target: str
    error: grpc.RpcError


class AttemptsFailed(grpc.RpcError, grpc.Call):
    """Every address was tried and none answered; status and trailers are the last attempt's."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        super().__init__(f"no matcher answered ({len(attempts)} attempts)")
        self.attempts = tuple(attempts)
        self._last: Any = attempts[-1].error

    def code(self) -> grpc.StatusCode:
        code: grpc.StatusCode = self._last.code()
        return code

    def details(self) -> str:
        details: str = self._last.details() or ""
        return details

    def trailing_metadata(self) -> Any:
        return self._last.trailing_metadata()

    def initial_metadata(self) -> Any:
        return self._last.initial_metadata()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


def _code(exc: grpc.RpcError) -> grpc.StatusCode | None:
    code_of = getattr(exc, "code", None)
    code = code_of() if callable(code_of) else None
    return code if isinstance(code, grpc.StatusCode) else None


def _failed_for_want_of_answer(exc: grpc.RpcError) -> bool:
    return _code(exc) in retries.RETRY_CODES


class FailoverChannel(grpc.Channel):
    """Channels to each of ``targets`` (address, channel), in the order given."""

    def __init__(self, targets: Sequence[tuple[str, grpc.Channel]], *, sleep: Sleep = time.sleep) -> None:
        if not targets:
            raise ValueError("a failover channel needs at least one address")
        self.targets = tuple(t for t, _ch in targets)
        self._channels = tuple(ch for _t, ch in targets)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._current = 0
        """The address that answered last: every call starts there."""

    # ------------------------------------------------------------------ the order of attempts
    def order(self) -> list[int]:
        """Address positions in the order one call tries them: the last that answered first, then the
        rest in the configured order after it (a sole address twice)."""
        with self._lock:
            start = self._current
        count = len(self.targets)
        return [(start + i) % count for i in range(retries.attempts_for(count))]

    def answered(self, position: int) -> None:
        with self._lock:
            self._current = position

    def gave_no_answer(self, position: int) -> None:
        """The next call starts after ``position`` (unless another address answered meanwhile): a call
        that is never retried, such as a publish, then goes to an address that may be up."""
        with self._lock:
            if self._current == position:
                self._current = (position + 1) % len(self.targets)

    def pause(self, attempt: int) -> None:
        pause = retries.backoff_s(attempt)
        if pause:
            self._sleep(pause)

    def channel(self, position: int) -> grpc.Channel:
        return self._channels[position]

    # ------------------------------------------------------------------ grpc.Channel
    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[..., Any] | None = None,
        response_deserializer: Callable[..., Any] | None = None,
        _registered_method: bool | None = False,
    ) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        per_channel = self._each(
            "unary_unary", method, request_serializer, response_deserializer, _registered_method
        )
        return _UnaryUnary(self, method, per_channel)

    def unary_stream(
        self,
        method: str,
        request_serializer: Callable[..., Any] | None = None,
        response_deserializer: Callable[..., Any] | None = None,
        _registered_method: bool | None = False,
    ) -> grpc.UnaryStreamMultiCallable[Any, Any]:
        per_channel = self._each(
            "unary_stream", method, request_serializer, response_deserializer, _registered_method
        )
        return _UnaryStream(self, method, per_channel)

    def stream_unary(
        self,
        method: str,
        request_serializer: Callable[..., Any] | None = None,
        response_deserializer: Callable[..., Any] | None = None,
        _registered_method: bool | None = False,
    ) -> grpc.StreamUnaryMultiCallable[Any, Any]:
        per_channel = self._each(
            "stream_unary", method, request_serializer, response_deserializer, _registered_method
        )
        return _Current(self, per_channel)  # type: ignore[return-value]

    def stream_stream(
        self,
        method: str,
        request_serializer: Callable[..., Any] | None = None,
        response_deserializer: Callable[..., Any] | None = None,
        _registered_method: bool | None = False,
    ) -> grpc.StreamStreamMultiCallable[Any, Any]:
        per_channel = self._each(
            "stream_stream", method, request_serializer, response_deserializer, _registered_method
        )
        return _Current(self, per_channel)  # type: ignore[return-value]

    def _each(
        self,
        kind: str,
        method: str,
        request_serializer: Callable[..., Any] | None,
        response_deserializer: Callable[..., Any] | None,
        registered: bool | None,
    ) -> list[Any]:
        """The callable for ``method`` on every address's channel (``_registered_method`` is newer than
        the typing stubs, so it is passed by name)."""
        return [
            getattr(ch, kind)(
                method, request_serializer, response_deserializer, _registered_method=registered
            )
            for ch in self._channels
        ]

    def subscribe(
        self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False
    ) -> None:
        self.channel(self.order()[0]).subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        for ch in self._channels:
            ch.unsubscribe(callback)

    def close(self) -> None:
        for ch in self._channels:
            ch.close()

    def __enter__(self) -> FailoverChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Current:
    """A stream call that is never retried: it goes to the address that answered last, and a failure
    for want of an answer names that address."""

    def __init__(self, owner: FailoverChannel, per_channel: Sequence[Any]) -> None:
        self._owner = owner
        self._per_channel = per_channel

    def _run(self, use: Callable[[Any], Any]) -> Any:
        position = self._owner.order()[0]
        try:
            return use(self._per_channel[position])
        except grpc.RpcError as exc:
            if not _failed_for_want_of_answer(exc):
                raise
            self._owner.gave_no_answer(position)
            raise AttemptsFailed([Attempt(self._owner.targets[position], exc)]) from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(lambda call: call(*args, **kwargs))

    def with_call(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(lambda call: call.with_call(*args, **kwargs))

    def future(self, *args: Any, **kwargs: Any) -> Any:
        return self._per_channel[self._owner.order()[0]].future(*args, **kwargs)


class _UnaryUnary(_UnaryUnaryBase):
    def __init__(self, owner: FailoverChannel, method: str, per_channel: Sequence[Any]) -> None:
        self._owner = owner
        self._method = method
        self._per_channel = per_channel

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response, _call = self.with_call(request, *args, **kwargs)
        return response

    def with_call(self, request: Any, *args: Any, **kwargs: Any) -> tuple[Any, grpc.Call]:
        """The answer of the first address that gives one: every address in turn for a call that may be
        sent again, else only the address that answered last."""
        owner = self._owner
        order = owner.order()
        if not retries.may_retry(self._method, request):
            order = order[:1]
        failed: list[Attempt] = []
        for attempt, position in enumerate(order):
            owner.pause(attempt)
            try:
                answer = self._per_channel[position].with_call(request, *args, **kwargs)
            except grpc.RpcError as exc:
                if not _failed_for_want_of_answer(exc):
                    raise  # an answer (a refusal) from a matcher that is up
                owner.gave_no_answer(position)
                failed.append(Attempt(owner.targets[position], exc))
                continue
            owner.answered(position)
            return answer  # type: ignore[no-any-return]
        raise AttemptsFailed(failed)

    def future(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Not retried (nothing in the SDK uses futures): sent to the address that answered last."""
        return self._per_channel[self._owner.order()[0]].future(request, *args, **kwargs)


class _UnaryStream(_UnaryStreamBase):
    def __init__(self, owner: FailoverChannel, method: str, per_channel: Sequence[Any]) -> None:
        self._owner = owner
        self._method = method
        self._per_channel = per_channel

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not retries.may_retry(self._method, request):
            return self._per_channel[self._owner.order()[0]](request, *args, **kwargs)
        return _StreamAttempts(self._owner, self._per_channel, request, args, kwargs)


class _StreamAttempts:
    """A server stream that moves to the next address while it has yielded nothing."""

    def __init__(
        self,
        owner: FailoverChannel,
        per_channel: Sequence[Any],
        request: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._owner = owner
        self._call: Any = None
        self._cancelled = False
        self._messages = self._run(per_channel, request, args, kwargs)

    def _run(
        self, per_channel: Sequence[Any], request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        owner = self._owner
        failed: list[Attempt] = []
        for attempt, position in enumerate(owner.order()):
            owner.pause(attempt)
            if self._cancelled:
                return
            self._call = per_channel[position](request, *args, **kwargs)
            seen = False
            try:
                for message in self._call:
                    if not seen:
                        owner.answered(position)
                        seen = True
                    yield message
                return
            except grpc.RpcError as exc:
                # A deadline is how a watch ends when nothing changed: the caller's, never a failover.
                if seen or self._cancelled or _code(exc) is not grpc.StatusCode.UNAVAILABLE:
                    raise
                owner.gave_no_answer(position)
                failed.append(Attempt(owner.targets[position], exc))
        raise AttemptsFailed(failed)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._messages)

    def cancel(self) -> bool:
        self._cancelled = True
        return bool(self._call.cancel()) if self._call is not None else False
