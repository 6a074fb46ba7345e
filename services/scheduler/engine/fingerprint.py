"""Cache fingerprints (KFP_NOTES §2 "Caching")."""

from __future__ import annotations

import hashlib
import json

from services.core.pipeline.model import Component, ContainerExecutor, Task
from services.core.store.records import TaskRecord


def cache_fingerprint(
    *, record: TaskRecord, task: Task, component: Component, executor: ContainerExecutor
) -> str:
    """Same inputs, same outputs declared, same container → same fingerprint.

    Input artifacts count by identity (their URI), not by content, as in KFP."""
    document = {
        "cache_key": task.cache_key,
        "image": executor.image,
        "command": list(executor.command),
        "args": list(executor.args),
        "parameters": record.input_parameters,
        "artifacts": {
            name: [artifact.uri for artifact in artifacts]
            for name, artifacts in sorted(record.input_artifacts.items())
        },
        "output_parameters": {name: spec.type for name, spec in component.outputs.parameters.items()},
        "output_artifacts": {name: spec.schema_title for name, spec in component.outputs.artifacts.items()},
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
