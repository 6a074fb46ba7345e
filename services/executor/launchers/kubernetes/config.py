"""Settings of the Kubernetes launcher."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KubernetesLauncherConfig:
    """How the Kubernetes launcher creates, follows and cleans up task pods."""

    namespace: str = "default"
    """The namespace task pods are created in."""
    exchange_host: str = "0.0.0.0"
    """The address the file exchange (pods fetch inputs, send outputs) listens on."""
    exchange_port: int = 8790
    """The file exchange's port (0: any free port)."""
    exchange_url: str = ""
    """The base URL task pods reach the file exchange at, e.g. `http://<executor pod IP>:8790`;
    `http://<exchange_host>:<port>` when empty (then `exchange_host` must be concrete)."""
    max_output_bytes: int | None = None
    """The most bytes one attempt's pod may send back; None for no limit."""
    executor_id: str = ""
    """This executor's id: a label on its pods, which its watch selects on."""
    service_account: str = ""
    """The task pods' service account; the namespace's default when empty."""
    python: str = "python3"
    """The interpreter in task images that runs Sluice's pod runtime."""
    image_pull_policy: str = ""
    """The default image pull policy (a task's platform config wins); Kubernetes' default when empty."""
    delete_grace_seconds: float = 10.0
    """How long a canceled or timed-out task gets between SIGTERM and SIGKILL."""
    pull_grace_seconds: float = 120.0
    """How long a pod may fail to pull its image or create its container before the attempt fails."""
    schedule_timeout_seconds: float = 600.0
    """How long a pod may wait for a node (or, generally, to start) before the attempt fails."""
    node_lost_grace_seconds: float = 120.0
    """How long a pod's node may stop reporting before the attempt fails (retryably)."""
    deadline_margin_seconds: float = 30.0
    """How long past its timeout a pod may run before the executor stops it itself (the
    cluster's `activeDeadlineSeconds` should have already)."""
    poll_initial_seconds: float = 0.5
    """The first pause between reads of a pod; it grows to `poll_max_seconds`."""
    poll_max_seconds: float = 15.0
    """The longest pause between reads of a pod (the watch wakes a launch earlier)."""
    watch: bool = True
    """Watch the pods (one watch per executor) besides reading them."""
    watch_timeout_seconds: int = 60
    """The API server ends each watch request after this long; it is reopened."""
    api_outage_seconds: float = 300.0
    """How long the API may fail while following a pod before the attempt is handed back
    (`Unavailable`, redelivered)."""
    log_drain_seconds: float = 10.0
    """How long, once the pod has ended, the launcher waits for the stream of its log to end
    before it stops that stream and reads the log in one go instead."""
    delete_finished_pods: bool = True
    """Delete each pod once its log is collected (False keeps them for debugging)."""
