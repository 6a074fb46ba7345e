"""Raw forwarding of gRPC calls to the backend that owns each service.

Messages pass through as bytes, never parsed. Each method's streaming kind comes from the
generated modules' descriptors; metadata, deadline, status code, details and trailing
metadata pass through both ways.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from functools import partial
from typing import Any, NoReturn

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from sluice.v1 import artifacts_pb2, experiments_pb2, pipelines_pb2, recurring_runs_pb2, runs_pb2

from services.gateway.backend import GatewayBackend

PUBLIC_SERVICES: tuple[ServiceDescriptor, ...] = tuple(
    service
    for module in (experiments_pb2, pipelines_pb2, runs_pb2, recurring_runs_pb2, artifacts_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)
"""Every service of Sluice's public gRPC API."""

_ARTIFACT_SERVICES = frozenset({"sluice.v1.ArtifactService"})

# Set by the transport for each hop; forwarding them would confuse the next one.
_HOP_KEYS = frozenset({"content-type", "user-agent", "te", "host", "connection"})

Context = grpc.aio.ServicerContext[Any, Any]
Metadata = tuple[tuple[str, str | bytes], ...]


def method_path(method: MethodDescriptor) -> str:
    """The HTTP/2 path of ``method``: ``/sluice.v1.RunService/GetRun``."""
    return f"/{method.containing_service.full_name}/{method.name}"


def forwardable(metadata: Iterable[Any] | None) -> Metadata:
    """``metadata`` (pairs of key and value) without the keys each hop sets for itself."""
    return tuple(
        (key, value)
        for key, value in metadata or ()
        if not key.startswith((":", "grpc-")) and key not in _HOP_KEYS
    )


def deadline(context: Context) -> float | None:
    """Seconds left of the caller's deadline; ``None`` when it set none."""
    remaining: float | None = context.time_remaining()
    return remaining


async def abort_with(context: Context, error: grpc.aio.AioRpcError) -> NoReturn:
    """End the call with the status a backend call ended with."""
    await context.abort(error.code(), error.details() or "", forwardable(error.trailing_metadata()))


async def _unary_unary(
    forward: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes], request: bytes, context: Context
) -> bytes:
    call = forward(request, timeout=deadline(context), metadata=forwardable(context.invocation_metadata()))
    try:
        response = await call
        await context.send_initial_metadata(forwardable(await call.initial_metadata()))
        context.set_trailing_metadata(forwardable(await call.trailing_metadata()))
        return response
    except grpc.aio.AioRpcError as error:
        await abort_with(context, error)


async def _unary_stream(
    forward: grpc.aio.UnaryStreamMultiCallable[bytes, bytes], request: bytes, context: Context
) -> AsyncIterator[bytes]:
    call = forward(request, timeout=deadline(context), metadata=forwardable(context.invocation_metadata()))
    try:
        await context.send_initial_metadata(forwardable(await call.initial_metadata()))
        async for response in call:
            yield response
        context.set_trailing_metadata(forwardable(await call.trailing_metadata()))
    except grpc.aio.AioRpcError as error:
        await abort_with(context, error)
    finally:
        # Our caller may leave early; the backend must not keep streaming to nobody.
        call.cancel()


async def _stream_unary(
    forward: grpc.aio.StreamUnaryMultiCallable[bytes, bytes], requests: AsyncIterator[bytes], context: Context
) -> bytes:
    call = forward(requests, timeout=deadline(context), metadata=forwardable(context.invocation_metadata()))
    try:
        response = await call
        await context.send_initial_metadata(forwardable(await call.initial_metadata()))
        context.set_trailing_metadata(forwardable(await call.trailing_metadata()))
        return response
    except grpc.aio.AioRpcError as error:
        await abort_with(context, error)


def _forwarder(channel: grpc.aio.Channel, method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
    path = method_path(method)
    if method.client_streaming and method.server_streaming:
        raise ValueError(f"{path}: bidirectional streaming is not forwarded")
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(
            partial(_stream_unary, channel.stream_unary(path, None, None))
        )
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(
            partial(_unary_stream, channel.unary_stream(path, None, None))
        )
    return grpc.unary_unary_rpc_method_handler(partial(_unary_unary, channel.unary_unary(path, None, None)))


def forwarding_handlers(
    backend: GatewayBackend, *, served_here: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
) -> list[grpc.GenericRpcHandler[Any, Any]]:
    """A handler per public service: ``served_here`` (by method path) answered locally,
    every other method forwarded to its owner (ArtifactService to the artifact service,
    the rest to the scheduler)."""
    handlers = []
    for service in PUBLIC_SERVICES:
        channel = (
            backend.artifacts_channel
            if service.full_name in _ARTIFACT_SERVICES
            else backend.scheduler_channel
        )
        methods = {
            method.name: served_here.get(method_path(method)) or _forwarder(channel, method)
            for method in service.methods
        }
        handlers.append(grpc.method_handlers_generic_handler(service.full_name, methods))
    return handlers
