"""The Kubernetes launcher: one Pod per task attempt.

`launch` opens the attempt directory on the file exchange, creates the pod (see
`manifest`), follows it (watch events plus reads with backoff) until it ends, is stuck
for too long, times out or is canceled, and deletes it. Its container's log is appended
to the attempt's log as it runs (see `log_follower`) and completed, when that stream did
not reach the log's end, by one read once the pod is done. The `kubernetes` client is
synchronous: every call runs in a worker thread, one thread holds the watch (see
`watcher`) and one per running pod its log, so the event loop stays free.

Failures of the task or of its pod (a non-zero exit, an image that cannot be pulled, out
of memory, an eviction) end the launch with a `PodLaunchOutcome` saying why. Failures of
the Kubernetes API itself (unreachable, 5xx, throttling for longer than the configured
outage) raise `Unavailable`, so the dispatch is redelivered; the pod is deleted first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from services.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.executor.launchers.base import LaunchOutcome, LaunchRequest
from services.executor.launchers.kubernetes import pod_runtime
from services.executor.launchers.kubernetes.config import KubernetesLauncherConfig
from services.executor.launchers.kubernetes.exchange import ExchangeSession, FileExchange
from services.executor.launchers.kubernetes.failures import (
    NOT_STARTED_EXIT_CODE,
    Ending,
    PodObservation,
    Trouble,
    ending_for_trouble,
    ending_of,
    observe,
    trouble_of,
    vanished_ending,
)
from services.executor.launchers.kubernetes.log_follower import LogFollower
from services.executor.launchers.kubernetes.manifest import (
    ATTEMPT_KEY_ANNOTATION,
    EXECUTOR_LABEL,
    MAIN_CONTAINER,
    MANAGED_BY_LABEL,
    PodPlan,
    PodTask,
    build_pod_manifest,
    fallback_pod_name,
    label_value,
    pod_name,
)
from services.executor.launchers.kubernetes.watcher import PodEvents, PodWatcher

logger = logging.getLogger(__name__)

CANCELED_EXIT_CODE = 143
_CHUNK = 1 << 16
_CALL_TIMEOUT = (10.0, 60.0)
_LOG_TIMEOUT = (10.0, 600.0)
_CREATE_TRIES = 3


@dataclass(frozen=True)
class PodLaunchOutcome(LaunchOutcome):
    """A `LaunchOutcome` with the cluster's short cause. Its `message` names the image,
    limit or object at fault; `retryable` is set for evictions, preemptions and lost nodes."""

    reason: str = ""
    """A short cause: Completed, Error, OOMKilled, Evicted, ImagePull, DeadlineExceeded, Canceled, …"""


@dataclass
class _Launch:
    canceled: asyncio.Event
    events: PodEvents | None = None


class KubernetesLauncher:
    """A `Launcher` running each task attempt as a Kubernetes Pod; see the module docstring.

    Use it as `async with` (or `start()` … `aclose()`): it runs the file exchange the pods
    call and the watch on its pods.
    """

    def __init__(
        self,
        api_client: Any,
        config: KubernetesLauncherConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            api_client: a `kubernetes.client.ApiClient` (see `make_api_client`); its owner closes it.
            config: namespaces, timeouts, the exchange's address; the defaults when None.
            clock: monotonic seconds, for the launcher's own deadlines.
        """
        self._config = config or KubernetesLauncherConfig()
        self._core = client.CoreV1Api(api_client)
        self._clock = clock
        self._exchange = FileExchange(
            host=self._config.exchange_host,
            port=self._config.exchange_port,
            advertise_url=self._config.exchange_url,
            max_output_bytes=self._config.max_output_bytes,
        )
        selector = (
            f"{EXECUTOR_LABEL}={label_value(self._config.executor_id)}"
            if self._config.executor_id
            else f"{MANAGED_BY_LABEL}=sluice"
        )
        self._watcher = (
            PodWatcher(
                self._core,
                namespace=self._config.namespace,
                label_selector=selector,
                server_timeout_seconds=self._config.watch_timeout_seconds,
                read_timeout_seconds=self._config.watch_timeout_seconds + 30.0,
            )
            if self._config.watch
            else None
        )
        self._runtime_command = (
            self._config.python,
            "-c",
            Path(pod_runtime.__file__).read_text(encoding="utf-8"),
        )
        self._launches: dict[str, _Launch] = {}
        self._started = False

    @property
    def exchange_url(self) -> str:
        """The base URL task pods reach the file exchange at."""
        return self._exchange.url

    async def start(self) -> None:
        if self._started:
            return
        await self._exchange.start()
        if self._watcher is not None:
            await self._watcher.start()
        self._started = True

    async def aclose(self) -> None:
        """Stop the watch and the exchange; stop running launches (cancel their tasks) first."""
        self._started = False
        if self._watcher is not None:
            await self._watcher.aclose()
        await self._exchange.aclose()

    async def __aenter__(self) -> KubernetesLauncher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        """Run `request` as a pod to its end; see the module docstring.

        The request's `pod` gives resources, platform config and input values; without
        it, the ids come from the `run_id/task_id/attempt` key and the pod gets no
        resources and no platform options. Raises FailedPrecondition when the launcher is
        not started or the key is already running, Unavailable when the API keeps failing.
        """
        if not self._started:
            raise FailedPrecondition("the Kubernetes launcher is not started")
        if request.key in self._launches:
            raise FailedPrecondition(f"launch {request.key!r} is already running")
        launch = _Launch(canceled=asyncio.Event())
        self._launches[request.key] = launch
        try:
            task = request.pod or PodTask.from_key(request.key)
            return await self._launch(request, task, launch)
        finally:
            del self._launches[request.key]

    async def cancel(self, key: str) -> bool:
        launch = self._launches.get(key)
        if launch is None:
            return False
        launch.canceled.set()
        if launch.events is not None:
            launch.events.wake()
        return True

    async def _launch(self, request: LaunchRequest, task: PodTask, launch: _Launch) -> LaunchOutcome:
        attempt_dir = request.cwd.parent
        tmp_dir = request.tmp_dir or attempt_dir / "tmp"
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        with request.log_path.open("ab", buffering=0) as log:
            if not attempt_dir.is_absolute() or len(attempt_dir.parts) < 3:
                message = f"the attempt directory {str(attempt_dir)!r} cannot be mounted in a pod"
                _note(log, message)
                return PodLaunchOutcome(exit_code=NOT_STARTED_EXIT_CODE, reason="InvalidPod", message=message)
            session = self._exchange.open(
                attempt_dir=attempt_dir, skip=(request.cwd, tmp_dir, request.log_path)
            )
            try:
                plan = PodPlan(
                    name=pod_name(task.run_id, task.task_id, task.attempt),
                    namespace=self._config.namespace,
                    task=task,
                    image=request.image,
                    argv=request.argv,
                    runtime_command=self._runtime_command,
                    attempt_dir=PurePosixPath(attempt_dir),
                    cwd=PurePosixPath(request.cwd),
                    tmp_dir=PurePosixPath(tmp_dir),
                    exchange_url=session.url,
                    env=request.env,
                    timeout_seconds=request.timeout_seconds,
                    service_account=self._config.service_account,
                    executor_id=self._config.executor_id,
                    image_pull_policy=self._config.image_pull_policy,
                )
                return await self._run_pod(plan, request, launch, session, log)
            finally:
                self._exchange.close(session)

    async def _run_pod(
        self,
        plan: PodPlan,
        request: LaunchRequest,
        launch: _Launch,
        session: ExchangeSession,
        log: BinaryIO,
    ) -> LaunchOutcome:
        try:
            manifest = build_pod_manifest(plan)
        except InvalidArgument as error:
            _note(log, f"cannot build the task's pod: {error.message}")
            return PodLaunchOutcome(
                exit_code=NOT_STARTED_EXIT_CODE, reason="InvalidPod", message=error.message
            )
        created = await self._create(manifest, plan.task, log)
        if isinstance(created, PodLaunchOutcome):
            return created
        name = str(created["metadata"]["name"])
        _note(log, f"kubernetes launcher: pod {plan.namespace}/{name}, image {plan.image!r}")
        launch.events = self._watcher.subscribe(name) if self._watcher is not None else PodEvents()
        memory = manifest["spec"]["containers"][0].get("resources", {}).get("limits", {}).get("memory", "")
        follower = LogFollower(
            self._core, pod=name, namespace=plan.namespace, container=MAIN_CONTAINER, log=log
        )
        try:
            ending, still_running = await self._follow(
                name,
                created,
                plan=plan,
                request=request,
                launch=launch,
                memory_limit=memory,
                log=log,
                follower=follower,
            )
            if not still_running:
                # The API server ends the stream once it has sent the terminated container's log.
                await follower.wait(self._config.log_drain_seconds)
        except BaseException:
            # Canceled from outside, or the API is gone: the pod must not outlive the launch.
            follower.stop()
            await asyncio.shield(self._delete_quietly(name, grace=self._config.delete_grace_seconds))
            await asyncio.shield(follower.aclose())
            raise
        finally:
            if self._watcher is not None:
                self._watcher.unsubscribe(name)
        await follower.aclose()
        await self._collect_log(name, log, follower)
        if still_running:
            await self._delete_quietly(name, grace=self._config.delete_grace_seconds)
        elif self._config.delete_finished_pods:
            await self._delete_quietly(name, grace=0)
        outcome = _outcome(ending, session, pod=name, exchange_url=self._exchange.url)
        if outcome.message:
            _note(log, outcome.message)
        return outcome

    async def _follow(
        self,
        name: str,
        pod: dict[str, Any] | None,
        *,
        plan: PodPlan,
        request: LaunchRequest,
        launch: _Launch,
        memory_limit: str,
        log: BinaryIO,
        follower: LogFollower,
    ) -> tuple[Ending, bool]:
        """Wait for the pod's end, following its log once its container started; (how it
        ended, whether it still runs and must be stopped)."""
        config = self._config
        assert launch.events is not None
        uid = ((pod or {}).get("metadata") or {}).get("uid")
        created_at = self._clock()
        with contextlib.suppress(Unavailable):
            # What changed between the creation and the subscription to its events.
            pod = await self._read(name)
        started_at: float | None = None
        trouble_since: dict[str, float] = {}
        interval = config.poll_initial_seconds
        failing_since: float | None = None
        last = PodObservation()
        while True:
            now = self._clock()
            if pod is None:
                vanished = vanished_ending()
                if last.disruption:
                    vanished = replace(vanished, message=f"{vanished.message} ({last.disruption})")
                return vanished, False
            last = observe(pod)
            ending = ending_of(last, memory_limit=memory_limit)
            if ending is not None:
                return ending, False
            if launch.canceled.is_set():
                _note(log, "canceled: deleting the pod")
                return Ending(exit_code=CANCELED_EXIT_CODE, reason="Canceled"), True
            if last.started and started_at is None:
                started_at = now
            if last.container_started:
                follower.start()
            trouble = trouble_of(last, image=plan.image)
            if trouble is None and not last.started:
                trouble = Trouble(reason="NotStarted", message="the pod did not start")
            given_up = self._give_up(trouble, trouble_since, now=now, created_at=created_at)
            if given_up is not None:
                _note(log, f"giving up on the pod: {given_up.message}")
                return given_up, True
            timeout = request.timeout_seconds
            if (
                started_at is not None
                and timeout is not None
                and now - started_at > timeout + config.deadline_margin_seconds
            ):
                message = f"the pod ran past its timeout of {timeout:g}s and was stopped by the executor"
                _note(log, message)
                return Ending(
                    exit_code=CANCELED_EXIT_CODE, reason="DeadlineExceeded", message=message, timed_out=True
                ), True
            await launch.events.wait(interval)
            update = launch.events.take()
            if update is not None and (
                uid is None or (update[0].get("metadata") or {}).get("uid") in (None, uid)
            ):
                pod = None if update[1] else update[0]
                continue
            if launch.canceled.is_set():
                continue
            interval = min(interval * 1.5, config.poll_max_seconds)
            try:
                pod = await self._read(name)
                failing_since = None
            except Unavailable as error:
                failing_since = failing_since if failing_since is not None else now
                if now - failing_since > config.api_outage_seconds:
                    raise
                logger.warning("cannot read pod %s, trying again: %s", name, error)

    def _give_up(
        self, trouble: Trouble | None, since: dict[str, float], *, now: float, created_at: float
    ) -> Ending | None:
        if trouble is None:
            since.clear()
            return None
        for reason in [reason for reason in since if reason != trouble.reason]:
            del since[reason]
        first = since.setdefault(trouble.reason, now)
        config = self._config
        limits = {
            "ImagePull": (first, config.pull_grace_seconds),
            "Configuration": (first, config.pull_grace_seconds),
            "NodeLost": (first, config.node_lost_grace_seconds),
            "Unschedulable": (created_at, config.schedule_timeout_seconds),
            "NotStarted": (created_at, config.schedule_timeout_seconds),
        }
        start, limit = limits.get(trouble.reason, (first, config.pull_grace_seconds))
        if trouble.fatal or now - start >= limit:
            return ending_for_trouble(trouble, waited_seconds=now - start)
        return None

    async def _create(
        self, manifest: dict[str, Any], task: PodTask, log: BinaryIO
    ) -> dict[str, Any] | PodLaunchOutcome:
        """The created pod; an outcome when the API refuses it. A pod of the same attempt
        left by an earlier executor (a redelivered dispatch) is replaced."""
        metadata = manifest["metadata"]
        for _ in range(_CREATE_TRIES):
            try:
                return await self._call(self._core.create_namespaced_pod, self._config.namespace, manifest)
            except ApiException as error:
                if error.status != 409:
                    message = f"the Kubernetes API refused the pod: {_api_message(error)}"
                    _note(log, message)
                    return PodLaunchOutcome(
                        exit_code=NOT_STARTED_EXIT_CODE, reason="Rejected", message=message
                    )
            existing = await self._read(metadata["name"])
            if existing is None:
                continue
            owner = ((existing.get("metadata") or {}).get("annotations") or {}).get(ATTEMPT_KEY_ANNOTATION)
            if owner == task.key:
                _note(log, f"deleting pod {metadata['name']}, left by an earlier run of this attempt")
                await self._delete_quietly(metadata["name"], grace=0)
                await self._wait_gone(metadata["name"])
            else:
                metadata["name"] = fallback_pod_name(task)
        raise Unavailable(f"could not create a pod for attempt {task.key} in {_CREATE_TRIES} tries")

    async def _wait_gone(self, name: str) -> None:
        deadline = self._clock() + self._config.delete_grace_seconds + 30.0
        interval = self._config.poll_initial_seconds
        while await self._read(name) is not None:
            if self._clock() > deadline:
                raise Unavailable(f"pod {name} is still there after it was deleted")
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, self._config.poll_max_seconds)

    async def _read(self, name: str) -> dict[str, Any] | None:
        """The pod's JSON; None when it does not exist."""
        try:
            return await self._call(self._core.read_namespaced_pod, name, self._config.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise Unavailable(f"cannot read pod {name}: {_api_message(error)}") from None

    async def _delete_quietly(self, name: str, *, grace: float) -> None:
        try:
            await self._call(
                self._core.delete_namespaced_pod,
                name,
                self._config.namespace,
                grace_period_seconds=max(0, round(grace)),
                propagation_policy="Background",
            )
        except ApiException as error:
            if error.status != 404:
                logger.warning("cannot delete pod %s: %s", name, _api_message(error))
        except Unavailable as error:
            logger.warning("cannot delete pod %s: %s", name, error)

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call the client in a thread; the response's JSON. ApiException for 4xx (but 408 and
        429), Unavailable when the API cannot be reached or fails."""
        try:
            response = await asyncio.to_thread(
                method, *args, _preload_content=False, _request_timeout=_CALL_TIMEOUT, **kwargs
            )
        except ApiException as error:
            if error.status in (0, 408, 429) or error.status is None or error.status >= 500:
                raise Unavailable(f"the Kubernetes API failed: {_api_message(error)}") from None
            raise
        except (HTTPError, OSError) as error:
            raise Unavailable(f"the Kubernetes API cannot be reached: {error}") from None
        data = json.loads(response.data or b"{}")
        return data if isinstance(data, dict) else {}

    async def _collect_log(self, name: str, log: BinaryIO, follower: LogFollower) -> None:
        """Complete the main container's log in `log`, ending it with a newline; a note when
        it cannot be read.

        Unless the follower's stream reached its end, the log is read in one go and the
        bytes the follower appended are skipped: a container's log only grows.
        """
        ends_with_newline = follower.ends_with_newline

        def copy() -> None:
            nonlocal ends_with_newline
            response = self._core.read_namespaced_pod_log(
                name,
                self._config.namespace,
                container=MAIN_CONTAINER,
                _preload_content=False,
                _request_timeout=_LOG_TIMEOUT,
            )
            skip = follower.written
            try:
                for chunk in response.stream(_CHUNK):
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                    log.write(chunk)
                    ends_with_newline = chunk.endswith(b"\n")
            finally:
                response.release_conn()

        problem = ""
        if not follower.complete:
            try:
                await asyncio.to_thread(copy)
            except ApiException as error:
                problem = f"the pod's log is not available: {_api_message(error)}"
            except (HTTPError, OSError) as error:
                problem = f"the pod's log could not be read: {error}"
        if not ends_with_newline:
            log.write(b"\n")
        if problem:
            _note(log, problem)


def _outcome(ending: Ending, session: ExchangeSession, *, pod: str, exchange_url: str) -> PodLaunchOutcome:
    reason, message, exit_code = ending.reason, ending.message, ending.exit_code
    if exit_code == 0 and not session.outputs_received:
        exit_code = pod_runtime.EXIT_STAGING_FAILED
        reason, message = "RuntimeFailure", "the pod succeeded but its outputs never reached the executor"
    elif exit_code == pod_runtime.EXIT_STAGING_FAILED and not session.inputs_sent and not message:
        reason = "RuntimeFailure"
        message = (
            f"the pod could not fetch its inputs from the executor at {exchange_url}: "
            "is that address reachable from the cluster?"
        )
    return PodLaunchOutcome(
        exit_code=exit_code,
        timed_out=ending.timed_out,
        canceled=ending.reason == "Canceled",
        reason=reason,
        message=message,
        retryable=ending.retryable,
        pod_name=pod,
    )


def _api_message(error: ApiException) -> str:
    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        body = {}
    detail = body.get("message") if isinstance(body, dict) else None
    return f"{error.status} {error.reason}: {detail}" if detail else f"{error.status} {error.reason}"


def _note(log: BinaryIO, message: str) -> None:
    log.write(f"[sluice] {message}\n".encode())
