"""The gRPC transport: Sluice's public gRPC API at the gateway (`sluice.v1.*Service`)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, cast

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from sluice.client import errors
from sluice.client._rpc import GET_PIPELINE, UPLOAD_PIPELINE, Rpc
from sluice.client._transport import MAX_MESSAGE_BYTES, Json

_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
_WATCH_RUN = "/sluice.v1.RunService/WatchRun"
_DOWNLOAD = "/sluice.v1.ArtifactService/Download"
_READ_TASK_LOG = "/sluice.v1.RunService/ReadTaskLog"
# Doubles beyond 2**53 are not integers exactly; leave them as they are.
_EXACT_INTEGERS = float(2**53)


def message_class(name: str) -> type[Message]:
    """`"runs_pb2.Run"` → the class `sluice.v1.runs_pb2.Run`."""
    module, _, message = name.partition(".")
    cls: type[Message] = getattr(importlib.import_module(f"sluice.v1.{module}"), message)
    return cls


def _integral_as_int(value: Any) -> Any:
    # As the HTTP API answers (protobuf Values carry every number as a double): 7, not 7.0.
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= _EXACT_INTEGERS else value
    if isinstance(value, dict):
        return {key: _integral_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_as_int(item) for item in value]
    return value


def to_json(message: Message) -> Json:
    data: Json = _integral_as_int(json_format.MessageToDict(message, preserving_proto_field_name=True))
    return data


def _cancel(call: object) -> None:
    # Ends a stream early (a no-op once it has ended); untyped in grpc-stubs.
    cast(Any, call).cancel()


def translate(error: grpc.RpcError, address: str) -> errors.SluiceError:
    """The client error for a failed call."""
    call = cast(grpc.Call, error)
    code = call.code()
    details = call.details() or code.name
    if code is grpc.StatusCode.UNAVAILABLE and "failed to connect" in details.lower():
        details = f"cannot reach Sluice at {address} over gRPC: {details}"
    number = code.value[0]
    assert isinstance(number, int)
    return errors.error_for_code(number, details)


class GrpcTransport:
    """Calls the gateway's gRPC API over one insecure channel (loopback or a trusted network)."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._channel = grpc.insecure_channel(address, options=_OPTIONS)
        self._calls: dict[str, Callable[..., Any]] = {}

    @property
    def kind(self) -> str:
        return "grpc"

    @property
    def address(self) -> str:
        return self._address

    def _unary(self, rpc: Rpc) -> Callable[..., Any]:
        call = self._calls.get(rpc.path)
        if call is None:
            call = self._channel.unary_unary(
                rpc.path,
                request_serializer=message_class(rpc.request).SerializeToString,
                response_deserializer=message_class(rpc.response).FromString,
            )
            self._calls[rpc.path] = call
        return call

    def call(self, rpc: Rpc, request: Mapping[str, Any], *, timeout: float | None) -> Json:
        return self._invoke(rpc, json_format.ParseDict(dict(request), message_class(rpc.request)()), timeout)

    def _invoke(self, rpc: Rpc, message: Message, timeout: float | None) -> Json:
        try:
            response = self._unary(rpc)(message, timeout=timeout)
        except grpc.RpcError as error:
            raise translate(error, self._address) from None
        assert isinstance(response, Message)
        return to_json(response)

    def upload_pipeline(self, package: bytes, *, filename: str, fields: Mapping[str, Any]) -> Json:
        version = self.upload_pipeline_version(package, filename=filename, pipeline_id="", fields=fields)
        return self.call(GET_PIPELINE, {"pipeline_id": version["pipeline_id"]}, timeout=None)

    def upload_pipeline_version(
        self, package: bytes, *, filename: str, pipeline_id: str, fields: Mapping[str, Any]
    ) -> Json:
        from sluice.v1 import pipelines_pb2

        message = pipelines_pb2.UploadPipelineRequest(
            package=package, filename=filename, pipeline_id=pipeline_id, **fields
        )
        return self._invoke(UPLOAD_PIPELINE, message, None)

    def events(
        self, run_id: str, *, after_sequence: int, timeout: float | None
    ) -> Generator[Json, None, None]:
        from sluice.v1 import events_pb2, runs_pb2

        watch = self._channel.unary_stream(
            _WATCH_RUN,
            request_serializer=runs_pb2.WatchRunRequest.SerializeToString,
            response_deserializer=events_pb2.RunEvent.FromString,
        )
        stream = watch(
            runs_pb2.WatchRunRequest(run_id=run_id, after_sequence=after_sequence), timeout=timeout
        )
        try:
            for event in stream:
                yield to_json(event)
        except grpc.RpcError as error:
            raise translate(error, self._address) from None
        finally:
            _cancel(stream)

    async def aevents(
        self, run_id: str, *, after_sequence: int, window: float | None
    ) -> AsyncGenerator[Json, None]:
        from sluice.v1 import events_pb2, runs_pb2

        # An asyncio channel belongs to the loop it is used on: one per watch.
        async with grpc.aio.insecure_channel(self._address, options=_OPTIONS) as channel:
            watch = channel.unary_stream(
                _WATCH_RUN,
                request_serializer=runs_pb2.WatchRunRequest.SerializeToString,
                response_deserializer=events_pb2.RunEvent.FromString,
            )
            stream = watch(
                runs_pb2.WatchRunRequest(run_id=run_id, after_sequence=after_sequence), timeout=window
            )
            try:
                async for event in stream:
                    yield to_json(cast(Message, event))
            except grpc.RpcError as error:
                raise translate(error, self._address) from None
            finally:
                stream.cancel()

    def download(self, *, artifact_id: str = "", uri: str = "") -> Iterator[bytes]:
        from sluice.v1 import artifacts_pb2

        download = self._channel.unary_stream(
            _DOWNLOAD,
            request_serializer=artifacts_pb2.DownloadRequest.SerializeToString,
            response_deserializer=artifacts_pb2.DownloadChunk.FromString,
        )
        return self._bytes(download(artifacts_pb2.DownloadRequest(artifact_id=artifact_id, uri=uri)))

    def task_log(self, *, run_id: str, task_id: str, attempt: int | None, follow: bool) -> Iterator[bytes]:
        from sluice.v1 import runs_pb2

        read = self._channel.unary_stream(
            _READ_TASK_LOG,
            request_serializer=runs_pb2.ReadTaskLogRequest.SerializeToString,
            response_deserializer=runs_pb2.LogChunk.FromString,
        )
        request = runs_pb2.ReadTaskLogRequest(
            run_id=run_id, task_id=task_id, attempt=attempt or 0, follow=follow
        )
        return self._bytes(read(request))

    def _bytes(self, stream: Iterable[Any]) -> Iterator[bytes]:
        """The `data` of a stream of chunks; cancelled when the reader stops early."""
        try:
            for chunk in stream:
                yield chunk.data
        except grpc.RpcError as error:
            raise translate(error, self._address) from None
        finally:
            _cancel(stream)

    def close(self) -> None:
        self._channel.close()
