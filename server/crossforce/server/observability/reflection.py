"""Server reflection, both ``grpc.reflection.v1`` (what current grpcurl, Postman and grpcui ask first) and
the older ``v1alpha``, listing the matcher's services, health and reflection itself.

Why this module: grpcio-reflection 1.85 ships only ``v1alpha``. The ``v1`` protocol is the same
``reflection.proto`` under a new package name, message for message and field number for field number,
so the ``v1alpha`` servicer's messages are byte-identical on the wire. We register the ``v1`` service
with the ``v1alpha`` (de)serialisers, and add a ``v1`` file descriptor (the ``v1alpha`` one, renamed)
to the descriptor pool so a client can also ``describe`` the ``v1`` service.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

V1_PACKAGE = "grpc.reflection.v1"
V1_FILE = "grpc/reflection/v1/reflection.proto"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1ALPHA_SERVICE_NAME: str = v1alpha.SERVICE_NAME
METHOD = "ServerReflectionInfo"


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    """The ``v1alpha`` file descriptor with its package, file name and type references renamed."""
    old = v1alpha_pb2.DESCRIPTOR.package
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = V1_FILE, V1_PACKAGE
    proto.options.Clear()
    prefix, renamed = f".{old}.", f".{V1_PACKAGE}."
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(prefix):
                field.type_name = renamed + field.type_name[len(prefix) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = renamed + method.input_type[len(prefix) :]
            method.output_type = renamed + method.output_type[len(prefix) :]
    return proto


def _register_v1_descriptor() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.AddSerializedFile(_v1_file().SerializeToString())


def enable(server: grpc.Server, service_names: Iterable[str]) -> tuple[str, ...]:
    """Serve reflection (v1 and v1alpha) on ``server`` for ``service_names`` plus both reflection
    services; returns every name it lists."""
    _register_v1_descriptor()
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer = v1alpha.ReflectionServicer(names)
    v1alpha.enable_server_reflection(names, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    v1 = grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {METHOD: handler})
    server.add_generic_rpc_handlers((v1,))
    return names
