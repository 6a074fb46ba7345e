"""Staging of artifacts that live outside this machine, through the artifact service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.artifacts.client import ArtifactClient


class ArtifactServiceStager:
    """`ArtifactStager` over the artifact service's gRPC streams.

    A directory output is uploaded file by file under its URI as a prefix. A directory
    input cannot be downloaded yet (the service has no prefix listing): such a download
    fails with NotFound naming the URI."""

    def __init__(self, client: ArtifactClient) -> None:
        self._client = client

    async def download(self, uri: str, dest_path: Path) -> None:
        await self._client.download_file(uri, dest_path)

    async def upload(self, src_path: Path, uri: str) -> int:
        files = await asyncio.to_thread(_files_under, src_path)
        if files is None:
            return await self._client.upload_file(src_path, uri)
        total = 0
        for path in files:
            relative = path.relative_to(src_path).as_posix()
            total += await self._client.upload_file(path, f"{uri.rstrip('/')}/{relative}")
        return total


def _files_under(path: Path) -> list[Path] | None:
    """The files of a directory, sorted; None when `path` is not a directory."""
    if not path.is_dir():
        return None
    return sorted(p for p in path.rglob("*") if p.is_file())
