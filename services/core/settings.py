"""Settings shared by every service, read from `SLUICE_*` environment variables.

Each service has its own `Settings` class (in its package) that extends `CommonSettings`;
`main.py` builds it once. Nothing reads the environment at import time.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server with JetStream enabled.")
    store_url: str = Field(
        default="sqlite:///data/sluice.db",
        description="Metadata store: `sqlite:///PATH` (embedded) or `mongodb://…` (distributed).",
    )
    log_level: str = Field(default="INFO", description="Python logging level of the service.")
    dispatch_ack_wait_seconds: float = Field(
        default=30.0,
        description="An executor that stops heart-beating for this long loses its task to another.",
    )
