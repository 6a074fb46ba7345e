"""The scheduler's public gRPC API: experiments, pipelines and versions, runs, recurring runs.

Thin servicers: validate, call the store or the `RunController`, translate.
"""

from services.scheduler.api.controller import RunController
from services.scheduler.api.experiments import ExperimentServicer
from services.scheduler.api.pipeline_packages import MAX_PACKAGE_BYTES, read_pipeline_package
from services.scheduler.api.pipelines import PipelineServicer
from services.scheduler.api.recurring_runs import RecurringRunServicer
from services.scheduler.api.runs import RunServicer
from services.scheduler.api.server import SERVER_OPTIONS, add_scheduler_servicers

__all__ = [
    "MAX_PACKAGE_BYTES",
    "SERVER_OPTIONS",
    "ExperimentServicer",
    "PipelineServicer",
    "RecurringRunServicer",
    "RunController",
    "RunServicer",
    "add_scheduler_servicers",
    "read_pipeline_package",
]
