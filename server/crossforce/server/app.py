"""Start the matcher: storage, audit log key, gRPC server with mTLS, health checking, graceful stop.

`crossforce serve --data DIR --pki DIR` calls ``serve``; tests call ``start`` to get a running server on
a free port. ``assemble`` is the one place the matcher and its interceptors are built (storage, audit
log, ``Matcher``, ``DecodeGuard`` first, ``Authorise`` last): ``start`` and the test kit's in-memory
server (``crossforce.testkit.inmemory``) both call it, so a test never runs a differently built server.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nacl.signing
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from crossforce.clock import Clock
from crossforce.errors import PreconditionError, ValidationError
from crossforce.fsutil import atomic_write
from crossforce.keystore import pki
from crossforce.server.audit import AuditLog
from crossforce.server.auth import Authorise
from crossforce.server.identity import DenyList, IdentityResolver
from crossforce.server.matcher import Matcher
from crossforce.server.servicers import SERVICE_NAMES, add_all
from crossforce.server.settings import ServerSettings
from crossforce.server.status import DecodeGuard
from crossforce.server.store import SQLiteStorage

log = logging.getLogger("crossforce.server")

LOG_KEY_FILE = "log-signing-key"
HEALTH_INTERVAL_S = 2.0
DEFAULT_MAX_WORKERS = 16
"""Worker threads of a matcher started without ``max_workers``."""
QUEUED_PER_WORKER = 8
"""Calls admitted per worker thread (running or queued); beyond that gRPC answers RESOURCE_EXHAUSTED."""
STREAM_SHARE = 4
"""Publish streams and watch streams may each hold at most 1/STREAM_SHARE of the worker threads, so
together they never take more than half: unary calls (checks, decisions, Ping) always find a thread."""


def load_or_create_log_key(data_dir: Path) -> nacl.signing.SigningKey:
    path = data_dir / LOG_KEY_FILE
    if path.exists():
        return nacl.signing.SigningKey(path.read_bytes())
    key = nacl.signing.SigningKey.generate()
    atomic_write(path, bytes(key), mode=0o600)
    return key


@dataclass(frozen=True, kw_only=True)
class Assembly:
    """A matcher over its storage and audit log, and the interceptors every call to it goes through.

    ``close`` once, after nothing serves it any more: it closes the audit log, then storage.
    """

    storage: SQLiteStorage
    audit: AuditLog
    matcher: Matcher
    interceptors: tuple[grpc.ServerInterceptor[Any, Any], ...]
    """In call order: ``DecodeGuard`` first (it wraps every other interceptor's handler), the extra
    interceptors given to ``assemble``, ``Authorise`` last (servicers only see an authorised caller)."""

    def add_servicers(self, server: grpc.Server, *, stream_slots: int) -> None:
        """Register every servicer over this matcher; ``stream_slots`` bounds each stream kind."""
        add_all(server, self.matcher, stream_slots=stream_slots)

    def close(self) -> None:
        self.matcher.close()


def assemble(
    *,
    data_dir: Path,
    settings: ServerSettings,
    deny_list: DenyList,
    dev_mode: bool,
    interceptors: tuple[grpc.ServerInterceptor[Any, Any], ...] = (),
) -> Assembly:
    """Open (or create) the matcher's data in ``data_dir`` and build the matcher and its interceptors.

    ``dev_mode`` takes the caller's identity from a metadata header instead of the client certificate
    (``IdentityResolver``); only the plaintext development server and the in-memory test server set it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    storage = SQLiteStorage(data_dir)
    audit = AuditLog(storage=storage, key=load_or_create_log_key(data_dir))
    matcher = Matcher(storage=storage, settings=settings, audit=audit)
    authorise = Authorise(IdentityResolver(deny_list=deny_list, dev_mode=dev_mode))
    return Assembly(
        storage=storage,
        audit=audit,
        matcher=matcher,
        interceptors=(DecodeGuard(), *interceptors, authorise),
    )


class RunningServer:
    """A matcher serving on ``port``; ``stop`` it once. Its storage and matcher stay inside.

    What a caller outside the server may do with it is exactly these methods: read the port, move the
    matcher's clock (tests of deadlines and quotas), stop it.
    """

    def __init__(
        self,
        *,
        server: grpc.Server,
        port: int,
        assembly: Assembly,
        health: health.HealthServicer,
        stop_health: threading.Event,
    ) -> None:
        self._server = server
        self.port = port
        self._assembly = assembly
        self._health = health
        self._stop_health = stop_health

    def set_clock(self, clock: Clock) -> None:
        """Every use case reads the time through the matcher's clock from the next call on."""
        self._assembly.matcher.clock = clock

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls, let in-flight calls finish within ``grace`` seconds, then close the
        matcher (its audit log, then storage)."""
        self._stop_health.set()
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self._assembly.close()


def start(
    *,
    data_dir: Path,
    pki_dir: Path | None,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: ServerSettings | None = None,
    dev_plaintext: bool = False,
    reflection: bool = False,
    deny_list: Path | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    interceptors: tuple[grpc.ServerInterceptor[Any, Any], ...] = (),
) -> RunningServer:
    creds: grpc.ServerCredentials | None = None
    if not dev_plaintext:
        # Before storage is opened: a deployment without its PKI must not start (nor leave files open).
        if pki_dir is None:
            raise ValidationError("a PKI folder is required unless dev_plaintext is set")
        key, cert, ca = pki.server_credentials_args(pki.PkiDir(pki_dir))
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
    settings = settings or ServerSettings()
    deny = DenyList(deny_list if deny_list is not None else (pki_dir / "revoked.txt" if pki_dir else None))
    built = assemble(
        data_dir=data_dir,
        settings=settings,
        deny_list=deny,
        dev_mode=dev_plaintext,
        interceptors=interceptors,
    )
    storage, audit, matcher = built.storage, built.audit, built.matcher
    limit = settings.limits.max_message_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # A second matcher on the same port must fail to bind, not silently take part of the traffic.
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=max_workers * QUEUED_PER_WORKER,
        interceptors=list(built.interceptors),
    )
    built.add_servicers(server, stream_slots=max(1, max_workers // STREAM_SHARE))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection:
        from grpc_reflection.v1alpha import reflection as refl

        refl.enable_server_reflection((*SERVICE_NAMES, refl.SERVICE_NAME), server)
    address = f"{host}:{port}"
    if creds is None:
        log.warning(
            "PLAINTEXT DEVELOPMENT MODE: no TLS, identity taken from a header. Never use in production."
        )
    try:
        bound = server.add_insecure_port(address) if creds is None else server.add_secure_port(address, creds)
    except RuntimeError:
        bound = 0
    if not bound:
        built.close()
        raise PreconditionError(
            f"cannot listen on {address}: the port is in use (another matcher?) or not ours"
        )
    server.start()
    stop_health = threading.Event()
    _watch_health(storage, health_servicer, stop_health)
    log.info(
        "matcher listening on %s:%d (%d indexes, log size %d)", host, bound, len(matcher.status()), audit.size
    )
    return RunningServer(
        server=server, port=bound, assembly=built, health=health_servicer, stop_health=stop_health
    )


def _watch_health(storage: SQLiteStorage, servicer: health.HealthServicer, stop: threading.Event) -> None:
    """NOT_SERVING while storage cannot be written, SERVING again when it recovers."""

    def loop() -> None:
        while True:
            ok = storage.healthy()
            state = (
                health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            servicer.set("", state)
            for name in SERVICE_NAMES:
                servicer.set(name, state)
            if stop.wait(HEALTH_INTERVAL_S):
                return

    threading.Thread(target=loop, name="health", daemon=True).start()


def serve(**kwargs: Any) -> None:
    """Run until SIGINT/SIGTERM, then drain in-flight calls; ``kwargs`` are ``start``'s (keyword-only)."""
    running = start(**kwargs)
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: draining in-flight calls", signum)
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(f"crossforce matcher listening on port {running.port}", flush=True)
    done.wait()
    running.stop()
