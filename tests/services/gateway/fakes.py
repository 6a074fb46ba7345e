"""Small fake backends for the gateway's tests: they record each request and answer with
canned protos, NOT_FOUND for ids they do not hold. The real servicers are tested elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from sluice.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    common_pb2,
    events_pb2,
    experiments_pb2,
    experiments_pb2_grpc,
    pipelines_pb2,
    pipelines_pb2_grpc,
    recurring_runs_pb2,
    recurring_runs_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)

from services.gateway.backend import channel_options
from services.gateway.events import InMemoryRunEventSource

Ctx = grpc.aio.ServicerContext[Any, Any]
M = TypeVar("M", bound=Message)

CREATED_AT = timestamp_pb2.Timestamp(seconds=1714564800)
"""2024-05-01T12:00:00Z, the creation time of everything the fakes make."""
CREATED_AT_JSON = "2024-05-01T12:00:00Z"


@dataclass(frozen=True)
class Call:
    method: str
    request: Message
    metadata: dict[str, str]
    time_remaining: float | None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def record(self, method: str, request: Message, context: Ctx) -> None:
        metadata = {
            key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)
        }
        remaining: float | None = context.time_remaining()
        self.calls.append(Call(method, request, metadata, remaining))

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def last(self, method: str, kind: type[M]) -> M:
        for call in reversed(self.calls):
            if call.method == method:
                assert isinstance(call.request, kind)
                return call.request
        raise AssertionError(f"{method} was not called; calls: {self.methods()}")


async def _not_found(context: Ctx, kind: str, identifier: str) -> NoReturn:
    await context.abort(grpc.StatusCode.NOT_FOUND, f"{kind} {identifier!r} not found")


def _apply(mask: field_mask_pb2.FieldMask, given: Message, stored: Message) -> None:
    """An update without the scheduler's rules: the mask's fields, or every field given."""
    if mask.paths:
        mask.MergeMessage(given, stored, replace_message_field=True, replace_repeated_field=True)
    else:
        stored.MergeFrom(given)


def _display_name_filter(raw: str) -> str | None:
    """The display name an EQUALS filter asks for (what kfp.Client sends), if any."""
    if not raw:
        return None
    for predicate in json.loads(raw).get("predicates", []):
        if predicate.get("key") == "display_name":
            value = predicate.get("string_value", predicate.get("stringValue"))
            assert isinstance(value, str)
            return value
    return None


class _Ids:
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"


class FakeExperiments(experiments_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.experiments: dict[str, experiments_pb2.Experiment] = {}
        self._ids = _Ids("exp")

    async def CreateExperiment(
        self, request: experiments_pb2.CreateExperimentRequest, context: Ctx
    ) -> experiments_pb2.Experiment:
        self.recorder.record("CreateExperiment", request, context)
        if any(e.display_name == request.experiment.display_name for e in self.experiments.values()):
            await context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f"experiment {request.experiment.display_name!r} already exists",
            )
        experiment = experiments_pb2.Experiment()
        experiment.CopyFrom(request.experiment)
        experiment.experiment_id = self._ids.next()
        experiment.created_at.CopyFrom(CREATED_AT)
        experiment.storage_state = common_pb2.AVAILABLE
        self.experiments[experiment.experiment_id] = experiment
        return experiment

    async def _get(self, experiment_id: str, context: Ctx) -> experiments_pb2.Experiment:
        if experiment_id not in self.experiments:
            await _not_found(context, "experiment", experiment_id)
        return self.experiments[experiment_id]

    async def GetExperiment(
        self, request: experiments_pb2.GetExperimentRequest, context: Ctx
    ) -> experiments_pb2.Experiment:
        self.recorder.record("GetExperiment", request, context)
        return await self._get(request.experiment_id, context)

    async def ListExperiments(
        self, request: experiments_pb2.ListExperimentsRequest, context: Ctx
    ) -> experiments_pb2.ListExperimentsResponse:
        self.recorder.record("ListExperiments", request, context)
        wanted = _display_name_filter(request.filter)
        items = [e for e in self.experiments.values() if wanted is None or e.display_name == wanted]
        return experiments_pb2.ListExperimentsResponse(
            experiments=items, total_size=len(items), next_page_token="next" if request.page_size == 1 else ""
        )

    async def ArchiveExperiment(
        self, request: experiments_pb2.ArchiveExperimentRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("ArchiveExperiment", request, context)
        (await self._get(request.experiment_id, context)).storage_state = common_pb2.ARCHIVED
        return common_pb2.Empty()

    async def UnarchiveExperiment(
        self, request: experiments_pb2.UnarchiveExperimentRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("UnarchiveExperiment", request, context)
        (await self._get(request.experiment_id, context)).storage_state = common_pb2.AVAILABLE
        return common_pb2.Empty()

    async def DeleteExperiment(
        self, request: experiments_pb2.DeleteExperimentRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("DeleteExperiment", request, context)
        await self._get(request.experiment_id, context)
        del self.experiments[request.experiment_id]
        return common_pb2.Empty()


class FakePipelines(pipelines_pb2_grpc.PipelineServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pipelines: dict[str, pipelines_pb2.Pipeline] = {}
        self.versions: dict[str, pipelines_pb2.PipelineVersion] = {}
        self._pipeline_ids = _Ids("pipeline")
        self._version_ids = _Ids("version")

    def _add_pipeline(self, pipeline: pipelines_pb2.Pipeline) -> pipelines_pb2.Pipeline:
        stored = pipelines_pb2.Pipeline()
        stored.CopyFrom(pipeline)
        stored.pipeline_id = self._pipeline_ids.next()
        stored.created_at.CopyFrom(CREATED_AT)
        self.pipelines[stored.pipeline_id] = stored
        return stored

    def _add_version(
        self, pipeline_id: str, version: pipelines_pb2.PipelineVersion
    ) -> pipelines_pb2.PipelineVersion:
        stored = pipelines_pb2.PipelineVersion()
        stored.CopyFrom(version)
        stored.pipeline_id = pipeline_id
        stored.pipeline_version_id = self._version_ids.next()
        stored.created_at.CopyFrom(CREATED_AT)
        self.versions[stored.pipeline_version_id] = stored
        return stored

    async def _pipeline(self, pipeline_id: str, context: Ctx) -> pipelines_pb2.Pipeline:
        if pipeline_id not in self.pipelines:
            await _not_found(context, "pipeline", pipeline_id)
        return self.pipelines[pipeline_id]

    async def _version(
        self, pipeline_id: str, version_id: str, context: Ctx
    ) -> pipelines_pb2.PipelineVersion:
        version = self.versions.get(version_id)
        if version is None or version.pipeline_id != pipeline_id:
            await _not_found(context, "pipeline version", version_id)
        return version

    async def CreatePipeline(
        self, request: pipelines_pb2.CreatePipelineRequest, context: Ctx
    ) -> pipelines_pb2.Pipeline:
        self.recorder.record("CreatePipeline", request, context)
        return self._add_pipeline(request.pipeline)

    async def CreatePipelineAndVersion(
        self, request: pipelines_pb2.CreatePipelineAndVersionRequest, context: Ctx
    ) -> pipelines_pb2.Pipeline:
        self.recorder.record("CreatePipelineAndVersion", request, context)
        pipeline = self._add_pipeline(request.pipeline)
        self._add_version(pipeline.pipeline_id, request.pipeline_version)
        return pipeline

    async def UploadPipeline(
        self, request: pipelines_pb2.UploadPipelineRequest, context: Ctx
    ) -> pipelines_pb2.PipelineVersion:
        self.recorder.record("UploadPipeline", request, context)
        if request.pipeline_id:
            pipeline = await self._pipeline(request.pipeline_id, context)
        elif any(p.name == request.name for p in self.pipelines.values()):
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"pipeline {request.name!r} already exists")
        else:
            pipeline = self._add_pipeline(
                pipelines_pb2.Pipeline(name=request.name, display_name=request.display_name or request.name)
            )
        version = pipelines_pb2.PipelineVersion(
            name=request.name or request.filename, display_name=request.display_name
        )
        version.pipeline_spec.update({"pipelineInfo": {"name": request.name}, "schemaVersion": "2.1.0"})
        return self._add_version(pipeline.pipeline_id, version)

    async def GetPipeline(
        self, request: pipelines_pb2.GetPipelineRequest, context: Ctx
    ) -> pipelines_pb2.Pipeline:
        self.recorder.record("GetPipeline", request, context)
        return await self._pipeline(request.pipeline_id, context)

    async def GetPipelineByName(
        self, request: pipelines_pb2.GetPipelineByNameRequest, context: Ctx
    ) -> pipelines_pb2.Pipeline:
        self.recorder.record("GetPipelineByName", request, context)
        for pipeline in self.pipelines.values():
            if pipeline.name == request.name:
                return pipeline
        await _not_found(context, "pipeline", request.name)

    async def ListPipelines(
        self, request: pipelines_pb2.ListPipelinesRequest, context: Ctx
    ) -> pipelines_pb2.ListPipelinesResponse:
        self.recorder.record("ListPipelines", request, context)
        items = list(self.pipelines.values())
        return pipelines_pb2.ListPipelinesResponse(pipelines=items, total_size=len(items))

    async def UpdatePipeline(
        self, request: pipelines_pb2.UpdatePipelineRequest, context: Ctx
    ) -> pipelines_pb2.Pipeline:
        self.recorder.record("UpdatePipeline", request, context)
        stored = await self._pipeline(request.pipeline.pipeline_id, context)
        _apply(request.update_mask, request.pipeline, stored)
        return stored

    async def DeletePipeline(
        self, request: pipelines_pb2.DeletePipelineRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("DeletePipeline", request, context)
        await self._pipeline(request.pipeline_id, context)
        del self.pipelines[request.pipeline_id]
        return common_pb2.Empty()

    async def CreatePipelineVersion(
        self, request: pipelines_pb2.CreatePipelineVersionRequest, context: Ctx
    ) -> pipelines_pb2.PipelineVersion:
        self.recorder.record("CreatePipelineVersion", request, context)
        await self._pipeline(request.pipeline_id, context)
        return self._add_version(request.pipeline_id, request.pipeline_version)

    async def GetPipelineVersion(
        self, request: pipelines_pb2.GetPipelineVersionRequest, context: Ctx
    ) -> pipelines_pb2.PipelineVersion:
        self.recorder.record("GetPipelineVersion", request, context)
        return await self._version(request.pipeline_id, request.pipeline_version_id, context)

    async def ListPipelineVersions(
        self, request: pipelines_pb2.ListPipelineVersionsRequest, context: Ctx
    ) -> pipelines_pb2.ListPipelineVersionsResponse:
        self.recorder.record("ListPipelineVersions", request, context)
        await self._pipeline(request.pipeline_id, context)
        items = [v for v in self.versions.values() if v.pipeline_id == request.pipeline_id]
        return pipelines_pb2.ListPipelineVersionsResponse(pipeline_versions=items, total_size=len(items))

    async def UpdatePipelineVersion(
        self, request: pipelines_pb2.UpdatePipelineVersionRequest, context: Ctx
    ) -> pipelines_pb2.PipelineVersion:
        self.recorder.record("UpdatePipelineVersion", request, context)
        given = request.pipeline_version
        stored = await self._version(given.pipeline_id, given.pipeline_version_id, context)
        _apply(request.update_mask, given, stored)
        return stored

    async def DeletePipelineVersion(
        self, request: pipelines_pb2.DeletePipelineVersionRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("DeletePipelineVersion", request, context)
        await self._version(request.pipeline_id, request.pipeline_version_id, context)
        del self.versions[request.pipeline_version_id]
        return common_pb2.Empty()


class FakeRuns(runs_pb2_grpc.RunServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.runs: dict[str, runs_pb2.Run] = {}
        self.get_delay = 0.0
        """Seconds GetRun takes, to keep a request in flight."""
        self.get_started = asyncio.Event()
        self._ids = _Ids("run")

    def add(self, run: runs_pb2.Run) -> runs_pb2.Run:
        """Hold ``run`` as it is (tests set up task details this way)."""
        self.runs[run.run_id] = run
        return run

    async def _get(self, run_id: str, context: Ctx) -> runs_pb2.Run:
        if run_id not in self.runs:
            # Trailing metadata too, to see it pass through the front door.
            context.set_trailing_metadata((("x-missing", run_id),))
            await _not_found(context, "run", run_id)
        return self.runs[run_id]

    async def CreateRun(self, request: runs_pb2.CreateRunRequest, context: Ctx) -> runs_pb2.Run:
        self.recorder.record("CreateRun", request, context)
        run = runs_pb2.Run()
        run.CopyFrom(request.run)
        run.run_id = self._ids.next()
        run.experiment_id = run.experiment_id or request.experiment_id
        run.created_at.CopyFrom(CREATED_AT)
        run.state = common_pb2.PENDING
        run.storage_state = common_pb2.AVAILABLE
        return self.add(run)

    async def GetRun(self, request: runs_pb2.GetRunRequest, context: Ctx) -> runs_pb2.Run:
        self.recorder.record("GetRun", request, context)
        self.get_started.set()
        await asyncio.sleep(self.get_delay)
        return await self._get(request.run_id, context)

    async def ListRuns(self, request: runs_pb2.ListRunsRequest, context: Ctx) -> runs_pb2.ListRunsResponse:
        self.recorder.record("ListRuns", request, context)
        items = [
            r
            for r in self.runs.values()
            if not request.experiment_id or r.experiment_id == request.experiment_id
        ]
        return runs_pb2.ListRunsResponse(runs=items, total_size=len(items))

    async def _act(self, method: str, request: runs_pb2.RunIdRequest, context: Ctx) -> runs_pb2.Run:
        self.recorder.record(method, request, context)
        return await self._get(request.run_id, context)

    async def ArchiveRun(self, request: runs_pb2.RunIdRequest, context: Ctx) -> common_pb2.Empty:
        (await self._act("ArchiveRun", request, context)).storage_state = common_pb2.ARCHIVED
        return common_pb2.Empty()

    async def UnarchiveRun(self, request: runs_pb2.RunIdRequest, context: Ctx) -> common_pb2.Empty:
        (await self._act("UnarchiveRun", request, context)).storage_state = common_pb2.AVAILABLE
        return common_pb2.Empty()

    async def DeleteRun(self, request: runs_pb2.RunIdRequest, context: Ctx) -> common_pb2.Empty:
        await self._act("DeleteRun", request, context)
        del self.runs[request.run_id]
        return common_pb2.Empty()

    async def TerminateRun(self, request: runs_pb2.RunIdRequest, context: Ctx) -> common_pb2.Empty:
        (await self._act("TerminateRun", request, context)).state = common_pb2.CANCELING
        return common_pb2.Empty()

    async def RetryRun(self, request: runs_pb2.RunIdRequest, context: Ctx) -> common_pb2.Empty:
        run = await self._act("RetryRun", request, context)
        if run.state != common_pb2.FAILED:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"run {run.run_id!r} has not failed")
        run.state = common_pb2.RUNNING
        return common_pb2.Empty()

    async def WatchRun(
        self, request: runs_pb2.WatchRunRequest, context: Ctx
    ) -> AsyncIterator[events_pb2.RunEvent]:
        # The scheduler does not serve WatchRun; the gateway must never forward it.
        self.recorder.record("WatchRun", request, context)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "WatchRun is served by the gateway")
        yield events_pb2.RunEvent()

    async def ReadTaskLog(
        self, request: runs_pb2.ReadTaskLogRequest, context: Ctx
    ) -> AsyncIterator[runs_pb2.LogChunk]:
        # Served by the gateway from the artifact store; never forwarded.
        self.recorder.record("ReadTaskLog", request, context)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "ReadTaskLog is served by the gateway")
        yield runs_pb2.LogChunk()


class FakeRecurringRuns(recurring_runs_pb2_grpc.RecurringRunServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.recurring_runs: dict[str, recurring_runs_pb2.RecurringRun] = {}
        self._ids = _Ids("recurring")

    async def _get(self, recurring_run_id: str, context: Ctx) -> recurring_runs_pb2.RecurringRun:
        if recurring_run_id not in self.recurring_runs:
            await _not_found(context, "recurring run", recurring_run_id)
        return self.recurring_runs[recurring_run_id]

    async def CreateRecurringRun(
        self, request: recurring_runs_pb2.CreateRecurringRunRequest, context: Ctx
    ) -> recurring_runs_pb2.RecurringRun:
        self.recorder.record("CreateRecurringRun", request, context)
        recurring_run = recurring_runs_pb2.RecurringRun()
        recurring_run.CopyFrom(request.recurring_run)
        recurring_run.recurring_run_id = self._ids.next()
        recurring_run.created_at.CopyFrom(CREATED_AT)
        recurring_run.updated_at.CopyFrom(CREATED_AT)
        disabled = request.recurring_run.mode == recurring_runs_pb2.RecurringRun.DISABLE
        recurring_run.status = (
            recurring_runs_pb2.RecurringRun.DISABLED if disabled else recurring_runs_pb2.RecurringRun.ENABLED
        )
        self.recurring_runs[recurring_run.recurring_run_id] = recurring_run
        return recurring_run

    async def GetRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Ctx
    ) -> recurring_runs_pb2.RecurringRun:
        self.recorder.record("GetRecurringRun", request, context)
        return await self._get(request.recurring_run_id, context)

    async def ListRecurringRuns(
        self, request: recurring_runs_pb2.ListRecurringRunsRequest, context: Ctx
    ) -> recurring_runs_pb2.ListRecurringRunsResponse:
        self.recorder.record("ListRecurringRuns", request, context)
        items = list(self.recurring_runs.values())
        return recurring_runs_pb2.ListRecurringRunsResponse(recurringRuns=items, total_size=len(items))

    async def EnableRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("EnableRecurringRun", request, context)
        (await self._get(request.recurring_run_id, context)).status = recurring_runs_pb2.RecurringRun.ENABLED
        return common_pb2.Empty()

    async def DisableRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("DisableRecurringRun", request, context)
        (await self._get(request.recurring_run_id, context)).status = recurring_runs_pb2.RecurringRun.DISABLED
        return common_pb2.Empty()

    async def DeleteRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Ctx
    ) -> common_pb2.Empty:
        self.recorder.record("DeleteRecurringRun", request, context)
        await self._get(request.recurring_run_id, context)
        del self.recurring_runs[request.recurring_run_id]
        return common_pb2.Empty()


class FakeArtifacts(artifacts_pb2_grpc.ArtifactServiceServicer):
    """Objects by URI; artifact records point at them."""

    CHUNK = 4096

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.objects: dict[str, bytes] = {}
        self.artifacts: dict[str, artifacts_pb2.Artifact] = {}
        self.download_cancelled = asyncio.Event()
        self.endless_uri = "mem://endless"
        """Downloading this URI (or an artifact there) streams until the caller cancels."""

    def put(self, uri: str, data: bytes, *, artifact_id: str | None = None, name: str = "") -> None:
        self.objects[uri] = data
        if artifact_id is not None:
            self.artifacts[artifact_id] = artifacts_pb2.Artifact(
                artifact_id=artifact_id, name=name, uri=uri, size_bytes=len(data)
            )

    async def RegisterArtifacts(
        self, request: artifacts_pb2.RegisterArtifactsRequest, context: Ctx
    ) -> artifacts_pb2.RegisterArtifactsResponse:
        self.recorder.record("RegisterArtifacts", request, context)
        for artifact in request.artifacts:
            self.artifacts[artifact.artifact_id] = artifact
        return artifacts_pb2.RegisterArtifactsResponse(artifacts=request.artifacts)

    async def GetArtifact(
        self, request: artifacts_pb2.GetArtifactRequest, context: Ctx
    ) -> artifacts_pb2.Artifact:
        self.recorder.record("GetArtifact", request, context)
        if request.artifact_id not in self.artifacts:
            await _not_found(context, "artifact", request.artifact_id)
        return self.artifacts[request.artifact_id]

    async def ListArtifacts(
        self, request: artifacts_pb2.ListArtifactsRequest, context: Ctx
    ) -> artifacts_pb2.ListArtifactsResponse:
        self.recorder.record("ListArtifacts", request, context)
        items = [
            a
            for a in self.artifacts.values()
            if request.run_id in ("", a.run_id) and request.task_id in ("", a.task_id)
        ]
        return artifacts_pb2.ListArtifactsResponse(artifacts=items)

    async def Upload(
        self, request_iterator: AsyncIterator[artifacts_pb2.UploadChunk], context: Ctx
    ) -> artifacts_pb2.UploadResult:
        uri, data = "", bytearray()
        async for chunk in request_iterator:
            uri = uri or chunk.uri
            data += chunk.data
        self.recorder.record("Upload", artifacts_pb2.UploadChunk(uri=uri), context)
        if not uri:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first chunk must name the object")
        self.objects[uri] = bytes(data)
        return artifacts_pb2.UploadResult(uri=uri, size_bytes=len(data))

    async def Download(
        self, request: artifacts_pb2.DownloadRequest, context: Ctx
    ) -> AsyncIterator[artifacts_pb2.DownloadChunk]:
        self.recorder.record("Download", request, context)
        uri = request.uri
        if request.artifact_id:
            if request.artifact_id not in self.artifacts:
                await _not_found(context, "artifact", request.artifact_id)
            uri = self.artifacts[request.artifact_id].uri
        if uri == self.endless_uri:
            try:
                while True:
                    yield artifacts_pb2.DownloadChunk(data=b"x" * self.CHUNK)
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.download_cancelled.set()
                raise
        if uri not in self.objects:
            await _not_found(context, "object", uri)
        data = self.objects[uri][request.offset :]
        for start in range(0, len(data), self.CHUNK):
            yield artifacts_pb2.DownloadChunk(data=data[start : start + self.CHUNK])

    async def StatObject(
        self, request: artifacts_pb2.StatObjectRequest, context: Ctx
    ) -> artifacts_pb2.ObjectStat:
        self.recorder.record("StatObject", request, context)
        data = self.objects.get(request.uri)
        return artifacts_pb2.ObjectStat(
            uri=request.uri, exists=data is not None, size_bytes=len(data) if data is not None else 0
        )


@dataclass
class FakeBackends:
    """The scheduler's four services on one server, ArtifactService on another."""

    scheduler_address: str
    artifacts_address: str
    recorder: Recorder
    experiments: FakeExperiments
    pipelines: FakePipelines
    runs: FakeRuns
    recurring_runs: FakeRecurringRuns
    artifacts: FakeArtifacts
    servers: tuple[grpc.aio.Server, grpc.aio.Server]

    @classmethod
    async def start(cls) -> FakeBackends:
        recorder = Recorder()
        experiments = FakeExperiments(recorder)
        pipelines = FakePipelines(recorder)
        runs = FakeRuns(recorder)
        recurring_runs = FakeRecurringRuns(recorder)
        artifacts = FakeArtifacts(recorder)
        options = channel_options(64 * 1024 * 1024)
        scheduler = grpc.aio.server(options=options)
        experiments_pb2_grpc.add_ExperimentServiceServicer_to_server(experiments, scheduler)
        pipelines_pb2_grpc.add_PipelineServiceServicer_to_server(pipelines, scheduler)
        runs_pb2_grpc.add_RunServiceServicer_to_server(runs, scheduler)
        recurring_runs_pb2_grpc.add_RecurringRunServiceServicer_to_server(recurring_runs, scheduler)
        artifact_server = grpc.aio.server(options=options)
        artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server(artifacts, artifact_server)
        scheduler_port = scheduler.add_insecure_port("127.0.0.1:0")
        artifacts_port = artifact_server.add_insecure_port("127.0.0.1:0")
        await scheduler.start()
        await artifact_server.start()
        return cls(
            scheduler_address=f"127.0.0.1:{scheduler_port}",
            artifacts_address=f"127.0.0.1:{artifacts_port}",
            recorder=recorder,
            experiments=experiments,
            pipelines=pipelines,
            runs=runs,
            recurring_runs=recurring_runs,
            artifacts=artifacts,
            servers=(scheduler, artifact_server),
        )

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop(None)


def run_event(
    run_id: str,
    kind: events_pb2.RunEvent.Kind.ValueType,
    state: common_pb2.RuntimeState.ValueType,
    *,
    task_id: str = "",
) -> events_pb2.RunEvent:
    event = events_pb2.RunEvent(
        event_id=f"{run_id}/{task_id}/{state}", kind=kind, run_id=run_id, task_id=task_id, state=state
    )
    event.time.CopyFrom(CREATED_AT)
    return event


def sample_run_events(run_id: str) -> Iterator[events_pb2.RunEvent]:
    """A run's life up to, not including, its final event."""
    yield run_event(run_id, events_pb2.RunEvent.RUN_CREATED, common_pb2.PENDING)
    yield run_event(run_id, events_pb2.RunEvent.RUN_STATE_CHANGED, common_pb2.RUNNING)
    yield run_event(run_id, events_pb2.RunEvent.TASK_STATE_CHANGED, common_pb2.RUNNING, task_id="t1")
    # A task finishing must not end a watch: only the run's final state does.
    yield run_event(run_id, events_pb2.RunEvent.TASK_STATE_CHANGED, common_pb2.SUCCEEDED, task_id="t1")


def final_event(run_id: str) -> events_pb2.RunEvent:
    return run_event(run_id, events_pb2.RunEvent.RUN_STATE_CHANGED, common_pb2.SUCCEEDED)


class ClosingSpy:
    """A `RunEventSource` around another that tells when a watch was closed."""

    def __init__(self, inner: InMemoryRunEventSource) -> None:
        self.inner = inner
        self.closed = asyncio.Event()

    async def watch(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[events_pb2.RunEvent]:
        try:
            async for event in self.inner.watch(run_id, after_sequence=after_sequence):
                yield event
        finally:
            self.closed.set()
