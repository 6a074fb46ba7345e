"""Where a task reads and writes its artifacts, and how bytes move to and from stores.

A task sees every artifact as a plain local path. `file://` URIs (and bare absolute
paths) are used in place: no copy. Any other URI (`s3://`, `minio://`, `gs://`) is
staged under the attempt's directory, `<staging_dir>/<scheme>/<bucket>/<key>`, through
an `ArtifactStager`: inputs are downloaded before the task runs, outputs uploaded after.

A task that runs where this machine's files are not visible (a Kubernetes pod sees only
its attempt directory) needs its local artifacts staged too: with `stage_local=True` a
`file://` URI is staged at `<staging_dir>/file/<its absolute path>`, through the stager.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit
from urllib.request import url2pathname

from services.core.errors import InvalidArgument, NotFound


class ArtifactStager(Protocol):
    """Moves artifact bytes between a store and the local filesystem."""

    async def download(self, uri: str, dest_path: Path) -> None:
        """Copy the artifact at `uri` to `dest_path`.

        An artifact that is a directory (several objects under the URI) becomes a
        directory tree at `dest_path`. Raises NotFound when nothing is stored at `uri`,
        Unavailable when the store cannot be reached.
        """
        ...

    async def upload(self, src_path: Path, uri: str) -> int:
        """Copy `src_path` to `uri`, every file under it when it is a directory.

        Returns the number of bytes uploaded. Raises Unavailable when the store cannot
        be reached.
        """
        ...


@dataclass(frozen=True)
class ArtifactLocation:
    """Where the task finds one artifact."""

    uri: str
    """The artifact's URI."""
    local_path: Path
    """The local path the task reads or writes."""
    staged: bool
    """True when bytes must go through an `ArtifactStager` (the URI is not local)."""


def file_uri_to_path(uri: str) -> Path:
    """The absolute local path of a `file://` URI; raises InvalidArgument for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise InvalidArgument(f"not a local file URI: {uri!r}", field="uri")
    path = Path(url2pathname(parts.path))
    if not path.is_absolute():
        raise InvalidArgument(f"a file URI must hold an absolute path: {uri!r}", field="uri")
    return path


def locate(uri: str, *, staging_dir: Path, stage_local: bool = False) -> ArtifactLocation:
    """The local path for `uri`: itself for local URIs (unless `stage_local`), a staging
    path for the others. Raises InvalidArgument for a URI that cannot be staged."""
    if uri.startswith("/") or uri.startswith("file:"):
        path = Path(uri) if uri.startswith("/") else file_uri_to_path(uri)
        if not stage_local:
            return ArtifactLocation(uri=uri, local_path=path, staged=False)
        if any(part in (".", "..") for part in path.parts):
            raise InvalidArgument(f"a staged artifact path must not contain '..': {uri!r}", field="uri")
        staged_path = staging_dir.joinpath("file", *path.parts[1:])
        return ArtifactLocation(uri=uri, local_path=staged_path, staged=True)
    scheme, separator, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    segments = [segment for segment in key.split("/") if segment]
    if (
        not separator
        or not scheme.isalnum()
        or not bucket
        or bucket in (".", "..")
        or "/" in bucket
        or any(segment in (".", "..") for segment in segments)
    ):
        raise InvalidArgument(f"unsupported artifact URI {uri!r}", field="uri")
    return ArtifactLocation(
        uri=uri, local_path=staging_dir.joinpath(scheme.lower(), bucket, *segments), staged=True
    )


def tree_size(path: Path) -> int:
    """The bytes in a file, or in every file under a directory."""
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


class LocalFileStager:
    """An `ArtifactStager` for `file://` URIs (and bare absolute paths): copies within the
    local filesystem."""

    async def download(self, uri: str, dest_path: Path) -> None:
        await asyncio.to_thread(_copy, _local_path(uri), dest_path, uri)

    async def upload(self, src_path: Path, uri: str) -> int:
        dest = _local_path(uri)
        await asyncio.to_thread(_copy, src_path, dest, str(src_path))
        return await asyncio.to_thread(tree_size, dest)


def _local_path(uri: str) -> Path:
    return Path(uri) if uri.startswith("/") else file_uri_to_path(uri)


def _copy(src: Path, dest: Path, name: str) -> None:
    if not src.exists():
        raise NotFound("artifact", name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)
