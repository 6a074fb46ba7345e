"""The real `kfp.Client` speaks to the gateway (it is synchronous: run it in a thread)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import kfp
import pytest
from google.protobuf import json_format
from kfp import compiler
from sluice.v1 import pipelines_pb2, runs_pb2

from services.gateway import Gateway
from tests.services.gateway.fakes import FakeBackends
from tests.services.gateway.http.kfp_pipeline import adder

# kfp.Client warns on construction that it needs KFP >= 2.0.0-beta.2.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


async def test_kfp_client_constructs_lists_and_creates_experiments(
    gateway: Gateway, fakes: FakeBackends
) -> None:
    client = await asyncio.to_thread(kfp.Client, host=gateway.http_url)
    assert fakes.recorder.methods() == []  # healthz is the gateway's own

    created = await asyncio.to_thread(client.create_experiment, "x", description="made by kfp")
    listed = await asyncio.to_thread(client.list_experiments)
    again = await asyncio.to_thread(client.create_experiment, "x")

    assert created.experiment_id == "exp-1"
    assert created.display_name == "x"
    assert created.storage_state == "AVAILABLE"
    assert [e.display_name for e in listed.experiments] == ["x"]
    assert listed.total_size == 1
    # create_experiment looks the name up first (a filtered list), then creates it once.
    assert again.experiment_id == "exp-1"
    assert fakes.recorder.methods() == [
        "ListExperiments",
        "CreateExperiment",
        "ListExperiments",
        "ListExperiments",
    ]
    assert fakes.experiments.experiments["exp-1"].description == "made by kfp"


async def test_kfp_client_health(gateway: Gateway) -> None:
    client = await asyncio.to_thread(kfp.Client, host=gateway.http_url)

    health = await asyncio.to_thread(client.get_kfp_healthz)

    assert (health.multi_user, health.pipeline_store) == (False, "database")


async def test_kfp_client_uploads_a_compiled_pipeline(
    gateway: Gateway, fakes: FakeBackends, tmp_path: Path
) -> None:
    package = tmp_path / "adder.yaml"
    compiler.Compiler().compile(adder, str(package))
    client = await asyncio.to_thread(kfp.Client, host=gateway.http_url)

    pipeline = await asyncio.to_thread(client.upload_pipeline, str(package), pipeline_name="adder")

    assert (pipeline.pipeline_id, pipeline.display_name) == ("pipeline-1", "adder")
    sent = fakes.recorder.last("UploadPipeline", pipelines_pb2.UploadPipelineRequest)
    assert (sent.name, sent.filename) == ("adder", "adder.yaml")
    assert sent.package == package.read_bytes()


async def test_kfp_client_submits_a_pipeline_run(gateway: Gateway, fakes: FakeBackends) -> None:
    client = await asyncio.to_thread(kfp.Client, host=gateway.http_url)

    result = await asyncio.to_thread(
        client.create_run_from_pipeline_func, adder, arguments={"x": 5}, experiment_name="exp", run_name="r"
    )
    run = await asyncio.to_thread(client.get_run, result.run_id)

    assert (result.run_id, run.display_name, run.state) == ("run-1", "r", "PENDING")
    sent = fakes.recorder.last("CreateRun", runs_pb2.CreateRunRequest)
    assert sent.run.experiment_id == "exp-1"
    assert sent.run.runtime_config.parameters["x"].number_value == 5
    assert json_format.MessageToDict(sent.run.pipeline_spec)["pipelineInfo"]["name"] == "adder"
