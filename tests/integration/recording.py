"""A server interceptor that keeps the serialised bytes of every request message the matcher receives."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc


class RecordingInterceptor(grpc.ServerInterceptor):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[bytes] = []

    def _keep(self, message: Any) -> None:
        with self.lock:
            self.received.append(message.SerializeToString())

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = continuation(details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            def uu(request: Any, context: grpc.ServicerContext) -> Any:
                self._keep(request)
                return inner_uu(request, context)

            return handler._replace(unary_unary=uu)
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            def us(request: Any, context: grpc.ServicerContext) -> Any:
                self._keep(request)
                return inner_us(request, context)

            return handler._replace(unary_stream=us)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            def su(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                def tee() -> Iterator[Any]:
                    for r in requests:
                        self._keep(r)
                        yield r

                return inner_su(tee(), context)

            return handler._replace(stream_unary=su)
        return handler

    def all_bytes(self) -> bytes:
        with self.lock:
            return b"\n".join(self.received)
