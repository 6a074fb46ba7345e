from __future__ import annotations

from pathlib import Path

import pytest

from services.core.errors import InvalidArgument, NotFound
from services.executor.staging import (
    ArtifactLocation,
    ArtifactStager,
    LocalFileStager,
    file_uri_to_path,
    locate,
    tree_size,
)

STAGING = Path("/attempt/staging")


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        ("file:///data/x.csv", ArtifactLocation("file:///data/x.csv", Path("/data/x.csv"), staged=False)),
        (
            "file://localhost/data/a%20b",
            ArtifactLocation("file://localhost/data/a%20b", Path("/data/a b"), staged=False),
        ),
        ("/data/x.csv", ArtifactLocation("/data/x.csv", Path("/data/x.csv"), staged=False)),
        ("s3://bucket/a/b", ArtifactLocation("s3://bucket/a/b", STAGING / "s3/bucket/a/b", staged=True)),
        ("minio://bucket/k", ArtifactLocation("minio://bucket/k", STAGING / "minio/bucket/k", staged=True)),
        (
            "gs://bucket/k?x#y",
            ArtifactLocation("gs://bucket/k?x#y", STAGING / "gs/bucket/k?x#y", staged=True),
        ),
        ("s3://bucket", ArtifactLocation("s3://bucket", STAGING / "s3/bucket", staged=True)),
    ],
)
def test_locate(uri: str, location: ArtifactLocation) -> None:
    assert locate(uri, staging_dir=STAGING) == location


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "relative/path",
        "s3://",
        "s3:///key",
        "s3://../k",
        "s3://b/../../etc",
        "s3://b/./k",
        "we ird://b/k",
        "file://host/x",
        "file:relative",
    ],
)
def test_locate_rejects_uris_it_cannot_map_safely(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        locate(uri, staging_dir=STAGING)


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        (
            "file:///data/x.csv",
            ArtifactLocation("file:///data/x.csv", STAGING / "file/data/x.csv", staged=True),
        ),
        (
            "file://localhost/data/a%20b",
            ArtifactLocation("file://localhost/data/a%20b", STAGING / "file/data/a b", staged=True),
        ),
        ("/data/x.csv", ArtifactLocation("/data/x.csv", STAGING / "file/data/x.csv", staged=True)),
        ("s3://bucket/a/b", ArtifactLocation("s3://bucket/a/b", STAGING / "s3/bucket/a/b", staged=True)),
    ],
)
def test_locate_can_stage_local_artifacts_too(uri: str, location: ArtifactLocation) -> None:
    """For a task that does not see this machine's files (a pod)."""
    assert locate(uri, staging_dir=STAGING, stage_local=True) == location


@pytest.mark.parametrize("uri", ["file:///data/../etc/passwd", "/data/../../x", "file://host/x"])
def test_staged_local_artifacts_stay_inside_the_staging_directory(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        locate(uri, staging_dir=STAGING, stage_local=True)


def test_file_uri_to_path_rejects_other_schemes() -> None:
    with pytest.raises(InvalidArgument, match="not a local file URI: 's3://b/k'"):
        file_uri_to_path("s3://b/k")


def test_local_file_stager_is_an_artifact_stager() -> None:
    stager: ArtifactStager = LocalFileStager()
    assert stager is not None


async def test_local_file_stager_copies_files_and_trees(tmp_path: Path) -> None:
    stager = LocalFileStager()
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("aa")
    (source / "sub" / "b.txt").write_text("bbb")

    size = await stager.upload(source, (tmp_path / "store" / "tree").as_uri())
    await stager.download((tmp_path / "store" / "tree").as_uri(), tmp_path / "back")
    file_size = await stager.upload(source / "a.txt", (tmp_path / "store" / "one.txt").as_uri())

    assert size == 5
    assert file_size == 2
    assert (tmp_path / "back" / "sub" / "b.txt").read_text() == "bbb"
    assert (tmp_path / "store" / "one.txt").read_text() == "aa"
    assert tree_size(tmp_path / "back") == 5


async def test_local_file_stager_takes_bare_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("aa")

    await LocalFileStager().download(str(tmp_path / "a.txt"), tmp_path / "copy.txt")
    await LocalFileStager().upload(tmp_path / "copy.txt", str(tmp_path / "out" / "b.txt"))

    assert (tmp_path / "out" / "b.txt").read_text() == "aa"


async def test_local_file_stager_reports_missing_artifacts(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        await LocalFileStager().download((tmp_path / "nothing").as_uri(), tmp_path / "dest")


async def test_local_file_stager_only_handles_file_uris(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        await LocalFileStager().download("s3://b/k", tmp_path / "dest")
