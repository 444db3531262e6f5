"""The SDK's one link to the matcher: a channel, its six service stubs, and error mapping done once.

Every call the SDK makes goes through ``Connection.call`` (unary and client-streaming) or
``Connection.stream`` (server-streaming), so every ``grpc.RpcError`` becomes the project error of exactly
the class the matcher raised (``crossforce.wire.errors.error_from_rpc``), and no gRPC type escapes the SDK.

The channel is the seam: ``Connection.for_profile`` opens the real one (mutual TLS, or the plaintext
development mode that names the caller in a header), and ``Connection(channel=...)`` takes any other
``grpc.Channel``, such as the test kit's in-memory one, which brings its own caller identity.

Before it dials, ``for_profile`` checks the profile's own certificate and CA (``crossforce.client.health``):
an expired or not-yet-valid one is an ``AuthenticationError`` that says so and how to renew, with no
network call, and one that ends within a week is a ``CertificateExpiryWarning``. Because gRPC reports
every failed connection as UNAVAILABLE, ``connect_failure`` reads the failure's text to tell "nothing
is listening" (UnavailableError) from "the matcher closed the TLS handshake on our certificate"
(AuthenticationError) from "we did not verify the matcher's certificate" (VerificationError).

A profile may name several matchers sharing one database (``Profile.addresses``): ``for_profile`` then
opens one channel per address behind a ``failover.FailoverChannel``, which sends a call that got no
answer to the next address when it is safe to (``retries``), and an error after every address failed
says which addresses were tried and what each did.

A call whose request names an officer (a check's justification, a desk approval or refusal) carries that
officer's credential in its metadata (``officercreds``; the matcher takes the officer from it), added
here so that every caller of ``call``, the SDK's own modules and the tools that speak the wire alike,
sends it without knowing about it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from crossforce import errors
from crossforce.client import certstatus, retries
from crossforce.client.failover import AttemptsFailed, FailoverChannel
from crossforce.client.officercreds import OfficerCredentials
from crossforce.client.profile import Profile
from crossforce.clock import utc_now
from crossforce.crypto.officer import METADATA_KEY as OFFICER_KEY
from crossforce.limits import DEFAULT_LIMITS
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire.errors import error_from_rpc
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

DEFAULT_TIMEOUT_S = 60.0
Metadata = tuple[tuple[str, str | bytes], ...]
T = TypeVar("T")


_VERIFY_REASON = re.compile(r"CERTIFICATE_VERIFY_FAILED: ([^:\]]+)")


def connect_failure(details: str, *, target: str, who: str, doctor: str) -> errors.CrossforceError | None:
    """The error a failed connection stands for, read from gRPC's text, or None if it is not one.

    gRPC 1.6x-1.8x word these as "failed to connect to all addresses; last error: ...", then
    "Connection refused" (nothing listening), "Socket closed" or "Connection reset" after the TCP
    connect (the server ended the TLS handshake: with ``require_client_auth`` that is its answer to a
    client certificate it does not accept), or "Tls handshake failed ... CERTIFICATE_VERIFY_FAILED"
    (this side did not accept the server's certificate). Text gRPC may change, so anything else keeps
    the plain mapping (``error_from_rpc``). ``who`` is ``org/role``; ``doctor`` the command to run.
    """
    if "Connection refused" in details:
        return errors.UnavailableError(f"nothing is listening at {target} (connection refused)")
    if "errors resolving" in details or "DNS resolution failed" in details:
        return errors.UnavailableError(f"cannot resolve the matcher's host name in {target}")
    if "CERTIFICATE_VERIFY_FAILED" in details or "Tls handshake failed" in details:
        found = _VERIFY_REASON.search(details)
        reason = f" ({found.group(1).strip()})" if found else ""
        return errors.VerificationError(
            f"this profile did not verify the matcher's certificate at {target}{reason}: it is not from the "
            "deployment CA in the profile's ca.pem, has expired, or does not name this host; if the CA was "
            "not rotated, this may not be your matcher"
        )
    if "failed to connect to all addresses" in details and (
        "Socket closed" in details or "Connection reset" in details
    ):
        return errors.AuthenticationError(
            f"the matcher at {target} closed the TLS handshake: it rejected this profile's certificate for "
            f"{who} (not issued by its CA, or expired or not yet valid by its clock); check with {doctor}"
        )
    return None


def officer_named(request: Any) -> str | None:
    """The officer id ``request`` names (possibly empty), or None for a request that names none."""
    if isinstance(request, (pb.CheckRequest, pb.CheckBatchRequest)):
        return str(request.justification.officer_id)
    if isinstance(request, (pb.ApproveRequest, pb.RefuseRequest)):
        return str(request.officer_id)
    return None


def preflight(profile: Profile, *, role: str, cert_pem: bytes, ca_pem: bytes) -> None:
    """Refuse to dial with a certificate or CA that is not valid now; warn if the certificate ends soon.

    Local and cheap, so the user hears "expired on <date>, renew with ..." instead of a failed handshake.
    """
    now = utc_now()
    cert = certstatus.cert_facts(cert_pem)
    where = str(profile.path)
    problem = certstatus.certificate_problem(cert, now, profile_path=where)
    if problem is None:
        problem = certstatus.ca_problem(ca_pem, now)
    if problem is not None:
        raise errors.AuthenticationError(problem)
    warning = certstatus.expiry_warning(cert, now, profile_path=where)
    if warning is not None:
        warnings.warn(warning, certstatus.CertificateExpiryWarning, stacklevel=3)


class Connection:
    """A channel and the stubs over it; ``call`` and ``stream`` map failures to the project's errors.

    The stubs are plain attributes so a caller may route them through an intercepted channel
    (``rebind``), as the load tests do to time every call.
    """

    def __init__(
        self,
        *,
        channel: grpc.Channel,
        metadata: Metadata = (),
        timeout: float = DEFAULT_TIMEOUT_S,
        target: str = "",
        who: str = "",
        doctor: str = "crossforce doctor",
    ) -> None:
        """``target``, ``who`` (org/role) and ``doctor`` only word connection failures; without a target
        (an in-memory channel) failures map by status alone."""
        self.channel = channel
        self.metadata = metadata
        self.timeout = timeout
        self.target = target
        self.who = who
        self.doctor = doctor
        self.officers: OfficerCredentials | None = None
        """Where a request naming an officer gets its credential (``Client`` sets it; None: none sent)."""
        self.rebind(channel)

    @classmethod
    def for_profile(cls, profile: Profile, *, role: str, timeout: float = DEFAULT_TIMEOUT_S) -> Connection:
        """The real channel for ``profile`` acting as ``role``: mTLS with the role's certificate, or the
        development mode's plaintext channel with the identity in a header."""
        options = [
            ("grpc.max_receive_message_length", DEFAULT_LIMITS.max_message_bytes),
            ("grpc.max_send_message_length", DEFAULT_LIMITS.max_message_bytes),
            *retries.RECONNECT_OPTIONS,
        ]
        metadata: Metadata = ()
        targets = profile.addresses
        if profile.dev_plaintext:
            channels = [(t, grpc.insecure_channel(t, options=options)) for t in targets]
            metadata = ((DEV_IDENTITY_HEADER, f"{profile.org}:{role}"),)
        else:
            pair = profile.cert_pair(role)
            ca_pem = profile.ca_pem()
            preflight(profile, role=role, cert_pem=pair.cert_pem, ca_pem=ca_pem)
            creds = grpc.ssl_channel_credentials(
                root_certificates=ca_pem, private_key=pair.key_pem, certificate_chain=pair.cert_pem
            )
            channels = [(t, grpc.secure_channel(t, creds, options=options)) for t in targets]
        return cls(
            channel=FailoverChannel(channels),
            metadata=metadata,
            timeout=timeout,
            target=profile.server,
            who=f"{profile.org}/{role}",
            doctor=f"crossforce doctor --profile {profile.path}",
        )

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
        metadata = self.metadata_for(request)
        try:
            return method(request, timeout=timeout or self.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise self.error_for(exc) from None

    def metadata_for(self, request: Any) -> Metadata:
        """What ``call`` sends beside ``request``: the connection's own metadata and, for a request that
        names an officer, the officer's credential (a load generator reuses it for many calls)."""
        return self.metadata + self._officer_metadata(request)

    def _officer_metadata(self, request: Any) -> Metadata:
        """The officer credential for a request that names an officer, if this connection holds one."""
        named = officer_named(request)
        if named is None or self.officers is None:
            return ()
        encoded = self.officers.for_officer(named)
        return () if encoded is None else ((OFFICER_KEY, encoded),)

    def stream(
        self, method: Callable[..., grpc.CallIterator[T]], request: Any, *, timeout: float | None
    ) -> Iterator[T]:
        """A server stream until it ends or ``timeout`` passes (a deadline ends it quietly, by design)."""
        try:
            yield from method(request, timeout=timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return
            raise self.error_for(exc) from None

    def error_for(self, exc: grpc.RpcError) -> errors.CrossforceError:
        """The project error for a failed call: a failed connection said as such, else ``error_from_rpc``;
        after several addresses failed, the last one's error, saying what each address did."""
        if isinstance(exc, AttemptsFailed):
            return self._attempts_error(exc)
        return self._one_error(exc, self.target)

    def _one_error(self, exc: grpc.RpcError, target: str) -> errors.CrossforceError:
        code_of = getattr(exc, "code", None)
        if target and callable(code_of) and code_of() == grpc.StatusCode.UNAVAILABLE:
            details_of = getattr(exc, "details", None)
            details = details_of() if callable(details_of) else ""
            found = connect_failure(
                details if isinstance(details, str) else "",
                target=target,
                who=self.who,
                doctor=self.doctor,
            )
            if found is not None:
                return found
        return error_from_rpc(exc)

    def _attempts_error(self, failed: AttemptsFailed) -> errors.CrossforceError:
        """One address (tried again after a pause): its last error, as a single call's. Several: the
        last error's kind, listing every address tried and what it did, so the reader can tell a
        stopped matcher from one that lost its database."""
        each = [(a.target, self._one_error(a.error, a.target)) for a in failed.attempts]
        last = each[-1][1]
        if len({target for target, _err in each}) == 1:
            return last
        said = "; ".join(f"{target}: {err}" if target not in str(err) else str(err) for target, err in each)
        # Only "no answer" failures get here (UNAVAILABLE, DEADLINE_EXCEEDED): their classes take a message.
        return type(last)(f"no matcher answered; tried {len(each)} addresses: {said}")

    def close(self) -> None:
        self.channel.close()
