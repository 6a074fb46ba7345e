"""What the pages read from the backend, as plain JSON-like dicts (protobuf stops here).

Pipeline versions and experiment names are cached: versions never change and experiments
cannot be renamed, so a page of runs costs one call per name it has not seen before.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from sluice.v1 import artifacts_pb2, experiments_pb2, pipelines_pb2, runs_pb2

from services.gateway.backend import GatewayBackend
from services.gateway.ui.visualizations import scalar_metrics

ARTIFACT_PAGE = 200
PREVIEW_LIMIT = 1024 * 1024
"""Bytes of an artifact read for a preview (Markdown, HTML, CSV)."""


def to_dict(message: Message) -> dict[str, Any]:
    """A message as protobuf JSON with field names as in the .proto (snake_case)."""
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    pipeline_id: str
    pipeline_version_id: str
    pipeline_name: str
    version_name: str
    spec: dict[str, Any]


def _not_found(error: grpc.aio.AioRpcError) -> bool:
    return error.code() == grpc.StatusCode.NOT_FOUND


class UiData:
    """The backend calls of the pages, with the caches that keep a run list cheap."""

    def __init__(self, backend: GatewayBackend) -> None:
        self.backend = backend
        self._versions: _Lru[str, VersionInfo] = _Lru(64)
        self._pipeline_names: _Lru[str, str] = _Lru(1024)
        self._experiment_names: _Lru[str, str] = _Lru(1024)

    async def pipeline_name(self, pipeline_id: str) -> str:
        cached = self._pipeline_names.get(pipeline_id)
        if cached is not None:
            return cached
        try:
            pipeline = await self.backend.pipelines.GetPipeline(
                pipelines_pb2.GetPipelineRequest(pipeline_id=pipeline_id)
            )
        except grpc.aio.AioRpcError as error:
            if _not_found(error):
                return "(deleted pipeline)"
            raise
        name = pipeline.display_name or pipeline.name
        self._pipeline_names.put(pipeline_id, name)
        return name

    async def version(self, pipeline_id: str, version_id: str) -> VersionInfo | None:
        """A pipeline version with its spec; None when it was deleted."""
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached
        try:
            version = await self.backend.pipelines.GetPipelineVersion(
                pipelines_pb2.GetPipelineVersionRequest(
                    pipeline_id=pipeline_id, pipeline_version_id=version_id
                )
            )
        except grpc.aio.AioRpcError as error:
            if _not_found(error):
                return None
            raise
        info = VersionInfo(
            pipeline_id=version.pipeline_id,
            pipeline_version_id=version.pipeline_version_id,
            pipeline_name=await self.pipeline_name(version.pipeline_id),
            version_name=version.display_name or version.name,
            spec=json_format.MessageToDict(version.pipeline_spec),
        )
        self._versions.put(version_id, info)
        return info

    async def experiment_name(self, experiment_id: str) -> str:
        if not experiment_id:
            return ""
        cached = self._experiment_names.get(experiment_id)
        if cached is not None:
            return cached
        try:
            experiment = await self.backend.experiments.GetExperiment(
                experiments_pb2.GetExperimentRequest(experiment_id=experiment_id)
            )
        except grpc.aio.AioRpcError as error:
            if _not_found(error):
                return "(deleted experiment)"
            raise
        self._experiment_names.put(experiment_id, experiment.display_name)
        return experiment.display_name

    async def describe_runs(self, runs: list[dict[str, Any]]) -> None:
        """Add ``_pipeline``, ``_version`` and ``_experiment`` names to each run, one call
        per name not cached yet, all at once."""
        versions = {
            (ref.get("pipeline_id", ""), ref["pipeline_version_id"])
            for run in runs
            if (ref := run.get("pipeline_version_reference")) and ref.get("pipeline_version_id")
        }
        experiments = {run.get("experiment_id", "") for run in runs}
        version_list = list(versions)
        experiment_list = list(experiments)
        found = await asyncio.gather(*(self.version(p, v) for p, v in version_list))
        names = await asyncio.gather(*(self.experiment_name(e) for e in experiment_list))
        by_version = dict(zip((v for _, v in version_list), found, strict=True))
        by_experiment = dict(zip(experiment_list, names, strict=True))
        for run in runs:
            ref = run.get("pipeline_version_reference") or {}
            info = by_version.get(ref.get("pipeline_version_id", ""))
            run["_pipeline"] = info.pipeline_name if info else ""
            run["_version"] = info.version_name if info else ""
            run["_experiment"] = by_experiment.get(run.get("experiment_id", ""), "")

    async def run_spec(self, run: dict[str, Any]) -> dict[str, Any]:
        """The PipelineSpec a run executes: inline, or its pipeline version's."""
        spec = run.get("pipeline_spec")
        if isinstance(spec, dict) and spec:
            return spec
        ref = run.get("pipeline_version_reference") or {}
        if ref.get("pipeline_version_id"):
            info = await self.version(ref.get("pipeline_id", ""), ref["pipeline_version_id"])
            return info.spec if info else {}
        return {}

    async def run_artifacts(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """Every artifact a run's tasks output: those it made, and those its cache hits
        reused from earlier runs."""
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            page = await self.backend.artifacts.ListArtifacts(
                artifacts_pb2.ListArtifactsRequest(
                    run_id=run.get("run_id", ""), page_token=token, page_size=ARTIFACT_PAGE
                )
            )
            found.extend(to_dict(a) for a in page.artifacts)
            token = page.next_page_token
            if not token:
                break
        known = {a.get("artifact_id") for a in found}
        reused = [
            artifact_id
            for task in (run.get("run_details") or {}).get("task_details", [])
            for outputs in (task.get("outputs") or {}).values()
            for artifact_id in outputs.get("artifact_ids", [])
            if artifact_id not in known
        ]
        found.extend(await self.artifacts(dict.fromkeys(reused)))
        return found

    async def artifacts(self, artifact_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Artifact records by id, in order; missing ones left out."""

        async def one(artifact_id: str) -> dict[str, Any] | None:
            try:
                return to_dict(
                    await self.backend.artifacts.GetArtifact(
                        artifacts_pb2.GetArtifactRequest(artifact_id=artifact_id)
                    )
                )
            except grpc.aio.AioRpcError as error:
                if _not_found(error):
                    return None
                raise

        found = await asyncio.gather(*(one(i) for i in artifact_ids))
        return [a for a in found if a is not None]

    async def metrics_of_runs(self, run_ids: list[str]) -> dict[str, dict[str, float]]:
        """The scalar metrics of each run (first page of its artifacts), all runs at once.
        A metric logged by two tasks keeps the first value found."""

        async def one(run_id: str) -> dict[str, float]:
            page = await self.backend.artifacts.ListArtifacts(
                artifacts_pb2.ListArtifactsRequest(run_id=run_id, page_size=ARTIFACT_PAGE)
            )
            metrics: dict[str, float] = {}
            for artifact in page.artifacts:
                if artifact.schema_title == "system.Metrics":
                    values = json_format.MessageToDict(artifact.metadata)
                    for name, value in scalar_metrics(values).items():
                        metrics.setdefault(name, value)
            return metrics

        found = await asyncio.gather(*(one(r) for r in run_ids))
        return dict(zip(run_ids, found, strict=True))

    async def read(
        self, *, artifact_id: str = "", uri: str = "", limit: int = PREVIEW_LIMIT
    ) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of an artifact or a stored object, and whether there was more."""
        data = bytearray()
        chunks = self.backend.download(artifacts_pb2.DownloadRequest(artifact_id=artifact_id, uri=uri))
        async with contextlib.aclosing(chunks):  # closing early cancels the download
            async for chunk in chunks:
                data += chunk
                if len(data) > limit:
                    return bytes(data[:limit]), True
        return bytes(data), False

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return to_dict(await self.backend.runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id)))

    async def run_of_task(self, task_id: str, *, log_uri: str = "") -> str:
        """The run a task (of any run) belongs to, found from its artifacts or its log's
        place in the store; "" when neither tells."""
        page = await self.backend.artifacts.ListArtifacts(
            artifacts_pb2.ListArtifactsRequest(task_id=task_id, page_size=1)
        )
        if page.artifacts:
            return page.artifacts[0].run_id
        match = re.search(r"/([^/]+)/logs/" + re.escape(task_id) + r"-\d+\.log$", log_uri)
        return match.group(1) if match else ""
