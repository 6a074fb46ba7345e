"""Test doubles around the Kubernetes API emulator: a kubelet played by the test, and validation.

`kmock`'s emulator stores pods and streams watch events but runs nothing: `FakeKubelet`
does what a node would, through the same API the launcher uses. It patches a pod's status
(Running, Succeeded/Failed with the container's exit code and reason, waiting reasons),
serves its log (`PodLog`: read in one go, or followed while the container runs), and can
*run* the pod's container command on this machine with the pod's environment. Where the
kernel allows it, the run happens in a private mount namespace with a fresh tmpfs at the
attempt volume's mount path, as the pod's emptyDir would be, so the pod runtime really
starts from an empty directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import kmock
import kubernetes_validate

from services.executor.launchers.kubernetes.manifest import ATTEMPT_VOLUME
from services.executor.launchers.kubernetes.pod_runtime import TERMINATION_LOG_ENV

NOW = "2025-01-01T00:00:00Z"
OLDEST_KUBERNETES = "1.29"


def validate(manifest: dict[str, Any]) -> None:
    """Fail unless `manifest` is valid, unknown fields included, for old and new Kubernetes."""
    for version in (OLDEST_KUBERNETES, kubernetes_validate.latest_version()):
        kubernetes_validate.validate(manifest, version, strict=True)


@cache
def can_isolate() -> bool:
    """True when `unshare -m` can give a process a private tmpfs (root, or a permissive sandbox)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, check=False
    )
    return probe.returncode == 0


def container(state: dict[str, Any], *, name: str = "main") -> dict[str, Any]:
    return {"name": name, "image": "img", "imageID": "", "ready": False, "restartCount": 0, "state": state}


def running() -> dict[str, Any]:
    return {
        "phase": "Running",
        "startTime": NOW,
        "containerStatuses": [container({"running": {"startedAt": NOW}})],
    }


def waiting(reason: str, message: str = "", *, started: bool = True) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Pending",
        "containerStatuses": [container({"waiting": {"reason": reason, "message": message}})],
    }
    if started:
        status["startTime"] = NOW
    return status


def finished(
    exit_code: int, *, reason: str = "", message: str = "", phase: str = "", pod_reason: str = ""
) -> dict[str, Any]:
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": NOW,
        "finishedAt": NOW,
    }
    if message:
        terminated["message"] = message
    status: dict[str, Any] = {
        "phase": phase or ("Succeeded" if exit_code == 0 else "Failed"),
        "startTime": NOW,
        "containerStatuses": [container({"terminated": terminated})],
    }
    if pod_reason:
        status["reason"] = pod_reason
    return status


class PodLog:
    """The main container's log of one pod, as the API server serves it.

    A read in one go gets what the container wrote so far; a follow read (`follow=true`)
    gets that, then what it writes next as it writes it, until the container has
    terminated (`end`, which `FakeKubelet.patch` calls) or the connection is cut
    (`break_off`). Before the container started, both are refused with a 400.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.started = False
        self.ended = False
        self.ends_with_container = True
        """Whether `FakeKubelet.patch` ends the follow streams once the container terminated
        (False: they stay open, as a stuck stream would)."""
        self.refuse_follow = False
        """Whether follow reads are refused (a 500), as by an API server that cannot reach the node."""
        self.lost = False
        """Whether the log is gone (with its node): reads of either kind get a 404."""
        self.follows = 0
        """Follow reads served."""
        self.reads = 0
        """Reads in one go served."""
        self._changed = asyncio.Event()
        self._breaks = 0

    def write(self, data: bytes) -> None:
        self.data += data
        self._signal()

    def end(self) -> None:
        """The container terminated: follow streams end once they sent everything."""
        self.ended = True
        self._signal()

    def break_off(self) -> None:
        """Cut the follow streams open now, as a network failure would."""
        self._breaks += 1
        self._signal()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def serve(self, request: kmock.Request) -> kmock.Payload:
        # Errors are raised: kmock answers them with a Kubernetes Status of their code.
        if self.lost:
            raise kmock.KubernetesNotFoundError(message="the pod's log is gone")
        if not self.started:
            raise kmock.KubernetesError(
                status=400,
                reason="BadRequest",
                message='container "main" in pod is waiting to start: ContainerCreating',
            )
        if str(request.params.get("follow", "")).lower() != "true":
            self.reads += 1
            return bytes(self.data)
        if self.refuse_follow:
            raise kmock.KubernetesError(status=500, reason="InternalError", message="cannot reach the node")
        self.follows += 1
        return self._follow(request)

    async def _follow(self, request: kmock.Request) -> AsyncIterator[bytes]:
        yield b""  # the headers, at once
        sent, breaks = 0, self._breaks
        while True:
            changed = self._changed
            if breaks != self._breaks:
                # kmock's request wraps aiohttp's, whose transport is the connection to cut.
                assert request._raw_request is not None
                assert request._raw_request.transport is not None
                request._raw_request.transport.abort()
                raise ConnectionResetError("the follow stream broke off")
            if sent < len(self.data):
                chunk = bytes(self.data[sent:])
                sent += len(chunk)
                yield chunk
            elif self.ended:
                return
            else:
                await changed.wait()


class FakeKubelet:
    """Plays a node for the pods in `namespace`; see the module docstring."""

    def __init__(
        self, core: Any, emulator: kmock.KubernetesEmulator, *, namespace: str, scratch: Path
    ) -> None:
        self.core = core
        self.emulator = emulator
        self.namespace = namespace
        self.scratch = scratch
        self.path_prefix = ""
        """Prepended to PATH when running a container (which python3 the "image" has)."""
        self.hidden: list[Path] = []
        """Directories of this machine a container must not see (each gets an empty tmpfs
        over it, as far as the kernel allows: see `can_isolate`)."""
        self.logs: dict[str, PodLog] = {}
        path = re.compile(rf"/api/v1/namespaces/{re.escape(namespace)}/pods/([^/]+)/log")
        emulator["get"][path] << (lambda request: self.log(str(request.name)).serve(request))

    def log(self, name: str) -> PodLog:
        """The log of pod `name`'s main container."""
        return self.logs.setdefault(name, PodLog())

    async def pods(self) -> list[dict[str, Any]]:
        response = await asyncio.to_thread(
            self.core.list_namespaced_pod, self.namespace, _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    async def pod(self, within: float = 5.0) -> dict[str, Any]:
        """The first pod to appear."""
        found: list[dict[str, Any]] = []

        async def appeared() -> bool:
            found[:] = await self.pods()
            return bool(found)

        await eventually(appeared, within)
        return found[0]

    async def read(self, name: str) -> dict[str, Any] | None:
        try:
            response = await asyncio.to_thread(
                self.core.read_namespaced_pod, name, self.namespace, _preload_content=False
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise
        pod: dict[str, Any] = json.loads(response.data)
        return pod

    async def gone(self, name: str, within: float = 5.0) -> None:
        async def vanished() -> bool:
            return await self.read(name) is None

        await eventually(vanished, within)

    async def patch(self, name: str, status: dict[str, Any]) -> None:
        """Set the pod's status; its log is readable once its container started, and its
        follow streams end once the container terminated."""
        log = self.log(name)
        states = [item.get("state") or {} for item in status.get("containerStatuses") or []]
        log.started = log.started or any("running" in state or "terminated" in state for state in states)
        terminated = status.get("phase") in ("Succeeded", "Failed") or any(
            "terminated" in state for state in states
        )

        def patch() -> None:
            # Read in full, so the connection goes back to the pool: an unread response left to
            # the garbage collector may leave its socket unclosed (a ResourceWarning, an error here).
            self.core.patch_namespaced_pod_status(
                name, self.namespace, {"status": status}, _preload_content=False
            ).read()

        await asyncio.to_thread(patch)
        if terminated and log.ends_with_container:
            log.end()

    async def delete(self, name: str) -> None:
        """Delete the pod as someone else would; its container is killed."""
        # Preloaded, read in full (see `patch`).
        await asyncio.to_thread(self.core.delete_namespaced_pod, name, self.namespace)
        log = self.log(name)
        if log.ends_with_container:
            log.end()

    async def run(self, pod: dict[str, Any]) -> tuple[int, bytes, str]:
        """Run the pod's container here, its output going to its log as it comes:
        (exit code, output, termination message)."""
        spec = pod["spec"]
        main = spec["containers"][0]
        mount = next(m["mountPath"] for m in main["volumeMounts"] if m["name"] == ATTEMPT_VOLUME)
        termination_log = self.scratch / f"{pod['metadata']['name']}.termination-log"
        env = {item["name"]: item["value"] for item in main.get("env", []) if "value" in item}
        env["PATH"] = os.pathsep.join(part for part in (self.path_prefix, os.environ["PATH"]) if part)
        env[TERMINATION_LOG_ENV] = str(termination_log)
        argv = [*main["command"], *main["args"]]
        if can_isolate():
            hide = "".join(f"mount -t tmpfs tmpfs {shlex.quote(str(path))} && " for path in self.hidden)
            script = f'{hide}mount -t tmpfs tmpfs "$0" && exec "$@"'
            argv = ["unshare", "-m", "sh", "-c", script, mount, *argv]
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
        )
        assert process.stdout is not None
        log, output = self.log(pod["metadata"]["name"]), bytearray()
        while chunk := await process.stdout.read(1 << 16):
            log.write(chunk)
            output += chunk
        await process.wait()
        assert process.returncode is not None
        message = termination_log.read_text() if termination_log.exists() else ""
        return process.returncode, bytes(output), message

    async def complete(self, pod: dict[str, Any]) -> int:
        """Run the pod to its end as a node would: Running, the container (its log), the end."""
        name = pod["metadata"]["name"]
        await self.patch(name, running())
        code, _, message = await self.run(pod)
        await self.patch(name, finished(code, message=message))
        return code


async def eventually(predicate: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Return once `await predicate()` is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
