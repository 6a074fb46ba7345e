"""Registration of the scheduler's public services on a `grpc.aio` server."""

from __future__ import annotations

import grpc
from sluice.v1 import (
    experiments_pb2_grpc,
    pipelines_pb2_grpc,
    recurring_runs_pb2_grpc,
    runs_pb2_grpc,
)

from services.core.store.base import Store
from services.scheduler.api.controller import RunController
from services.scheduler.api.experiments import ExperimentServicer
from services.scheduler.api.pipeline_packages import MAX_PACKAGE_BYTES
from services.scheduler.api.pipelines import PipelineServicer
from services.scheduler.api.recurring_runs import RecurringRunServicer
from services.scheduler.api.runs import RunServicer

# gRPC refuses messages over 4 MiB by default; an upload may carry a 32 MiB package plus
# its other fields. Pass these options to `grpc.aio.server(options=...)`.
MAX_MESSAGE_BYTES = MAX_PACKAGE_BYTES + 1024 * 1024
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)


def add_scheduler_servicers(server: grpc.aio.Server, *, store: Store, controller: RunController) -> None:
    """Register the experiment, pipeline, run and recurring-run services."""
    experiments_pb2_grpc.add_ExperimentServiceServicer_to_server(ExperimentServicer(store=store), server)
    pipelines_pb2_grpc.add_PipelineServiceServicer_to_server(PipelineServicer(store=store), server)
    runs_pb2_grpc.add_RunServiceServicer_to_server(RunServicer(store=store, controller=controller), server)
    recurring_runs_pb2_grpc.add_RecurringRunServiceServicer_to_server(
        RecurringRunServicer(store=store), server
    )
