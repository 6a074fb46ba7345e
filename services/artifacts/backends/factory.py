"""Choose the artifact backend from settings (`SLUICE_ARTIFACT_BACKEND`, `SLUICE_S3_*`)."""

from __future__ import annotations

from pathlib import Path

from services.artifacts.backends.base import ArtifactBackend
from services.artifacts.backends.local import LocalBackend
from services.core.errors import InvalidArgument

BACKENDS = ("local", "s3")


def open_backend(
    kind: str = "local",
    *,
    root: Path | str = Path("data/artifacts"),
    s3_endpoint: str = "",
    s3_access_key: str = "",
    s3_secret_key: str = "",
    s3_bucket: str = "",
    s3_secure: bool = False,
    s3_region: str | None = None,
    s3_prefix: str = "",
    s3_scheme: str = "minio",
    s3_public_endpoint: str | None = None,
) -> ArtifactBackend:
    """`local`: a directory (`root`); `s3`: a bucket of MinIO, AWS S3 or GCS (see
    `services.artifacts.backends.s3` for GCS). Raises InvalidArgument naming what is
    missing or wrong. Nothing is contacted: `S3Backend.ensure_bucket` checks the server."""
    if kind == "local":
        return LocalBackend(Path(root))
    if kind == "s3":
        required = {
            "s3_endpoint": s3_endpoint,
            "s3_access_key": s3_access_key,
            "s3_secret_key": s3_secret_key,
            "s3_bucket": s3_bucket,
        }
        missing = [name for name, value in required.items() if not value]
        if missing:
            settings = ", ".join(f"SLUICE_{name.upper()}" for name in missing)
            raise InvalidArgument(f"the s3 artifact backend needs {settings}", field=missing[0])
        # Imported here: the local backend must not need the S3 SDK.
        from services.artifacts.backends.s3 import S3Backend

        return S3Backend(
            endpoint=s3_endpoint,
            access_key=s3_access_key,
            secret_key=s3_secret_key,
            bucket=s3_bucket,
            secure=s3_secure,
            region=s3_region or None,
            prefix=s3_prefix,
            scheme=s3_scheme,
            public_endpoint=s3_public_endpoint or None,
        )
    raise InvalidArgument(
        f"unknown artifact backend {kind!r}: use {' or '.join(BACKENDS)}", field="artifact_backend"
    )
