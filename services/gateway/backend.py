"""What the gateway talks to: the scheduler's and the artifact service's gRPC APIs and the
run event source."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import grpc
from sluice.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    experiments_pb2_grpc,
    pipelines_pb2_grpc,
    recurring_runs_pb2_grpc,
    runs_pb2_grpc,
)

from services.gateway.config import MiB
from services.gateway.events import RunEventSource


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """gRPC options that let a message of ``max_message_bytes`` through both ways."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


class GatewayBackend:
    """gRPC stubs over two channels, and the event source.

    The scheduler's channel serves Experiment, Pipeline, Run (all but WatchRun) and
    RecurringRun services; the artifact service's channel serves ArtifactService. Both
    may be one channel. `aclose` closes the channels; the event source stays its owner's.
    """

    def __init__(
        self,
        *,
        scheduler_channel: grpc.aio.Channel,
        artifacts_channel: grpc.aio.Channel,
        events: RunEventSource,
    ) -> None:
        self.scheduler_channel = scheduler_channel
        self.artifacts_channel = artifacts_channel
        self.events = events
        self.experiments = experiments_pb2_grpc.ExperimentServiceStub(scheduler_channel)
        self.pipelines = pipelines_pb2_grpc.PipelineServiceStub(scheduler_channel)
        self.runs = runs_pb2_grpc.RunServiceStub(scheduler_channel)
        self.recurring_runs = recurring_runs_pb2_grpc.RecurringRunServiceStub(scheduler_channel)
        self.artifacts = artifacts_pb2_grpc.ArtifactServiceStub(artifacts_channel)
        self._closed = False

    @classmethod
    def connect(
        cls,
        *,
        scheduler_address: str,
        artifacts_address: str,
        events: RunEventSource,
        max_message_bytes: int = 64 * MiB,
    ) -> GatewayBackend:
        """Open insecure channels to ``host:port`` addresses (one if they are equal).

        Channels connect lazily: this never blocks, and a backend that is down shows up
        as UNAVAILABLE on the first call.
        """
        options = channel_options(max_message_bytes)
        scheduler = grpc.aio.insecure_channel(scheduler_address, options=options)
        if artifacts_address == scheduler_address:
            artifacts = scheduler
        else:
            artifacts = grpc.aio.insecure_channel(artifacts_address, options=options)
        return cls(scheduler_channel=scheduler, artifacts_channel=artifacts, events=events)

    async def download(self, request: artifacts_pb2.DownloadRequest) -> AsyncGenerator[bytes, None]:
        """The bytes of an artifact or stored object, chunk by chunk (errors as the artifact
        service's `AioRpcError`). Closing the generator early cancels the call."""
        call = self.artifacts.Download(request)
        try:
            async for chunk in call:
                yield chunk.data
        finally:
            call.cancel()

    async def aclose(self, grace: float | None = None) -> None:
        """Close the channels, letting calls in flight finish within ``grace`` seconds.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.scheduler_channel.close(grace)
        if self.artifacts_channel is not self.scheduler_channel:
            await self.artifacts_channel.close(grace)
