from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from services.core.errors import InvalidArgument, TooLarge
from services.core.pipeline.model import JsonValue
from services.scheduler.api.pipeline_packages import (
    MAX_PACKAGE_BYTES,
    package_stem,
    read_pipeline_package,
)
from services.scheduler.api.specs import join_pipeline_spec, split_pipeline_spec
from tests.services.scheduler.api.kfp_pipelines import (
    pipeline_dict,
    pipeline_json,
    pipeline_yaml,
    tar_gz_package,
    zip_package,
)


def test_yaml_text() -> None:
    spec = read_pipeline_package(pipeline_yaml().encode())
    assert spec.pipeline.name == "adder"
    assert spec.platform_spec is None
    assert spec.stored == pipeline_dict()


def test_json_text() -> None:
    assert read_pipeline_package(pipeline_json()).pipeline.name == "adder"


@pytest.mark.parametrize("member", ["pipeline.yaml", "other.yml", "nested/spec.json"])
def test_zip_with_one_spec_file(member: str) -> None:
    package = zip_package({member: pipeline_yaml(), "README.md": "docs"})
    assert read_pipeline_package(package).pipeline.name == "adder"


def test_archives_prefer_pipeline_yaml() -> None:
    files = {"pipeline.yaml": pipeline_yaml("greeter"), "other.yaml": pipeline_yaml("adder")}
    assert read_pipeline_package(zip_package(files)).pipeline.name == "greeter"
    assert read_pipeline_package(tar_gz_package(files)).pipeline.name == "greeter"


def test_archive_with_several_candidates_and_no_pipeline_yaml() -> None:
    files = {"a.yaml": pipeline_yaml("greeter"), "b.yaml": pipeline_yaml("adder")}
    with pytest.raises(InvalidArgument, match="several"):
        read_pipeline_package(zip_package(files))


def test_archive_without_a_spec() -> None:
    with pytest.raises(InvalidArgument, match=r"no pipeline\.yaml"):
        read_pipeline_package(tar_gz_package({"README.md": "nothing here"}))


@pytest.mark.parametrize("member", ["./pipeline.yaml", "pipeline.yaml"])
def test_tar_gz(member: str) -> None:
    assert read_pipeline_package(tar_gz_package({member: pipeline_yaml()})).pipeline.name == "adder"


@pytest.mark.parametrize(
    "member", ["../evil.yaml", "/etc/evil.yaml", "a/../../evil.yaml", "a\\..\\evil.yaml"]
)
def test_path_tricks_are_rejected(member: str) -> None:
    with pytest.raises(InvalidArgument, match="unsafe path"):
        read_pipeline_package(zip_package({member: pipeline_yaml()}))
    with pytest.raises(InvalidArgument, match="unsafe path"):
        read_pipeline_package(tar_gz_package({member: pipeline_yaml()}))


def test_links_in_tar_are_rejected() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo("pipeline.yaml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(InvalidArgument, match="link"):
        read_pipeline_package(buffer.getvalue())


def test_oversize_upload() -> None:
    with pytest.raises(TooLarge):
        read_pipeline_package(b"#" * (MAX_PACKAGE_BYTES + 1))


def test_decompression_bomb() -> None:
    bomb = gzip.compress(b"\0" * (MAX_PACKAGE_BYTES + 1024))
    assert len(bomb) < MAX_PACKAGE_BYTES
    with pytest.raises(TooLarge):
        read_pipeline_package(bomb)
    zipped = zip_package({"pipeline.yaml": b" " * (MAX_PACKAGE_BYTES + 1)})
    with pytest.raises(TooLarge):
        read_pipeline_package(zipped)


def test_garbage() -> None:
    with pytest.raises(InvalidArgument):
        read_pipeline_package(b"PK\x03\x04 not really a zip")
    with pytest.raises(InvalidArgument):
        read_pipeline_package(b"\x1f\x8b not really gzip")
    with pytest.raises(InvalidArgument):
        read_pipeline_package(b"just: [some, yaml]")


@pytest.mark.parametrize(
    ("filename", "stem"),
    [
        ("my-pipeline.yaml", "my-pipeline"),
        ("dir/p.tar.gz", "p"),
        ("C:\\Users\\me\\p.ZIP", "p"),
        ("p.tgz", "p"),
        ("p.json", "p"),
        ("noext", "noext"),
        ("", ""),
    ],
)
def test_package_stem(filename: str, stem: str) -> None:
    assert package_stem(filename) == stem


def test_spec_forms() -> None:
    spec = pipeline_dict()
    platform: dict[str, JsonValue] = {"platforms": {"kubernetes": {}}}
    stored = join_pipeline_spec(spec, platform)
    assert stored == {"pipeline_spec": spec, "platform_spec": platform}
    assert split_pipeline_spec(stored) == (spec, platform)
    assert split_pipeline_spec(spec) == (spec, None)
    assert join_pipeline_spec(spec, None) is spec
    assert split_pipeline_spec({**spec, "platform_spec": platform}) == (spec, platform)
