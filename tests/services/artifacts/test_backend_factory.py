from __future__ import annotations

from pathlib import Path

import pytest

from services.artifacts.backends import LocalBackend
from services.artifacts.backends.factory import open_backend
from services.artifacts.backends.s3 import S3Backend
from services.core.errors import InvalidArgument


def test_local_is_the_default(tmp_path: Path) -> None:
    backend = open_backend(root=tmp_path)
    assert isinstance(backend, LocalBackend)
    assert backend.root == tmp_path.resolve()


def test_s3() -> None:
    backend = open_backend(
        "s3",
        s3_endpoint="minio:9000",
        s3_access_key="sluice",
        s3_secret_key="secret",
        s3_bucket="sluice",
        s3_prefix="artifacts",
        s3_region="",
    )
    assert isinstance(backend, S3Backend)
    assert backend.uri_for("a/b") == "minio://sluice/artifacts/a/b"


def test_s3_names_the_missing_settings() -> None:
    with pytest.raises(InvalidArgument, match="SLUICE_S3_ACCESS_KEY, SLUICE_S3_SECRET_KEY") as raised:
        open_backend("s3", s3_endpoint="minio:9000", s3_bucket="sluice")
    assert raised.value.field == "s3_access_key"


def test_unknown_backend() -> None:
    with pytest.raises(InvalidArgument, match="local or s3"):
        open_backend("ftp")
