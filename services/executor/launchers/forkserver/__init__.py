"""A warm interpreter for KFP lightweight Python tasks: fork it instead of starting Python.

A plain launch of such a task runs `sh`, `mktemp`, a new `python3` and its imports of the
KFP runtime before the component's first line; a fork of a process that has done all
that once costs about a millisecond. The parts:

- `eligibility`: which launches qualify, as pure functions: exactly KFP's
  `sh -ec '…python3 -m kfp.dsl.executor_main…'` command (after the satisfied pip install
  is dropped), whose `python3` and `sh` are the server's and whose environment would start
  an interpreter the same way. Anything else runs as a plain subprocess, always.
- `client.ForkServer`: the launcher's side. Starts the server lazily (the interpreter
  `python3` resolves to, running `bootstrap.py` by path), restarts it when it died or when
  its `sys.path` changed on disk (a `pip install` since it imported kfp), falls back to
  the subprocess path whenever a task did not start in a fork, and stops the server on
  `aclose` (or when garbage collected; the server also leaves when its launcher dies).
- `server`: one process per launcher, single-threaded (a fork copies only the calling
  thread, so no lock can be left held), on a Unix socket in a private (0700) directory. It
  imports `kfp.dsl.executor_main` with `_KFP_RUNTIME=true` as a task would, noting which
  environment variables the imports read, then forks a child per request and reports
  each child's exit status when it reaps it (SIGCHLD wakes its selector).
- `child`: turns the fork into what the KFP script would have run: a stand-in for `sh`
  (own session, cwd, the task's exact environment, standard streams to the log,
  `mktemp -d` and the component file, dash's exit statuses) which forks the stand-in for
  `python3 -m kfp.dsl.executor_main` (`sys.path`, `__main__`, runpy's own `-m` entry,
  the interpreter's exit statuses). The user's module is only ever imported there.
- `protocol`: the wire format, including the handshake that makes a lost server safe: the
  child announces its pid once it leads its session and waits for the launcher's go, so a
  task either never ran (the launcher runs it as a subprocess) or has a pid the launcher
  supervises like any subprocess: SIGTERM to its group on timeout or cancel, SIGKILL
  after the grace period, and SIGKILL to the group when it ends, so nothing outlives it.

What differs from a fresh interpreter, knowingly: the string hash seed is the server's
(each task still gets one seed, as with a fresh start); modules the runtime imports are
already imported; objects still alive at exit are not finalized (as in a `multiprocessing`
fork child); `PWD` follows dash's rule (other shells disable the fast path).
"""

from services.executor.launchers.forkserver.client import ForkedTask, ForkServer
from services.executor.launchers.forkserver.eligibility import (
    KfpPythonTask,
    ServerProfile,
    eligible_task,
    kfp_python_task,
    startup_env,
)

__all__ = [
    "ForkServer",
    "ForkedTask",
    "KfpPythonTask",
    "ServerProfile",
    "eligible_task",
    "kfp_python_task",
    "startup_env",
]
