"""`sluice service artifacts`: artifact bytes and records."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pydantic import Field

from services.artifacts.backends.factory import open_backend
from services.artifacts.backends.s3 import S3Backend
from services.artifacts.service import ArtifactService
from services.core.serving import configure_logging, serve_until_signal
from services.core.settings import CommonSettings
from services.core.store.factory import open_store


class Settings(CommonSettings):
    artifacts_host: str = Field(
        default="0.0.0.0", description="Interface of the artifact service's gRPC API."
    )
    artifacts_port: int = Field(default=50052, description="Port of the artifact service's gRPC API.")
    artifact_backend: str = Field(
        default="local", description="`local` (a directory) or `s3` (S3/MinIO/GCS)."
    )
    artifact_root: Path = Field(default=Path("data/artifacts"), description="Directory of the local backend.")
    max_upload_bytes: int = Field(default=0, description="Largest accepted upload; 0 means no limit.")
    s3_endpoint: str = Field(default="", description="S3 endpoint as host:port (MinIO, AWS, GCS interop).")
    s3_access_key: str = Field(default="", description="S3 access key (GCS: HMAC key id).")
    s3_secret_key: str = Field(default="", description="S3 secret key (GCS: HMAC secret).")
    s3_bucket: str = Field(default="sluice", description="Bucket holding the artifacts.")
    s3_secure: bool = Field(default=False, description="Use HTTPS to reach the S3 endpoint.")
    s3_region: str | None = Field(default=None, description="S3 region, when the server needs one.")
    s3_scheme: str = Field(default="minio", description="URI scheme of stored artifacts: minio, s3 or gs.")
    s3_public_endpoint: str | None = Field(
        default=None, description="Endpoint used in presigned URLs handed to browsers and clients."
    )


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; the exit status (see `serve_until_signal`)."""
    if settings.artifact_backend == "local":
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
    backend = open_backend(
        settings.artifact_backend,
        root=settings.artifact_root,
        s3_endpoint=settings.s3_endpoint,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
        s3_bucket=settings.s3_bucket,
        s3_secure=settings.s3_secure,
        s3_region=settings.s3_region,
        s3_scheme=settings.s3_scheme,
        s3_public_endpoint=settings.s3_public_endpoint,
    )
    store = open_store(settings.store_url)
    service = ArtifactService(
        backend=backend,
        records=store,
        host=settings.artifacts_host,
        port=settings.artifacts_port,
        max_upload_bytes=settings.max_upload_bytes or None,
    )

    async def start() -> None:
        if isinstance(backend, S3Backend):
            await backend.ensure_bucket()
        await store.start()
        await service.start()

    async def stop() -> None:
        await service.aclose()
        await backend.aclose()
        await store.aclose()

    return await serve_until_signal(start, stop)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    sys.exit(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
