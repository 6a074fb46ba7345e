"""Artifacts: their records (with the metadata metrics are logged in) and their bytes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sluice.client import _convert, _rpc
from sluice.client._base import ApiBase
from sluice.client.models import Artifact, Page


class ArtifactsApi(ApiBase):
    def get_artifact(self, artifact_id: str) -> Artifact:
        """The artifact's record. Raises NotFound."""
        return _convert.artifact(self._call(_rpc.GET_ARTIFACT, {"artifact_id": artifact_id}))

    def list_artifacts(
        self, *, run_id: str = "", task_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Page[Artifact]:
        """The artifacts a run (or one of its tasks) produced."""
        request = {"run_id": run_id, "task_id": task_id, "page_size": page_size, "page_token": page_token}
        return _convert.page(self._call(_rpc.LIST_ARTIFACTS, request), "artifacts", _convert.artifact)

    def download_artifact(self, artifact: str | Artifact, dest: str | os.PathLike[str]) -> Path:
        """Write an artifact's bytes to `dest` (a file, or an existing directory to put it in
        under its name); the path written. `artifact` is an Artifact, its id, or a URI in
        the artifact store (`file://`, `s3://`, `minio://`, `gs://`).

        The file appears whole or not at all. Raises NotFound; Unimplemented for a URI over
        HTTP, which downloads artifacts by id only.
        """
        if isinstance(artifact, Artifact):
            artifact_id, uri, name = artifact.artifact_id, "", artifact.name
        elif "://" in artifact:
            artifact_id, uri, name = "", artifact, artifact.rstrip("/").rsplit("/", 1)[-1]
        else:
            artifact_id, uri, name = artifact, "", ""
        target = Path(dest)
        if target.is_dir():
            target = target / (name or self.get_artifact(artifact_id).name or artifact_id)
        chunks = self._transport.download(artifact_id=artifact_id, uri=uri)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(partial, target)
        except BaseException:
            os.unlink(partial)
            raise
        return target
