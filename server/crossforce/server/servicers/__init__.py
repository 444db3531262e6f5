"""gRPC servicers, one per service, each thin: convert with ``crossforce.wire``, call the ``Matcher``
facade, convert back.

Who may call what is decided before any servicer runs (``crossforce.server.auth.Authorise``, against
``crossforce.server.policy.roles``); servicers read the caller with ``auth.caller(context)``. Errors are
raised, never aborted here: ``status.unary``/``stream_unary``/``streaming`` map them through the one
status table.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import grpc.aio

from crossforce.server.matcher import Matcher
from crossforce.server.servicers.audit import AuditServicer
from crossforce.server.servicers.disclosure import DisclosureServicer
from crossforce.server.servicers.index import IndexServicer
from crossforce.server.servicers.matching import MatcherServicer
from crossforce.server.servicers.operations import OperationsServicer
from crossforce.server.servicers.registry import RegistryServicer
from crossforce.server.servicers.streams import StreamSlots
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc

__all__ = ["SERVICE_NAMES", "StreamSlots", "add_all"]


def add_all(server: grpc.Server | grpc.aio.Server, matcher: Matcher, *, stream_slots: int) -> None:
    """Register every servicer; at most ``stream_slots`` publish and as many watch streams run at once.

    The server must carry ``auth.Authorise`` (``app.start`` installs it): servicers refuse any call it
    did not authorise.
    """
    rpc.add_RegistryServicer_to_server(RegistryServicer(matcher), server)
    publish = StreamSlots("publish", stream_slots)
    rpc.add_IndexServicer_to_server(IndexServicer(matcher, slots=publish), server)
    rpc.add_MatcherServicer_to_server(MatcherServicer(matcher), server)
    watch = StreamSlots("WatchRequests", stream_slots)
    rpc.add_DisclosureServicer_to_server(DisclosureServicer(matcher, watch_slots=watch), server)
    rpc.add_AuditServicer_to_server(AuditServicer(matcher), server)
    rpc.add_OperationsServicer_to_server(OperationsServicer(matcher), server)


SERVICE_NAMES: Sequence[str] = tuple(service.full_name for service in pb.DESCRIPTOR.services_by_name.values())
"""Every service of the API, by full name (health checks and reflection list them)."""
