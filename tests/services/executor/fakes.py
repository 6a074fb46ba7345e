"""An in-process object store for staging tests: `<scheme>://<bucket>/<key>` → files under a root."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from services.core.errors import NotFound
from services.executor.staging import tree_size


class DirectoryStore:
    """An `ArtifactStager` keeping objects as files under `root/<bucket>/<key>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.downloads: list[str] = []
        self.uploads: list[str] = []

    def path_of(self, uri: str) -> Path:
        _, _, rest = uri.partition("://")
        return self.root / rest

    async def download(self, uri: str, dest_path: Path) -> None:
        self.downloads.append(uri)
        await asyncio.to_thread(_copy, self.path_of(uri), dest_path, uri)

    async def upload(self, src_path: Path, uri: str) -> int:
        self.uploads.append(uri)
        await asyncio.to_thread(_copy, src_path, self.path_of(uri), str(src_path))
        return tree_size(src_path)


def _copy(src: Path, dest: Path, name: str) -> None:
    if not src.exists():
        raise NotFound("artifact", name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)
