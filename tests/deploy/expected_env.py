"""The `SLUICE_*` variables each service needs in a distributed deployment.

One list for docker-compose.yaml and the Helm chart: both must set every name here for
the service that needs it. Settings whose default is right everywhere (timeouts, limits,
bind addresses) are left out on purpose; a deployment may still set them.
"""

from __future__ import annotations

import importlib

from pydantic_settings import BaseSettings

COMMON = frozenset({"SLUICE_NATS_URL", "SLUICE_LOG_LEVEL"})

REQUIRED_ENV: dict[str, frozenset[str]] = {
    "gateway": COMMON
    | {"SLUICE_HTTP_PORT", "SLUICE_GRPC_PORT", "SLUICE_SCHEDULER_ADDRESS", "SLUICE_ARTIFACTS_ADDRESS"},
    "scheduler": COMMON
    | {
        "SLUICE_STORE_URL",
        "SLUICE_SCHEDULER_PORT",
        "SLUICE_ARTIFACTS_ADDRESS",
        "SLUICE_DEFAULT_PIPELINE_ROOT",
    },
    "artifacts": COMMON
    | {
        "SLUICE_STORE_URL",
        "SLUICE_ARTIFACTS_PORT",
        "SLUICE_ARTIFACT_BACKEND",
        "SLUICE_S3_ENDPOINT",
        "SLUICE_S3_ACCESS_KEY",
        "SLUICE_S3_SECRET_KEY",
        "SLUICE_S3_BUCKET",
        "SLUICE_S3_SECURE",
        "SLUICE_S3_REGION",
    },
    "executor": COMMON
    | {
        "SLUICE_ARTIFACTS_ADDRESS",
        "SLUICE_EXECUTOR_LAUNCHER",
        "SLUICE_EXECUTOR_MAX_CONCURRENT_TASKS",
        "SLUICE_EXECUTOR_WORK_DIR",
        "SLUICE_EXECUTOR_HEALTH_PORT",
    },
}

KUBERNETES_LAUNCHER_ENV = frozenset(
    {
        "SLUICE_KUBERNETES_NAMESPACE",
        "SLUICE_KUBERNETES_SERVICE_ACCOUNT",
        "SLUICE_KUBERNETES_EXCHANGE_PORT",
        "POD_IP",
    }
)
"""Also needed by the executor when it launches tasks as pods (`POD_IP`, from the
downward API, gives the address pods reach its file exchange at)."""

SERVICES = tuple(REQUIRED_ENV)

PENDING_SETTINGS: dict[str, frozenset[str]] = {}
"""Names the deployment files already set whose `Settings` fields are still to come, by
service. Drop each entry once its field exists."""


def settings_names(service: str) -> frozenset[str]:
    """The environment variables `sluice service SERVICE` reads: its `Settings` fields
    (under their alias when they have one, e.g. `POD_IP`)."""
    module = importlib.import_module(f"services.{service}.main")
    settings: type[BaseSettings] = module.Settings
    prefix = str(settings.model_config.get("env_prefix", ""))
    return frozenset(
        field.validation_alias if isinstance(field.validation_alias, str) else f"{prefix}{name}".upper()
        for name, field in settings.model_fields.items()
    )


def known_names(service: str) -> frozenset[str]:
    return settings_names(service) | PENDING_SETTINGS.get(service, frozenset())
