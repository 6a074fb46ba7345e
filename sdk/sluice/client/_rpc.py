"""Every unary call of the public API, once, with how each transport makes it.

Requests and responses are protobuf JSON (snake_case names), so the gRPC transport parses
them into the messages named here and the HTTP transport sends them as KFP's REST API
expects: path fields in the path, then the body field (or the whole request) as the JSON
body, and the rest as query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    """Under /apis/v2beta1; `{field}`s are taken from the request, `{message.field}`s read
    from a message in it (which stays in the body)."""
    body: str | None = None
    """The request field sent as the JSON body; "*" for the whole request; None for none."""


@dataclass(frozen=True)
class Rpc:
    service: str
    method: str
    request: str
    """`module.Message` under `sluice.v1`, e.g. "runs_pb2.GetRunRequest"."""
    response: str
    http: HttpRoute | None
    """None: the HTTP API has no route for this call."""

    @property
    def path(self) -> str:
        return f"/sluice.v1.{self.service}/{self.method}"


_EMPTY = "common_pb2.Empty"


def _experiments(method: str, request: str, response: str, http: HttpRoute) -> Rpc:
    return Rpc("ExperimentService", method, f"experiments_pb2.{request}", response, http)


def _pipelines(method: str, request: str, response: str, http: HttpRoute | None) -> Rpc:
    return Rpc("PipelineService", method, f"pipelines_pb2.{request}", response, http)


def _runs(method: str, request: str, response: str, http: HttpRoute) -> Rpc:
    return Rpc("RunService", method, f"runs_pb2.{request}", response, http)


def _recurring(method: str, request: str, response: str, http: HttpRoute) -> Rpc:
    return Rpc("RecurringRunService", method, f"recurring_runs_pb2.{request}", response, http)


_EXPERIMENT = "/experiments/{experiment_id}"
CREATE_EXPERIMENT = _experiments(
    "CreateExperiment",
    "CreateExperimentRequest",
    "experiments_pb2.Experiment",
    HttpRoute("POST", "/experiments", body="experiment"),
)
GET_EXPERIMENT = _experiments(
    "GetExperiment", "GetExperimentRequest", "experiments_pb2.Experiment", HttpRoute("GET", _EXPERIMENT)
)
LIST_EXPERIMENTS = _experiments(
    "ListExperiments",
    "ListExperimentsRequest",
    "experiments_pb2.ListExperimentsResponse",
    HttpRoute("GET", "/experiments"),
)
ARCHIVE_EXPERIMENT = _experiments(
    "ArchiveExperiment", "ArchiveExperimentRequest", _EMPTY, HttpRoute("POST", _EXPERIMENT + ":archive")
)
UNARCHIVE_EXPERIMENT = _experiments(
    "UnarchiveExperiment", "UnarchiveExperimentRequest", _EMPTY, HttpRoute("POST", _EXPERIMENT + ":unarchive")
)
DELETE_EXPERIMENT = _experiments(
    "DeleteExperiment", "DeleteExperimentRequest", _EMPTY, HttpRoute("DELETE", _EXPERIMENT)
)

_PIPELINE = "/pipelines/{pipeline_id}"
_VERSION = _PIPELINE + "/versions/{pipeline_version_id}"
GET_PIPELINE = _pipelines(
    "GetPipeline", "GetPipelineRequest", "pipelines_pb2.Pipeline", HttpRoute("GET", _PIPELINE)
)
GET_PIPELINE_BY_NAME = _pipelines(
    "GetPipelineByName",
    "GetPipelineByNameRequest",
    "pipelines_pb2.Pipeline",
    HttpRoute("GET", "/pipelines/names/{name}"),
)
LIST_PIPELINES = _pipelines(
    "ListPipelines",
    "ListPipelinesRequest",
    "pipelines_pb2.ListPipelinesResponse",
    HttpRoute("GET", "/pipelines"),
)
UPDATE_PIPELINE = _pipelines(
    "UpdatePipeline",
    "UpdatePipelineRequest",
    "pipelines_pb2.Pipeline",
    HttpRoute("PATCH", "/pipelines/{pipeline.pipeline_id}", body="pipeline"),
)
DELETE_PIPELINE = _pipelines(
    "DeletePipeline", "DeletePipelineRequest", _EMPTY, HttpRoute("DELETE", _PIPELINE)
)
GET_PIPELINE_VERSION = _pipelines(
    "GetPipelineVersion",
    "GetPipelineVersionRequest",
    "pipelines_pb2.PipelineVersion",
    HttpRoute("GET", _VERSION),
)
LIST_PIPELINE_VERSIONS = _pipelines(
    "ListPipelineVersions",
    "ListPipelineVersionsRequest",
    "pipelines_pb2.ListPipelineVersionsResponse",
    HttpRoute("GET", _PIPELINE + "/versions"),
)
UPDATE_PIPELINE_VERSION = _pipelines(
    "UpdatePipelineVersion",
    "UpdatePipelineVersionRequest",
    "pipelines_pb2.PipelineVersion",
    HttpRoute(
        "PATCH",
        "/pipelines/{pipeline_version.pipeline_id}/versions/{pipeline_version.pipeline_version_id}",
        body="pipeline_version",
    ),
)
DELETE_PIPELINE_VERSION = _pipelines(
    "DeletePipelineVersion", "DeletePipelineVersionRequest", _EMPTY, HttpRoute("DELETE", _VERSION)
)
# Uploads are multipart over HTTP: see `Transport.upload_pipeline`.
UPLOAD_PIPELINE = _pipelines("UploadPipeline", "UploadPipelineRequest", "pipelines_pb2.PipelineVersion", None)

_RUN = "/runs/{run_id}"
CREATE_RUN = _runs("CreateRun", "CreateRunRequest", "runs_pb2.Run", HttpRoute("POST", "/runs", body="run"))
GET_RUN = _runs("GetRun", "GetRunRequest", "runs_pb2.Run", HttpRoute("GET", _RUN))
LIST_RUNS = _runs("ListRuns", "ListRunsRequest", "runs_pb2.ListRunsResponse", HttpRoute("GET", "/runs"))
ARCHIVE_RUN = _runs("ArchiveRun", "RunIdRequest", _EMPTY, HttpRoute("POST", _RUN + ":archive"))
UNARCHIVE_RUN = _runs("UnarchiveRun", "RunIdRequest", _EMPTY, HttpRoute("POST", _RUN + ":unarchive"))
DELETE_RUN = _runs("DeleteRun", "RunIdRequest", _EMPTY, HttpRoute("DELETE", _RUN))
TERMINATE_RUN = _runs("TerminateRun", "RunIdRequest", _EMPTY, HttpRoute("POST", _RUN + ":terminate"))
RETRY_RUN = _runs("RetryRun", "RunIdRequest", _EMPTY, HttpRoute("POST", _RUN + ":retry"))

_RECURRING_RUN = "/recurringruns/{recurring_run_id}"
CREATE_RECURRING_RUN = _recurring(
    "CreateRecurringRun",
    "CreateRecurringRunRequest",
    "recurring_runs_pb2.RecurringRun",
    HttpRoute("POST", "/recurringruns", body="recurring_run"),
)
GET_RECURRING_RUN = _recurring(
    "GetRecurringRun",
    "RecurringRunIdRequest",
    "recurring_runs_pb2.RecurringRun",
    HttpRoute("GET", _RECURRING_RUN),
)
LIST_RECURRING_RUNS = _recurring(
    "ListRecurringRuns",
    "ListRecurringRunsRequest",
    "recurring_runs_pb2.ListRecurringRunsResponse",
    HttpRoute("GET", "/recurringruns"),
)
ENABLE_RECURRING_RUN = _recurring(
    "EnableRecurringRun", "RecurringRunIdRequest", _EMPTY, HttpRoute("POST", _RECURRING_RUN + ":enable")
)
DISABLE_RECURRING_RUN = _recurring(
    "DisableRecurringRun", "RecurringRunIdRequest", _EMPTY, HttpRoute("POST", _RECURRING_RUN + ":disable")
)
DELETE_RECURRING_RUN = _recurring(
    "DeleteRecurringRun", "RecurringRunIdRequest", _EMPTY, HttpRoute("DELETE", _RECURRING_RUN)
)

# Sluice's extension of the REST API (KFP v2beta1 has no artifact routes).
GET_ARTIFACT = Rpc(
    "ArtifactService",
    "GetArtifact",
    "artifacts_pb2.GetArtifactRequest",
    "artifacts_pb2.Artifact",
    HttpRoute("GET", "/artifacts/{artifact_id}"),
)
LIST_ARTIFACTS = Rpc(
    "ArtifactService",
    "ListArtifacts",
    "artifacts_pb2.ListArtifactsRequest",
    "artifacts_pb2.ListArtifactsResponse",
    HttpRoute("GET", "/artifacts"),
)
