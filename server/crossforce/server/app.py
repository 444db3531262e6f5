"""Start the matcher: storage, audit log key, gRPC server with mTLS, health checking, graceful stop.

`crossforce serve --data DIR --pki DIR` calls ``serve``; tests call ``start`` to get a running server on
a free port. Storage is SQLite in the data folder, or with ``db`` a PostgreSQL database that several
matchers share (each keeps only the log signing key in its data folder, the same key in every one).
``assemble`` is the one place the matcher and its interceptors are built (storage, audit log,
``Matcher``, its ``Metrics``; ``CallObserver`` first, then ``DecodeGuard``, ``Authorise`` last):
``start`` and the test kit's in-memory server (``crossforce.testkit.inmemory``) both call it, so a test
never runs a differently built server.

The main server is gRPC's asyncio server on an event loop thread of its own (``transport.LoopThread``):
``transport.SyncOnAio`` runs that same synchronous chain and the servicers in a worker pool once a
request has fully arrived, after checking identity and per-certificate caps, so a client that never
sends its request holds no thread (docs/operations.md, "Slow and greedy clients").

Beside the mTLS port, ``start`` can open two plaintext listeners, each off unless asked for and bound to
127.0.0.1 unless told otherwise (docs/operations.md): the OpenMetrics endpoint (``metrics_port``) and a
gRPC listener that serves only the standard health service (``health_port``), for probes that hold no
client certificate. No matcher RPC is reachable on either.

It runs over 400 lines: it is the one composition root (storage and its log key, the matcher, the
server and both listeners, health), and each part is a few lines of wiring that only make sense together.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import nacl.signing
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from crossforce.auditlog import treehead
from crossforce.auditlog.logkey import WitnessPolicy
from crossforce.clock import Clock
from crossforce.errors import PreconditionError, ValidationError, VerificationError
from crossforce.fsutil import atomic_write, make_private_dir
from crossforce.keystore import pki
from crossforce.server.audit import AuditLog
from crossforce.server.auth import Authorise
from crossforce.server.identity import DenyList, IdentityResolver
from crossforce.server.logkeyfile import publish_log_key
from crossforce.server.matcher import Matcher
from crossforce.server.observability import logs
from crossforce.server.observability import reflection as server_reflection
from crossforce.server.observability.calls import CallObserver
from crossforce.server.observability.metrics import Metrics, MetricsListener
from crossforce.server.observability.state import MatcherStateSource
from crossforce.server.servicers import SERVICE_NAMES, add_all
from crossforce.server.settings import ServerSettings
from crossforce.server.startchecks import check_private_data, check_server_folder, deny_list_for
from crossforce.server.status import DecodeGuard
from crossforce.server.store import SQLiteStorage
from crossforce.server.store.protocols import Storage
from crossforce.server.transport import LoopThread, SyncOnAio

log = logging.getLogger("crossforce.server")

LOG_KEY_FILE = "log-signing-key"
HEALTH_INTERVAL_S = 2.0
DEFAULT_MAX_WORKERS = 16
"""Worker threads of a matcher started without ``max_workers``."""
HEALTH_WORKERS = 2
"""Threads of the plaintext health listener: a probe's check is a dictionary lookup."""
LOCALHOST = "127.0.0.1"
"""Where the metrics and health listeners bind unless told otherwise: neither needs a certificate."""
STREAM_SHARE = 4
"""Publish streams and watch streams may each hold at most 1/STREAM_SHARE of the worker threads (once
admitted, a publish reads chunks and a watch waits for news inside a worker), so together they never
take more than half: unary calls (checks, decisions, Ping) always find a thread."""


def load_or_create_log_key(data_dir: Path, policy: WitnessPolicy | None = None) -> nacl.signing.SigningKey:
    path = data_dir / LOG_KEY_FILE
    if path.exists():
        key = nacl.signing.SigningKey(path.read_bytes())
    else:
        key = nacl.signing.SigningKey.generate()
        atomic_write(path, bytes(key), mode=0o600)
    publish_log_key(data_dir, bytes(key.verify_key), policy)  # <data>/log-key.pub, for clients to pin
    return key


@dataclass(frozen=True, kw_only=True)
class Assembly:
    """A matcher over its storage and audit log, and the interceptors every call to it goes through.

    ``close`` once, after nothing serves it any more: it closes the audit log, then storage.
    """

    storage: Storage
    audit: AuditLog
    matcher: Matcher
    metrics: Metrics
    """This matcher's own registry: two matchers in one process never add to each other's counts."""
    observer: CallObserver
    """The first interceptor, also told of calls the transport ends before any handler runs."""
    resolver: IdentityResolver
    """Who is calling (``Authorise``'s, and the transport's before it reads a request)."""
    interceptors: tuple[grpc.ServerInterceptor[Any, Any], ...]
    """In call order: ``CallObserver`` first (it logs and counts every call, refused or not),
    ``DecodeGuard`` (it wraps every later interceptor's handler), the extra interceptors given to
    ``assemble``, ``Authorise`` last (servicers only see an authorised caller)."""

    def add_servicers(self, server: grpc.Server | grpc.aio.Server, *, stream_slots: int) -> None:
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
    db: str | None = None,
) -> Assembly:
    """Open (or create) the matcher's data in ``data_dir`` and build the matcher and its interceptors.

    ``db``: a PostgreSQL DSN (its schema upgraded with ``crossforce db upgrade``); storage is then that
    database, shared with any other matcher given it, and ``data_dir`` holds only the log signing key.
    ``dev_mode`` takes the caller's identity from a metadata header instead of the client certificate
    (``IdentityResolver``); only the plaintext development server and the in-memory test server set it.
    """
    make_private_dir(data_dir)  # 0700: who checked whom, and why
    storage = _open_storage(data_dir, db)
    metrics = Metrics()
    witnesses = WitnessPolicy(witnesses=settings.witnesses, quorum=settings.witness_quorum)
    audit: AuditLog | None = None
    try:
        key = (
            _shared_log_key(data_dir, witnesses, storage)
            if db
            else load_or_create_log_key(data_dir, witnesses)
        )
        audit = AuditLog(storage=storage, key=key, on_commit=metrics.record_commit)
        matcher = Matcher(storage=storage, settings=settings, audit=audit)
    except BaseException:
        if audit is not None:
            audit.close()
        storage.close()
        raise
    metrics.watch(MatcherStateSource(matcher=matcher, requests=storage))
    resolver = IdentityResolver(deny_list=deny_list, dev_mode=dev_mode)
    observer = CallObserver(metrics)
    return Assembly(
        storage=storage,
        audit=audit,
        matcher=matcher,
        metrics=metrics,
        observer=observer,
        resolver=resolver,
        interceptors=(observer, DecodeGuard(), *interceptors, Authorise(resolver)),
    )


def _open_storage(data_dir: Path, db: str | None) -> Storage:
    """SQLite in ``data_dir`` (which it locks: one matcher per folder), or the PostgreSQL database ``db``
    (no folder lock: the database's log sequence is what several matchers share)."""
    if db is None:
        return SQLiteStorage(data_dir)
    from crossforce.server.store.postgres import PostgresStorage  # psycopg only when asked for

    return PostgresStorage.open(db)


def _shared_log_key(data_dir: Path, policy: WitnessPolicy, storage: Storage) -> nacl.signing.SigningKey:
    """The log signing key every matcher on one database shares: created by the first matcher of an empty
    database, copied into every other's data folder. A matcher without it, or with another, would sign
    heads nobody can verify: it refuses to start and says what to copy."""
    key_file = data_dir / LOG_KEY_FILE
    if not key_file.exists() and storage.log_size() > 0:
        raise PreconditionError(
            f"{data_dir} has no {LOG_KEY_FILE}, but the database already holds an audit log: copy "
            f"{LOG_KEY_FILE} from another matcher of this deployment into {data_dir} (every matcher on one "
            "database signs with the same key)"
        )
    key = load_or_create_log_key(data_dir, policy)
    last = storage.latest_head()
    if last is not None:
        head = treehead.TreeHead(
            tree_size=last.tree_size, timestamp_ms=last.timestamp_ms, root_hash=last.root
        )
        try:
            treehead.verify_tree_head(
                treehead.SignedTreeHead(head=head, signature=last.signature), bytes(key.verify_key)
            )
        except VerificationError:
            raise PreconditionError(
                f"the {LOG_KEY_FILE} in {data_dir} is not the key this database's audit log is signed with: "
                "copy the key from another matcher of this deployment"
            ) from None
    return key


class RunningServer:
    """A matcher serving on ``port``; ``stop`` it once. Its storage and matcher stay inside.

    What a caller outside the server may do with it is exactly these methods: read the ports (``port``,
    and ``metrics_port`` / ``health_port``, None when that listener is off), move the matcher's clock
    (tests of deadlines and quotas), stop it.
    """

    def __init__(
        self,
        *,
        server: grpc.aio.Server,
        runtime: LoopThread,
        pool: futures.ThreadPoolExecutor,
        port: int,
        assembly: Assembly,
        health: health.HealthServicer,
        stop_health: threading.Event,
        metrics: MetricsListener | None = None,
        health_server: grpc.Server | None = None,
        health_port: int | None = None,
    ) -> None:
        self._server = server
        self._runtime = runtime
        self._pool = pool
        self.port = port
        self._assembly = assembly
        self._health = health
        self._stop_health = stop_health
        self._metrics = metrics
        self.metrics_port = metrics.port if metrics is not None else None
        self._health_server = health_server
        self.health_port = health_port

    def set_clock(self, clock: Clock) -> None:
        """Every use case reads the time through the matcher's clock from the next call on."""
        self._assembly.matcher.clock = clock

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls, let in-flight calls finish within ``grace`` seconds, then close the
        matcher (its audit log, then storage)."""
        self._stop_health.set()
        self._health.enter_graceful_shutdown()
        try:
            self._runtime.run(self._server.stop(grace))
        finally:
            self._runtime.close()
            # Handlers still running finish on their own (as on grpc's threaded server); none waits here.
            self._pool.shutdown(wait=False, cancel_futures=True)
            if self._health_server is not None:
                self._health_server.stop(0).wait()
            if self._metrics is not None:
                self._metrics.stop()
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
    no_deny_list: bool = False,
    max_workers: int = DEFAULT_MAX_WORKERS,
    interceptors: tuple[grpc.ServerInterceptor[Any, Any], ...] = (),
    metrics_port: int | None = None,
    metrics_host: str = LOCALHOST,
    health_port: int | None = None,
    health_host: str = LOCALHOST,
    db: str | None = None,
) -> RunningServer:
    """Start the matcher on ``host:port`` (mTLS unless ``dev_plaintext``) and return it running.

    ``metrics_port`` / ``health_port``: None keeps that listener off, 0 picks a free port (read it from
    ``RunningServer``). ``reflection`` serves gRPC reflection v1 and v1alpha on the main port. ``db``: a
    PostgreSQL DSN to share with other matchers instead of SQLite in ``data_dir`` (see ``assemble``).

    Refuses to start (PreconditionError) beside the CA's private key, with a data folder or log signing key
    others may read or write, or without the deny list (``deny_list``, else ``pki_dir/revoked.txt``)
    unless ``no_deny_list`` says so (``crossforce.server.startchecks``).
    """
    creds: grpc.ServerCredentials | None = None
    if not dev_plaintext:
        # Before storage is opened: a deployment without its PKI must not start (nor leave files open).
        if pki_dir is None:
            raise ValidationError("a PKI folder is required unless dev_plaintext is set")
        check_server_folder(pki_dir)  # never beside the CA key: a reader of this disk could mint certificates
        key, cert, ca = pki.server_credentials_args(pki.PkiDir(pki_dir))
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
    check_private_data(data_dir)
    settings = settings or ServerSettings()
    deny = DenyList(deny_list_for(pki_dir, deny_list, no_deny_list=no_deny_list or dev_plaintext))
    built = assemble(
        data_dir=data_dir,
        settings=settings,
        deny_list=deny,
        dev_mode=dev_plaintext,
        interceptors=interceptors,
        db=db,
    )
    storage, audit, matcher = built.storage, built.audit, built.matcher
    pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="matcher")
    runtime = LoopThread()
    health_servicer = health.HealthServicer()
    address = f"{host}:{port}"
    if creds is None:
        log.warning(
            "PLAINTEXT DEVELOPMENT MODE: no TLS, identity taken from a header. Never use in production."
        )

    async def serve_on_loop() -> tuple[grpc.aio.Server, int]:
        # Built on the loop's own thread: grpc.aio binds a server to the running loop.
        server = grpc.aio.server(
            migration_thread_pool=pool,
            options=_server_options(settings),
            maximum_concurrent_rpcs=settings.transport.max_concurrent_calls,
            interceptors=[
                SyncOnAio(
                    chain=built.interceptors,
                    observer=built.observer,
                    resolver=built.resolver,
                    settings=settings.transport,
                    pool=pool,
                )
            ],
        )
        built.add_servicers(server, stream_slots=max(1, max_workers // STREAM_SHARE))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        if reflection:
            server_reflection.enable(server, (*SERVICE_NAMES, health.SERVICE_NAME))  # type: ignore[arg-type]
        try:
            got = (
                server.add_insecure_port(address) if creds is None else server.add_secure_port(address, creds)
            )
        except RuntimeError:
            got = 0
        if got:
            await server.start()
        return server, got

    try:
        server, bound = runtime.run(serve_on_loop())
    except BaseException:
        runtime.close()
        pool.shutdown(wait=False)
        built.close()
        raise
    if not bound:
        runtime.close()
        pool.shutdown(wait=False)
        built.close()
        raise PreconditionError(
            f"cannot listen on {address}: the port is in use (another matcher?) or not ours"
        )
    health_server: grpc.Server | None = None
    try:
        health_server, health_bound = _health_listener(built, health_servicer, health_host, health_port)
        listener = None if metrics_port is None else _metrics_listener(built, metrics_host, metrics_port)
    except BaseException:
        if health_server is not None:
            health_server.stop(0).wait()
        runtime.run(server.stop(0))
        runtime.close()
        pool.shutdown(wait=False)
        built.close()
        raise
    stop_health = threading.Event()
    _watch_health(storage, deny, health_servicer, stop_health, built.metrics)
    log.info(
        "matcher listening",
        extra=logs.fields(
            host=host,
            port=bound,
            indexes=len(matcher.status()),
            log_size=audit.size,
            storage="postgresql" if db else "sqlite",
            metrics=f"{metrics_host}:{listener.port}" if listener is not None else "off",
            health=f"{health_host}:{health_bound}" if health_server is not None else "off",
            reflection=reflection,
        ),
    )
    return RunningServer(
        server=server,
        runtime=runtime,
        pool=pool,
        port=bound,
        assembly=built,
        health=health_servicer,
        stop_health=stop_health,
        metrics=listener,
        health_server=health_server,
        health_port=health_bound if health_server is not None else None,
    )


def _server_options(settings: ServerSettings) -> list[tuple[str, int]]:
    """Message size limits, and the keepalive, idle and age limits of ``settings.transport``
    (docs/operations.md, "Slow and greedy clients")."""
    limit = settings.limits.max_message_bytes
    transport = settings.transport

    def ms(seconds: float) -> int:
        return int(seconds * 1000)

    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        # A second matcher on the same port must fail to bind, not silently take part of the traffic.
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_time_ms", ms(transport.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", ms(transport.keepalive_timeout_s)),
        ("grpc.http2.min_ping_interval_without_data_ms", ms(transport.min_client_ping_interval_s)),
        ("grpc.max_connection_idle_ms", ms(transport.max_connection_idle_s)),
        ("grpc.max_connection_age_ms", ms(transport.max_connection_age_s)),
        ("grpc.max_connection_age_grace_ms", ms(transport.max_connection_age_grace_s)),
    ]


def _metrics_listener(built: Assembly, host: str, port: int) -> MetricsListener:
    try:
        return MetricsListener(built.metrics, host=host, port=port)
    except OSError as exc:
        raise PreconditionError(
            f"cannot serve metrics on {host}:{port}: the port is in use or not ours ({exc.strerror})"
        ) from None


def _health_listener(
    built: Assembly, servicer: health.HealthServicer, host: str, port: int | None
) -> tuple[grpc.Server | None, int]:
    """A plaintext gRPC server with the health service (and its reflection) only, no matcher RPC; or
    (None, 0) when off.

    Its calls go through a ``CallObserver`` of their own (logged at DEBUG, counted in the metrics)."""
    if port is None:
        return None, 0
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=HEALTH_WORKERS, thread_name_prefix="health"),
        options=[("grpc.so_reuseport", 0)],
        interceptors=[CallObserver(built.metrics)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    # Reflection of the health service alone, so `grpcurl -plaintext HOST:PORT grpc.health.v1.Health/Check`
    # works without a .proto file; it describes nothing of the matcher's API.
    server_reflection.enable(server, (health.SERVICE_NAME,))
    address = f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise PreconditionError(f"cannot serve health checks on {address}: the port is in use or not ours")
    server.start()
    return server, bound


def _watch_health(
    storage: Storage,
    deny: DenyList,
    servicer: health.HealthServicer,
    stop: threading.Event,
    metrics: Metrics,
) -> None:
    """NOT_SERVING while storage cannot be written or the deny list cannot be read (every call is then
    refused), SERVING again when both recover (storage alone in the ``crossforce_storage_healthy``
    gauge)."""

    def loop() -> None:
        while True:
            stored = storage.healthy()
            metrics.record_storage_health(stored)
            ok = stored and deny.readable()
            state = (
                health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            servicer.set("", state)
            for name in SERVICE_NAMES:
                servicer.set(name, state)
            if stop.wait(HEALTH_INTERVAL_S):
                return

    threading.Thread(target=loop, name="health", daemon=True).start()


def serve(
    *, log_format: str | None = None, log_level: str = "info", json_ready: bool = False, **kwargs: Any
) -> None:
    """Run until SIGINT/SIGTERM, then drain in-flight calls; ``kwargs`` are ``start``'s (keyword-only).

    Every log line goes to stderr in ``log_format`` (``json``, ``logfmt`` or ``text``; None: text on a
    terminal, JSON otherwise). Stdout gets one line, once the matcher accepts calls ("crossforce matcher
    listening on port N", or with ``json_ready`` one JSON object with every bound port), for scripts and
    supervisors that wait for it.
    """
    logs.configure(log_format=log_format, level=log_level)
    running = start(**kwargs)
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("draining in-flight calls", extra=logs.fields(signal=signum))
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    if json_ready:
        ready = {
            "listening": {
                "port": running.port,
                "metrics_port": running.metrics_port,
                "health_port": running.health_port,
            }
        }
        line = json.dumps(ready, sort_keys=True)
    else:
        line = f"crossforce matcher listening on port {running.port}"
    # One write of the whole line: a supervisor often reads stdout and stderr (the log) from one pipe,
    # and a log line landing between the text and its newline once made a harness read the port wrong.
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), (line + "\n").encode())
    done.wait()
    running.stop()
