"""A forked child: turn a copy of the warm server into what KFP's script would have run.

`Child.run` plays `sh -ec '<EXECUTOR_SCRIPT>'`, then forks once more to play the
`python3 -m kfp.dsl.executor_main` it starts, so the task has the same parent, process
group and statuses as under a real shell:

1. lead a new session (so the launcher can signal the whole group), enter the working
   directory, take the task's environment exactly (plus the `PWD` dash exports), rebuild
   `sys.path` as `-m` does (the cwd first) and the standard streams as the interpreter
   builds them (stdin from /dev/null, stdout and stderr appended to the log), forget the
   server's own modules;
2. announce its pid and wait for the launcher's go (no go: it leaves without a trace);
3. as `sh`: `mktemp -d` and write the component source there (failing as they fail),
   fork the interpreter and wait for it, then exit with its status as dash does (128+N
   for a death by signal N, reported in the log as `Killed`, `Segmentation fault`…);
4. as the interpreter: add `_KFP_RUNTIME=true` and what the server's interpreter changed
   in its environment at start (PEP 538's `LC_CTYPE`), run the module through runpy's
   `_run_module_as_main`, as `-m` does, in an emptied `__main__`; end as the interpreter
   ends a program: the status of SystemExit, a traceback and 1 for an uncaught exception
   (death by SIGINT for KeyboardInterrupt), then join non-daemon threads, run atexit
   callbacks, flush stdout and stderr (120 if that fails) and `os._exit`. Like a
   `multiprocessing` fork child it skips the interpreter's final teardown, which costs
   more than a small task (every object's page gets copied on write); objects still
   alive then are not finalized, as Python never promises they are.

Standard library only.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import importlib
import importlib.machinery
import io
import os
import runpy
import signal
import socket
import string
import sys
import threading
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn, TextIO

from services.executor.launchers.forkserver.eligibility import EXECUTOR_MODULE, MODULE_FILE
from services.executor.launchers.forkserver.protocol import GO, TaskRequest, send

_SERVER_PACKAGE = "services"
_FLUSH_FAILED = 120
"""The status CPython exits with when flushing stdout or stderr fails at exit."""
_INTERRUPTED = -1
"""`_run_executor`'s status for an uncaught KeyboardInterrupt: die by SIGINT."""
_FRESH_MAIN: dict[str, object] = {
    "__name__": "__main__",
    "__doc__": None,
    "__package__": None,
    "__loader__": importlib.machinery.BuiltinImporter,
    "__spec__": None,
    "__annotations__": {},
    "__builtins__": builtins,
}
"""The `__main__` namespace of a fresh interpreter, before `-m` runs the module in it."""
_NAME_CHARS = string.ascii_letters + string.digits
_MKTEMP_ATTEMPTS = 100


@dataclass(frozen=True)
class Startup:
    """How the server's interpreter started, which a task's fresh interpreter would repeat."""

    path_tail: tuple[str, ...]
    """`sys.path` after the entry a `-m` run puts first (the cwd)."""
    env_changes: Mapping[str, str | None]
    """What the interpreter changed in its environment while starting (None: removed)."""


class Child:
    """The task side of one fork; `run` is all it does."""

    def __init__(self, *, conn: socket.socket, request: TaskRequest, startup: Startup) -> None:
        self._conn = conn
        self._request = request
        self._startup = startup

    def run(self) -> NoReturn:
        """Run the task and exit the process (see the module docstring)."""
        os.setsid()
        self._become_the_task_process()
        if not self._handshake():
            os._exit(0)
        module_path = _write_module(self._request.source)
        interrupt_handler = signal.signal(signal.SIGINT, signal.SIG_DFL)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, interrupt_handler)
            os.environ["_KFP_RUNTIME"] = "true"
            for name, value in self._startup.env_changes.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            _exit(_run_executor(module_path, self._request.args))
        _, status = os.waitpid(pid, 0)
        os._exit(_shell_status(status))

    def _become_the_task_process(self) -> None:
        request = self._request
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)
        os.environ["PWD"] = _shell_pwd(request.env.get("PWD"))
        sys.path[:] = [*([] if sys.flags.safe_path else [os.getcwd()]), *self._startup.path_tail]
        importlib.invalidate_caches()
        tempfile = sys.modules.get("tempfile")
        if tempfile is not None:
            # A cached temporary directory from the server's environment, not the task's.
            tempfile.tempdir = None  # type: ignore[attr-defined]
        for name in [name for name in sys.modules if name.partition(".")[0] == _SERVER_PACKAGE]:
            del sys.modules[name]
        _redirect_standard_streams(request.log_path)

    def _handshake(self) -> bool:
        conn = self._conn
        conn.setblocking(True)
        try:
            send(conn, {"pid": os.getpid()})
            go = conn.recv(len(GO))
        except OSError:
            go = b""
        conn.close()
        return go == GO


def _write_module(source: str) -> str:
    """The script's `mktemp -d` and `printf … > ephemeral_component.py`; exits as `sh -e` does."""
    program_path = _mktemp_d(os.environ.get("TMPDIR") or "/tmp")
    module_path = f"{program_path}/{MODULE_FILE}"
    try:
        with open(module_path, "wb") as module:
            module.write(os.fsencode(source))
    except OSError as error:
        os.write(2, f"sh: 3: cannot create {module_path}: {error.strerror}\n".encode())
        os._exit(2)
    return module_path


def _shell_status(status: int) -> int:
    """dash's exit status for its last command's wait status, reporting a death by signal."""
    if not os.WIFSIGNALED(status):
        return os.waitstatus_to_exitcode(status)
    signum = os.WTERMSIG(status)
    if signum not in (signal.SIGINT, signal.SIGPIPE):
        report = signal.strsignal(signum) or f"Signal {signum}"
        os.write(2, f"{report}{' (core dumped)' if os.WCOREDUMP(status) else ''}\n".encode())
    return 128 + signum


def _run_executor(module_path: str, args: tuple[str, ...]) -> int:
    """`python3 -m kfp.dsl.executor_main …`, up to the interpreter's exit status."""
    arguments = ["--component_module_path", module_path, *args]
    sys.argv = [EXECUTOR_MODULE, *arguments]
    sys.orig_argv = ["python3", "-m", EXECUTOR_MODULE, *arguments]
    # `-m` runs the module in the `__main__` module the interpreter made, through runpy's
    # `_run_module_as_main` (its stack frames then appear in tracebacks as they would):
    # here `__main__` is the bootstrap script, emptied back to what a fresh one holds.
    main = sys.modules["__main__"].__dict__
    main.clear()
    main.update(_FRESH_MAIN)
    run_module_as_main: Callable[..., object] = getattr(runpy, "_run_module_as_main")  # noqa: B009
    try:
        run_module_as_main(EXECUTOR_MODULE, alter_argv=True)
    except SystemExit as exit_:
        return _system_exit_status(exit_)
    except BaseException as error:  # reported as the interpreter reports it
        _print_uncaught(error)
        return _INTERRUPTED if isinstance(error, KeyboardInterrupt) else 1
    return 0


def _system_exit_status(exit_: SystemExit) -> int:
    """CPython's `_Py_HandleSystemExit`: None is 0, an int itself, anything else printed and 1."""
    code = exit_.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{code}\n")
    return 1


def _print_uncaught(error: BaseException) -> None:
    """`sys.excepthook` on the error, the traceback starting where the task's code does."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_frame.f_code.co_filename == __file__:
        traceback = traceback.tb_next
    error = error.with_traceback(traceback)
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, traceback
    try:
        sys.excepthook(type(error), error, traceback)
    except BaseException as hook_error:  # as CPython does, show both
        sys.stderr.write("Error in sys.excepthook:\n")
        sys.__excepthook__(type(hook_error), hook_error, hook_error.__traceback__)
        sys.stderr.write("\nOriginal exception was:\n")
        sys.__excepthook__(type(error), error, traceback)


def _exit(status: int) -> NoReturn:
    """What `Py_FinalizeEx` does that a task can observe, then the process exit."""
    shutdown: types.FunctionType | None = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except Exception:  # CPython reports and exits 120 too
            status = _FLUSH_FAILED
    if status == _INTERRUPTED:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        status = 128 + signal.SIGINT
    os._exit(status)


def _shell_pwd(pwd: str | None) -> str:
    """The PWD `sh` exports: the inherited one when it names the cwd, else the physical path."""
    if pwd is not None and pwd.startswith("/"):
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(pwd), os.stat(".")):
                return pwd
    return os.getcwd()


def _mktemp_d(tmpdir: str) -> str:
    """`mktemp -d`: a new private directory `tmp.XXXXXXXXXX` in `tmpdir`; or exit 1, as
    `program_path=$(mktemp -d)` makes `sh -e` do."""
    template = os.path.join(tmpdir, "tmp.XXXXXXXXXX")
    error: OSError | None = None
    for _ in range(_MKTEMP_ATTEMPTS):
        name = "tmp." + "".join(_NAME_CHARS[byte % len(_NAME_CHARS)] for byte in os.urandom(10))
        path = os.path.join(tmpdir, name)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError as exists:
            error = exists
            continue
        except OSError as failed:
            error = failed
            break
        return path
    reason = error.strerror if error is not None else "unknown error"
    # GNU's quotes: typographic ones when the locale's charset is UTF-8.
    locale = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or ""
    left, right = ("\u2018", "\u2019") if locale.lower().replace("-", "").endswith("utf8") else ("'", "'")
    message = f"mktemp: failed to create directory via template {left}{template}{right}: {reason}\n"
    os.write(2, message.encode())
    os._exit(1)


def _redirect_standard_streams(log_path: str) -> None:
    """stdin from /dev/null, stdout and stderr appended to the log, `sys.std*` rebuilt."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    buffered = not getattr(sys.stdout, "write_through", False)
    streams = [_standard_stream(fd, old, buffered=buffered) for fd, old in enumerate(_standard_streams())]
    sys.stdin, sys.stdout, sys.stderr = streams
    for name, stream in zip(("__stdin__", "__stdout__", "__stderr__"), streams, strict=True):
        setattr(sys, name, stream)


def _standard_streams() -> tuple[TextIO, TextIO, TextIO]:
    return sys.stdin, sys.stdout, sys.stderr


def _standard_stream(fd: int, old: TextIO, *, buffered: bool) -> io.TextIOWrapper:
    """The stream the interpreter builds for `fd` at start (CPython's `create_stdio`)."""
    writing = fd != 0
    raw = io.FileIO(fd, "wb" if writing else "rb", closefd=False)
    raw.name = ("<stdin>", "<stdout>", "<stderr>")[fd]
    binary: io.FileIO | io.BufferedWriter | io.BufferedReader = raw
    if buffered or not writing:
        binary = (io.BufferedWriter if writing else io.BufferedReader)(raw, _buffer_size(fd))
    stream = io.TextIOWrapper(
        binary,
        encoding=old.encoding,
        errors=old.errors,
        newline="\n",
        line_buffering=buffered and (raw.isatty() or fd == 2),
        write_through=not buffered,
    )
    stream.mode = "w" if writing else "r"  # type: ignore[misc]
    return stream


def _buffer_size(fd: int) -> int:
    """`open()`'s choice: the file's block size, else the default."""
    with contextlib.suppress(OSError):
        size = os.fstat(fd).st_blksize
        if size > 1:
            return size
    return io.DEFAULT_BUFFER_SIZE
