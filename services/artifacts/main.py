"""`sluice service artifacts`: artifact bytes and records."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import Field

from services.artifacts.backends.local import LocalBackend
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


async def serve(settings: Settings) -> None:
    if settings.artifact_backend != "local":
        raise SystemExit(
            f"artifact backend {settings.artifact_backend!r} is not available in this build; use 'local'"
        )
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    backend = LocalBackend(settings.artifact_root)
    store = open_store(settings.store_url)
    service = ArtifactService(
        backend=backend,
        records=store,
        host=settings.artifacts_host,
        port=settings.artifacts_port,
        max_upload_bytes=settings.max_upload_bytes or None,
    )

    async def start() -> None:
        await store.start()
        await service.start()

    async def stop() -> None:
        await service.aclose()
        await backend.aclose()
        await store.aclose()

    await serve_until_signal(start, stop)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
