"""The Kubernetes launcher: each task attempt one Pod, its files staged by Sluice's pod runtime.

How an attempt runs in a pod:

- The executor prepares the attempt directory as for a local task (every input artifact
  staged into it, `file://` ones included, output directories, the ExecutorInput) and
  resolves the command; `run_attempt(..., stage_local_artifacts=True)` does that.
- The pod mounts an emptyDir at the attempt directory's *absolute path*, so the resolved
  command and the ExecutorInput work unchanged; its container runs `python3 -c <pod
  runtime>` with the task's command as args (`pod_runtime`).
- The runtime fetches the directory from the executor's file exchange (`exchange`, HTTP,
  one secret token per attempt), runs the task, and sends back the files it created or
  changed; the executor then parses outputs and uploads artifacts as for a local task.
- The launcher follows the pod (one watch per executor plus reads with backoff), streams
  its log into the attempt's log as it runs, deletes it, and maps its end to a `PodLaunchOutcome`
  (`failures`): exit codes, out of memory, evictions, deadlines, image pull and
  configuration errors, unschedulable pods, lost nodes.

Requirements: task images have `python3` ≥ 3.7 (`KubernetesLauncherConfig.python` names
another); pods reach the executor at `exchange_url`; the executor's service account may
create, get, list, watch and delete pods and get `pods/log` in the task namespace.

Public names are re-exported here; `test_public_api.py` beside the tests pins them. The
ones that need the `kubernetes` client package (the launcher, `make_api_client`) are
imported on first use, so the executor can build pod facts without that package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from services.executor.launchers.kubernetes.config import KubernetesLauncherConfig
from services.executor.launchers.kubernetes.convert import pod_task_of
from services.executor.launchers.kubernetes.exchange import FileExchange
from services.executor.launchers.kubernetes.manifest import PodPlan, PodTask, build_pod_manifest, pod_name

if TYPE_CHECKING:
    from services.executor.launchers.kubernetes.client import make_api_client
    from services.executor.launchers.kubernetes.launcher import KubernetesLauncher, PodLaunchOutcome

_NEEDS_CLIENT = {
    "KubernetesLauncher": "launcher",
    "PodLaunchOutcome": "launcher",
    "make_api_client": "client",
}

__all__ = [
    "FileExchange",
    "KubernetesLauncher",
    "KubernetesLauncherConfig",
    "PodLaunchOutcome",
    "PodPlan",
    "PodTask",
    "build_pod_manifest",
    "make_api_client",
    "pod_name",
    "pod_task_of",
]


def __getattr__(name: str) -> Any:
    module = _NEEDS_CLIENT.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
