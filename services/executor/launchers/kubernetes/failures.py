"""Reading a pod's status: is it done, stuck, or fine; and why it failed, in words (pure).

`observe` condenses a Pod's JSON; `ending_of` says how a finished pod ended; `trouble_of`
says why an unfinished pod is not progressing (an image that cannot be pulled, a secret
that does not exist, no node that fits, a lost node). The launcher decides how long
trouble may last; `ending_for_trouble` is the ending it reports when it gives up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.executor.launchers.kubernetes.manifest import MAIN_CONTAINER
from services.executor.launchers.kubernetes.pod_runtime import RUNTIME_FAILURE_PREFIX

KILLED_EXIT_CODE = 137
"""Reported when the cluster stopped the pod and no container exit code is known."""
NOT_STARTED_EXIT_CODE = 127
"""Reported when the task never started (image, configuration or scheduling trouble)."""

_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable", "InvalidImageName", "ErrImageNeverPull"}
)
_FATAL_REASONS = frozenset({"InvalidImageName", "ErrImageNeverPull"})
_CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
_START_FAILURES = frozenset({"StartError", "ContainerCannotRun"})


@dataclass(frozen=True)
class PodObservation:
    """The facts of a pod's status that decide what the launcher does."""

    phase: str = ""
    """Pending, Running, Succeeded, Failed or Unknown ("" before the first status)."""
    reason: str = ""
    """The pod's `status.reason` (Evicted, DeadlineExceeded, …)."""
    message: str = ""
    """The pod's `status.message`."""
    started: bool = False
    """A kubelet accepted the pod (`status.startTime` is set)."""
    deleting: bool = False
    """The pod is being deleted."""
    running: bool = False
    """The main container is running."""
    waiting_reason: str = ""
    """Why the main container waits (ErrImagePull, ContainerCreating, …)."""
    waiting_message: str = ""
    """The kubelet's words about that wait."""
    terminated_reason: str = ""
    """How the main container ended (Completed, Error, OOMKilled, StartError, …)."""
    terminated_message: str = ""
    """The container's termination message."""
    exit_code: int | None = None
    """The main container's exit code, once it ended."""
    unschedulable: str = ""
    """The scheduler's message while no node fits the pod."""
    disruption: str = ""
    """`reason: message` of a DisruptionTarget condition (preemption, eviction, taint, node shutdown)."""

    @property
    def finished(self) -> bool:
        """The pod will not run again."""
        return self.phase in ("Succeeded", "Failed")

    @property
    def container_started(self) -> bool:
        """The main container runs or has run: it has a log to read."""
        return self.running or self.exit_code is not None


@dataclass(frozen=True)
class Ending:
    """How an attempt's pod ended."""

    exit_code: int
    """The task's exit code (or KILLED/NOT_STARTED_EXIT_CODE when none is known)."""
    reason: str
    """A short machine-readable cause: Completed, Error, OOMKilled, Evicted, ImagePull, …"""
    message: str = ""
    """Why, in words; empty when the task's own exit code says it all."""
    timed_out: bool = False
    """The pod ran past its deadline."""
    retryable: bool = False
    """The cluster, not the task, ended the attempt (eviction, preemption, a lost node)."""


@dataclass(frozen=True)
class Trouble:
    """Why an unfinished pod does not progress."""

    reason: str
    """ImagePull, Configuration, Unschedulable or NodeLost."""
    message: str
    """What the cluster says, in words naming the image or object at fault."""
    fatal: bool = False
    """Waiting cannot help (an invalid image name): give up at once."""


def observe(pod: Mapping[str, Any]) -> PodObservation:
    """Condense a Pod's JSON (as the API returns it)."""
    status = pod.get("status") or {}
    container = _main_container_status(status.get("containerStatuses") or [])
    state = (container or {}).get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    conditions = {condition.get("type"): condition for condition in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    disruption = conditions.get("DisruptionTarget") or {}
    exit_code = terminated.get("exitCode")
    return PodObservation(
        phase=str(status.get("phase") or ""),
        reason=str(status.get("reason") or ""),
        message=str(status.get("message") or ""),
        started=bool(status.get("startTime")),
        deleting=bool((pod.get("metadata") or {}).get("deletionTimestamp")),
        running=state.get("running") is not None,
        waiting_reason=str(waiting.get("reason") or ""),
        waiting_message=str(waiting.get("message") or ""),
        terminated_reason=str(terminated.get("reason") or ""),
        terminated_message=str(terminated.get("message") or ""),
        exit_code=int(exit_code) if exit_code is not None else None,
        unschedulable=(
            str(scheduled.get("message") or "no node fits the pod")
            if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
            else ""
        ),
        disruption=(
            f"{disruption.get('reason') or 'Disrupted'}: {disruption.get('message') or ''}".rstrip(": ")
            if disruption.get("status") == "True"
            else ""
        ),
    )


def _main_container_status(statuses: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for status in statuses:
        if status.get("name") == MAIN_CONTAINER:
            return status
    return statuses[0] if statuses else None


def ending_of(observation: PodObservation, *, memory_limit: str = "") -> Ending | None:
    """How a finished pod ended; None while it has not finished.

    `memory_limit` is the container's limit as a quantity, named when it ran out of memory.
    """
    if not observation.finished:
        return None
    exit_code = observation.exit_code
    if observation.phase == "Succeeded":
        return Ending(exit_code=exit_code or 0, reason="Completed")
    killed = KILLED_EXIT_CODE if exit_code is None else exit_code
    if observation.reason == "DeadlineExceeded":
        return Ending(
            exit_code=killed,
            reason="DeadlineExceeded",
            message=f"the pod ran past its deadline: {observation.message or 'activeDeadlineSeconds'}",
            timed_out=True,
        )
    if observation.terminated_reason == "OOMKilled":
        limit = f"limit {memory_limit}" if memory_limit else "no memory limit set, the node ran out"
        return Ending(exit_code=killed, reason="OOMKilled", message=f"out of memory: {limit}")
    if observation.terminated_message.startswith(RUNTIME_FAILURE_PREFIX):
        return Ending(exit_code=killed, reason="RuntimeFailure", message=observation.terminated_message)
    if observation.reason == "Evicted":
        return Ending(
            exit_code=killed,
            reason="Evicted",
            message=f"the pod was evicted: {observation.message or 'no reason given'}",
            retryable=True,
        )
    if observation.terminated_reason in _START_FAILURES:
        return Ending(exit_code=killed, reason="StartError", message=_start_failure(observation))
    if observation.disruption or (observation.reason and exit_code is None):
        cause = observation.disruption or f"{observation.reason}: {observation.message}".rstrip(": ")
        return Ending(
            exit_code=killed,
            reason=observation.reason or "Disrupted",
            message=f"the cluster stopped the pod ({cause})",
            retryable=True,
        )
    if exit_code is None:
        return Ending(exit_code=killed, reason="Failed", message="the pod failed without an exit code")
    return Ending(exit_code=exit_code, reason=observation.terminated_reason or "Error")


def _start_failure(observation: PodObservation) -> str:
    message = f"the container could not start: {observation.terminated_message or 'no reason given'}"
    if "executable file not found" in observation.terminated_message or "no such file" in (
        observation.terminated_message.lower()
    ):
        message += " (the Kubernetes launcher starts the task through python3: the image needs it)"
    return message


def trouble_of(observation: PodObservation, *, image: str) -> Trouble | None:
    """Why an unfinished pod does not progress; None when it is fine or finished."""
    if observation.finished:
        return None
    waiting = observation.waiting_reason
    if waiting in _PULL_REASONS:
        detail = observation.waiting_message or waiting
        return Trouble(
            reason="ImagePull",
            message=f"cannot pull image {image!r}: {waiting}: {detail}",
            fatal=waiting in _FATAL_REASONS,
        )
    if waiting in _CONFIG_REASONS:
        return Trouble(
            reason="Configuration",
            message=f"the container cannot be created: {observation.waiting_message or waiting}",
        )
    if observation.phase == "Unknown":
        return Trouble(reason="NodeLost", message=f"the pod's node stopped reporting: {observation.message}")
    if observation.unschedulable:
        return Trouble(
            reason="Unschedulable", message=f"the pod cannot be scheduled: {observation.unschedulable}"
        )
    return None


def ending_for_trouble(trouble: Trouble, *, waited_seconds: float) -> Ending:
    """The ending to report when the launcher gives up on a troubled pod."""
    message = trouble.message if trouble.fatal else f"{trouble.message} (for {waited_seconds:.0f}s)"
    if trouble.reason == "NodeLost":
        return Ending(exit_code=KILLED_EXIT_CODE, reason=trouble.reason, message=message, retryable=True)
    return Ending(exit_code=NOT_STARTED_EXIT_CODE, reason=trouble.reason, message=message)


def vanished_ending() -> Ending:
    """The ending of a pod that disappeared before it finished (deleted by someone else, a lost node)."""
    return Ending(
        exit_code=KILLED_EXIT_CODE,
        reason="Deleted",
        message="the pod was deleted before it finished (by someone else, or with its node)",
        retryable=True,
    )
