"""Sluice's task runtime: runs inside a task's pod, around the task's own command.

The Kubernetes launcher ships this file inline, as `python3 -c <this source> <argv…>`, so
any image with Python 3.7 or later runs tasks: nothing here but the standard library, and
no syntax or runtime typing newer than 3.7. The executor serves each attempt's files over
HTTP (see `exchange`), at the URL in SLUICE_RUNTIME_EXCHANGE_URL (which carries the
attempt's secret token). The runtime:

1. fetches `<url>/inputs`, a tar of the executor's attempt directory (staged input
   artifacts, output directories, the ExecutorInput), and unpacks it at the same absolute
   path, SLUICE_RUNTIME_ATTEMPT_DIR, where the pod mounts an empty volume;
2. runs the task's command in SLUICE_RUNTIME_CWD with TMPDIR=SLUICE_RUNTIME_TMPDIR, its
   output going to the container's (the pod log), SIGTERM and SIGINT passed on to it;
3. when the task succeeded, sends `<url>/outputs`: a tar of the files the task created or
   changed in the attempt directory, its working and temporary directories left out.

It exits with the task's exit code (128+N when a signal N killed it, 127 when it could not
start), or EXIT_STAGING_FAILED when files could not be exchanged; then the container's
termination message starts with RUNTIME_FAILURE_PREFIX and says why.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

EXCHANGE_URL_ENV = "SLUICE_RUNTIME_EXCHANGE_URL"
ATTEMPT_DIR_ENV = "SLUICE_RUNTIME_ATTEMPT_DIR"
CWD_ENV = "SLUICE_RUNTIME_CWD"
TMPDIR_ENV = "SLUICE_RUNTIME_TMPDIR"
TERMINATION_LOG_ENV = "SLUICE_RUNTIME_TERMINATION_LOG"
RETRY_SECONDS_ENV = "SLUICE_RUNTIME_RETRY_SECONDS"
RUNTIME_ENV_PREFIX = "SLUICE_RUNTIME_"
RUNTIME_FAILURE_PREFIX = "sluice runtime: "
EXIT_STAGING_FAILED = 70
EXIT_CANNOT_START = 127

_TERMINATION_LOG = "/dev/termination-log"
_CHUNK = 1 << 16
_TRIES = 4
_RETRY_SECONDS = 1.0
_SOCKET_TIMEOUT = 120.0


class StagingError(Exception):
    """Files could not be exchanged with the executor."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    """Fetch inputs, run `argv`, send outputs; the exit code (see the module docstring)."""
    termination_log = environ.get(TERMINATION_LOG_ENV) or _TERMINATION_LOG
    missing = [name for name in (EXCHANGE_URL_ENV, ATTEMPT_DIR_ENV) if not environ.get(name)]
    if missing:
        return _fail(f"{', '.join(missing)} not set", termination_log)
    url = environ[EXCHANGE_URL_ENV].rstrip("/")
    attempt_dir = environ[ATTEMPT_DIR_ENV]
    cwd = environ.get(CWD_ENV) or attempt_dir
    tmp_dir = environ.get(TMPDIR_ENV) or os.path.join(attempt_dir, "tmp")
    pause = float(environ.get(RETRY_SECONDS_ENV) or _RETRY_SECONDS)
    try:
        _with_retries(lambda: fetch_inputs(url + "/inputs", attempt_dir), pause)
    except StagingError as error:
        return _fail(f"cannot fetch the task's inputs from {_where(url)}: {error}", termination_log)
    before = snapshot(attempt_dir)
    for path in (cwd, tmp_dir):
        os.makedirs(path, exist_ok=True)
    code = run_task(argv, cwd=cwd, env=task_env(environ, tmp_dir))
    if code != 0:
        return code
    try:
        _with_retries(lambda: send_outputs(url + "/outputs", attempt_dir, before, skip=(cwd, tmp_dir)), pause)
    except StagingError as error:
        return _fail(f"cannot send the task's outputs to {_where(url)}: {error}", termination_log)
    return 0


def fetch_inputs(url: str, attempt_dir: str) -> None:
    """Unpack the tar at `url` into `attempt_dir`."""
    connection, path = _connect(url)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        _check(response)
        with tarfile.open(fileobj=response, mode="r|") as archive:
            for member in archive:
                if not (member.isfile() or member.isdir()) or not _safe_name(member.name):
                    raise StagingError(f"refusing tar member {member.name!r}", retryable=False)
                if hasattr(tarfile, "data_filter"):
                    archive.extract(member, attempt_dir, set_attrs=False, filter="data")
                else:
                    archive.extract(member, attempt_dir, set_attrs=False)
    except (OSError, http.client.HTTPException, tarfile.TarError) as error:
        raise StagingError(f"{type(error).__name__}: {error}") from error
    finally:
        connection.close()


def snapshot(root: str) -> dict[str, tuple[int, int] | None]:
    """Every path under `root`: (size, mtime) of files, None for directories."""
    seen: dict[str, tuple[int, int] | None] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames:
            seen[os.path.relpath(os.path.join(directory, name), root)] = None
        for name in filenames:
            path = os.path.join(directory, name)
            stat = os.stat(path)
            seen[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return seen


def changed(
    root: str, before: Mapping[str, tuple[int, int] | None], *, skip: tuple[str, ...]
) -> Iterator[tuple[str, str]]:
    """(path, relative name) of what is new or changed under `root` since `before`."""
    skipped = {os.path.normpath(path) for path in skip}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            name for name in dirnames if os.path.normpath(os.path.join(directory, name)) not in skipped
        )
        for name in dirnames:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if relative not in before:
                yield path, relative
        for name in sorted(filenames):
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            try:
                stat = os.stat(path)
            except OSError:
                continue  # a dangling symbolic link: nothing to send
            if before.get(relative) != (stat.st_size, stat.st_mtime_ns):
                yield path, relative


def send_outputs(
    url: str, attempt_dir: str, before: Mapping[str, tuple[int, int] | None], *, skip: tuple[str, ...]
) -> None:
    """Stream a tar of what changed under `attempt_dir` to `url` (chunked, never on disk)."""
    read_fd, write_fd = os.pipe()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            # Nested: the formatter would parenthesise one `with`, which needs Python 3.9.
            with os.fdopen(write_fd, "wb") as sink:  # noqa: SIM117
                with tarfile.open(fileobj=sink, mode="w|", dereference=True) as archive:
                    for path, relative in changed(attempt_dir, before, skip=skip):
                        archive.add(path, arcname=relative, recursive=False)
        except BaseException as error:  # reported by the sending thread
            failures.append(error)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    connection, path = _connect(url)
    try:
        with os.fdopen(read_fd, "rb") as source:
            chunks = iter(lambda: source.read(_CHUNK), b"")
            connection.request("PUT", path, body=chunks, headers={"Content-Type": "application/x-tar"})
            response = connection.getresponse()
            _check(response)
    except (OSError, http.client.HTTPException) as error:
        raise StagingError(f"{type(error).__name__}: {error}") from error
    finally:
        connection.close()
        producer.join()
    if failures:
        raise StagingError(f"cannot pack the outputs: {failures[0]}", retryable=False)


def run_task(argv: list[str], *, cwd: str, env: Mapping[str, str]) -> int:
    """Run the task; its exit code, as a shell reports it."""
    if not argv:
        _note("the task has no command")
        return EXIT_CANNOT_START
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=dict(env))
    except OSError as error:
        _note(f"cannot start {argv[0]!r}: {error}")
        return EXIT_CANNOT_START

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError):  # the task has ended already
            child.send_signal(signum)

    # As the container's first process, this one dies of no signal it does not handle:
    # the pod's deletion (SIGTERM) must reach the task.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = child.wait()
    return 128 - code if code < 0 else code


def task_env(environ: Mapping[str, str], tmp_dir: str) -> dict[str, str]:
    """The task's environment: the container's, without the runtime's own variables."""
    env = {name: value for name, value in environ.items() if not name.startswith(RUNTIME_ENV_PREFIX)}
    env["TMPDIR"] = tmp_dir
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _with_retries(action: Callable[[], None], pause: float) -> None:
    """Run `action`, trying again after `pause`, twice that, … while its failures are retryable."""
    for attempt in range(_TRIES):
        try:
            action()
            return
        except StagingError as error:
            if not error.retryable or attempt == _TRIES - 1:
                raise
            _note(f"{error}; trying again")
            time.sleep(pause * 2**attempt)


def _connect(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.netloc, timeout=_SOCKET_TIMEOUT
        )
    elif parts.scheme == "http":
        connection = http.client.HTTPConnection(parts.netloc, timeout=_SOCKET_TIMEOUT)
    else:
        raise StagingError(f"unsupported exchange URL scheme {parts.scheme!r}", retryable=False)
    return connection, parts.path + ("?" + parts.query if parts.query else "")


def _check(response: http.client.HTTPResponse) -> None:
    if response.status != 200:
        detail = response.read(2000).decode("utf-8", "replace").strip()
        # 4xx: the executor has given up on this attempt or refuses the files; retrying cannot help.
        raise StagingError(f"HTTP {response.status}: {detail}", retryable=response.status >= 500)


def _safe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts


def _where(url: str) -> str:
    """The exchange's address without the attempt's token."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _note(message: str) -> None:
    sys.stderr.write(f"[sluice] {message}\n")
    sys.stderr.flush()


def _fail(message: str, termination_log: str) -> int:
    _note(message)
    try:
        with open(termination_log, "w") as log:
            log.write(RUNTIME_FAILURE_PREFIX + message)
    except OSError:
        pass  # not in a container (or not writable): the log line above must do
    return EXIT_STAGING_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
