"""The SDK's one link to the matcher: a channel, its six service stubs, and error mapping done once.

Every call the SDK makes goes through ``Connection.call`` (unary and client-streaming) or
``Connection.stream`` (server-streaming), so every ``grpc.RpcError`` becomes the project error of exactly
the class the matcher raised (``crossforce.wire.errors.error_from_rpc``), and no gRPC type escapes the SDK.

The channel is the seam: ``Connection.for_profile`` opens the real one (mutual TLS, or the plaintext
development mode that names the caller in a header), and ``Connection(channel=...)`` takes any other
``grpc.Channel``, such as the test kit's in-memory one, which brings its own caller identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from crossforce.client.profile import Profile
from crossforce.limits import DEFAULT_LIMITS
from crossforce.v1 import crossforce_pb2_grpc as rpc
from crossforce.wire.errors import error_from_rpc
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

DEFAULT_TIMEOUT_S = 60.0
Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")


class Connection:
    """A channel and the stubs over it; ``call`` and ``stream`` map failures to the project's errors.

    The stubs are plain attributes so a caller may route them through an intercepted channel
    (``rebind``), as the load tests do to time every call.
    """

    def __init__(
        self, *, channel: grpc.Channel, metadata: Metadata = (), timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.channel = channel
        self.metadata = metadata
        self.timeout = timeout
        self.rebind(channel)

    @classmethod
    def for_profile(cls, profile: Profile, *, role: str, timeout: float = DEFAULT_TIMEOUT_S) -> Connection:
        """The real channel for ``profile`` acting as ``role``: mTLS with the role's certificate, or the
        development mode's plaintext channel with the identity in a header."""
        options = [
            ("grpc.max_receive_message_length", DEFAULT_LIMITS.max_message_bytes),
            ("grpc.max_send_message_length", DEFAULT_LIMITS.max_message_bytes),
        ]
        if profile.dev_plaintext:
            channel = grpc.insecure_channel(profile.server, options=options)
            return cls(
                channel=channel, metadata=((DEV_IDENTITY_HEADER, f"{profile.org}:{role}"),), timeout=timeout
            )
        pair = profile.cert_pair(role)
        creds = grpc.ssl_channel_credentials(
            root_certificates=profile.ca_pem(), private_key=pair.key_pem, certificate_chain=pair.cert_pem
        )
        return cls(channel=grpc.secure_channel(profile.server, creds, options=options), timeout=timeout)

    def rebind(self, channel: grpc.Channel) -> None:
        """Make every stub call through ``channel`` (for example an intercepted copy of this one)."""
        self.registry = rpc.RegistryStub(channel)
        self.index = rpc.IndexStub(channel)
        self.matcher = rpc.MatcherStub(channel)
        self.disclosure = rpc.DisclosureStub(channel)
        self.audit = rpc.AuditStub(channel)
        self.operations = rpc.OperationsStub(channel)

    def call(self, method: Callable[..., T], request: Any, *, timeout: float | None = None) -> T:
        """Invoke a unary or client-streaming RPC; a failure raises the exact project error."""
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def stream(
        self, method: Callable[..., grpc.CallIterator[T]], request: Any, *, timeout: float | None
    ) -> Iterator[T]:
        """A server stream until it ends or ``timeout`` passes (a deadline ends it quietly, by design)."""
        try:
            yield from method(request, timeout=timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return
            raise error_from_rpc(exc) from None

    def close(self) -> None:
        self.channel.close()
