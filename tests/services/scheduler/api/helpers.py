"""Creating the resources tests need, through the API."""

from __future__ import annotations

from sluice.v1 import experiments_pb2, pipelines_pb2, runs_pb2

from services.core.pipeline.model import JsonValue
from services.scheduler.api import convert
from tests.services.scheduler.api.harness import Api
from tests.services.scheduler.api.kfp_pipelines import pipeline_dict, pipeline_yaml


async def create_experiment(api: Api, name: str = "exp") -> experiments_pb2.Experiment:
    return await api.experiments.CreateExperiment(
        experiments_pb2.CreateExperimentRequest(experiment=experiments_pb2.Experiment(display_name=name))
    )


async def upload(
    api: Api, pipeline: str = "adder", *, pipeline_id: str = "", name: str = ""
) -> pipelines_pb2.PipelineVersion:
    return await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(
            package=pipeline_yaml(pipeline).encode(),
            filename=f"{pipeline}.yaml",
            pipeline_id=pipeline_id,
            name=name,
        )
    )


def inline_run(
    parameters: dict[str, JsonValue] | None = None,
    *,
    pipeline: str = "adder",
    experiment_id: str = "",
    display_name: str = "run",
) -> runs_pb2.Run:
    return runs_pb2.Run(
        display_name=display_name,
        experiment_id=experiment_id,
        pipeline_spec=convert.to_struct(pipeline_dict(pipeline)),
        runtime_config=runs_pb2.RuntimeConfig(parameters=convert.to_value_map(parameters or {})),
    )


async def create_run(api: Api, run: runs_pb2.Run) -> runs_pb2.Run:
    return await api.runs.CreateRun(runs_pb2.CreateRunRequest(run=run))
