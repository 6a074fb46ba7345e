"""The launcher boundary: start a task's process, wait for it, stop it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # Only a type here: importing the Kubernetes launcher's package at run time would
    # pull in the `kubernetes` client, which only the Kubernetes launcher needs.
    from services.executor.launchers.kubernetes.manifest import PodTask


@dataclass(frozen=True)
class LaunchRequest:
    """One attempt's process to run."""

    key: str
    """Unique among running launches: what `Launcher.cancel` takes (e.g. run/task/attempt)."""
    argv: tuple[str, ...]
    """The resolved command and args."""
    cwd: Path
    """The working directory (created when missing)."""
    log_path: Path
    """Where stdout and stderr go, merged (appended to)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The task's own environment variables, added to the launcher's environment."""
    image: str = ""
    """The container image the task asked for."""
    timeout_seconds: float | None = None
    """Stop the task after this long; None for no limit."""
    tmp_dir: Path | None = None
    """A private temporary directory for the task, when the launcher runs on this host."""
    pod: PodTask | None = None
    """What a pod needs beyond the above (resources, platform config, input values); the
    Kubernetes launcher reads it, the local one ignores it."""


@dataclass(frozen=True)
class LaunchOutcome:
    """How the process ended."""

    exit_code: int
    """The exit code; 128+N when killed by signal N (as a shell or Kubernetes reports it),
    127 when the program could not be started."""
    timed_out: bool = False
    """The process was stopped because it ran past its timeout."""
    canceled: bool = False
    """The process was stopped by `Launcher.cancel`."""
    message: str = ""
    """Why the launch failed, in the launcher's words (an image that cannot be pulled, out
    of memory, an eviction); empty when the exit code says it all."""
    retryable: bool = False
    """The infrastructure, not the task, ended the attempt (an eviction, a lost node)."""
    pod_name: str = ""
    """The Kubernetes pod that ran the attempt; empty for a local process."""


class Launcher(Protocol):
    """Runs task processes. Cancelling the task awaiting `launch` stops the process too."""

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        """Run the process to completion, timeout or cancellation.

        Raises FailedPrecondition when a launch with the same key is already running.
        """
        ...

    async def cancel(self, key: str) -> bool:
        """Stop the running launch `key`, whose `launch` then returns `canceled=True`.

        Returns False when no such launch is running.
        """
        ...
