"""`sluice.Client` and what it returns and raises.

Importing this package does not import the DSL, the compiler, gRPC or kfp: the gRPC
transport is loaded when a client uses it, the compilers when a function is run.
"""

from sluice.client import errors
from sluice.client._packages import PipelineSource
from sluice.client._runs import RunSource
from sluice.client.client import DEFAULT_GRPC_ADDRESS, DEFAULT_HTTP_URL, Client, TransportKind
from sluice.client.filters import FilterValue
from sluice.client.models import (
    TERMINAL_STATES,
    Artifact,
    ErrorInfo,
    EventKind,
    Experiment,
    Page,
    Pipeline,
    PipelineVersion,
    PipelineVersionReference,
    RecurringRun,
    Run,
    RunEvent,
    RunState,
    StorageState,
    Task,
    TaskAttempt,
)

__all__ = [
    "DEFAULT_GRPC_ADDRESS",
    "DEFAULT_HTTP_URL",
    "TERMINAL_STATES",
    "Artifact",
    "Client",
    "ErrorInfo",
    "EventKind",
    "Experiment",
    "FilterValue",
    "Page",
    "Pipeline",
    "PipelineSource",
    "PipelineVersion",
    "PipelineVersionReference",
    "RecurringRun",
    "Run",
    "RunEvent",
    "RunSource",
    "RunState",
    "StorageState",
    "Task",
    "TaskAttempt",
    "TransportKind",
    "errors",
]
