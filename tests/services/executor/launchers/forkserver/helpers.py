"""Helpers for the fork server tests: KFP-shaped commands around any source, process probes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from services.executor.launchers.forkserver.eligibility import EXECUTOR_SCRIPT

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+")
_MKTEMP_NAME = re.compile(r"tmp\.[A-Za-z0-9]{10}")


def kfp_argv(source: str, *, output_file: Path, function: str = "f") -> tuple[str, ...]:
    """What KFP's compiler emits (pip install skipped) for a component with this source."""
    executor_input = {"outputs": {"outputFile": str(output_file)}}
    return (
        "sh",
        "-ec",
        EXECUTOR_SCRIPT,
        source,
        "--executor_input",
        json.dumps(executor_input),
        "--function_to_execute",
        function,
    )


def normalized(text: str) -> str:
    """`text` with what differs between any two runs masked: times, `mktemp` names."""
    return _MKTEMP_NAME.sub("tmp.XXXXXXXXXX", _TIMESTAMP.sub("<time>", text))


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except (FileNotFoundError, ProcessLookupError):
        return []


# Fork servers of this process that were there before the current test started: those of
# a session-wide Sluice server running in this same pytest process, not the test's own.
FOREIGN_SERVERS: set[int] = set()


def all_server_pids() -> list[int]:
    """Every fork server this process started, running or not yet reaped."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and any(arg.endswith("bootstrap.py") for arg in cmdline(int(entry))):
                pids.append(int(entry))
    return sorted(pids)


def server_pids() -> list[int]:
    """The fork servers this test started, running or not yet reaped."""
    return [pid for pid in all_server_pids() if pid not in FOREIGN_SERVERS]


def is_forked(facts: dict[str, object]) -> bool:
    """Whether the task that wrote these facts (see `FACTS_SOURCE`) ran in a fork."""
    parent = facts["parent"]
    assert isinstance(parent, list)
    return any(str(arg).endswith("bootstrap.py") for arg in parent)


FACTS_SOURCE = """
import json, locale, os, signal, sys, tempfile

def f():
    pass

def _stream(stream):
    return {
        "name": stream.name, "mode": stream.mode, "encoding": stream.encoding,
        "errors": stream.errors, "line_buffering": stream.line_buffering,
        "write_through": stream.write_through, "seekable": stream.seekable(),
        "isatty": stream.isatty(), "buffer": type(stream.buffer).__name__,
        "same": stream is getattr(sys, "__" + stream.name.strip("<>") + "__"),
    }

umask = os.umask(0o22)
os.umask(umask)
facts = {
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "path": sys.path,
    "argv": sys.argv,
    "orig_argv": sys.orig_argv,
    "executable": sys.executable,
    "flags": list(sys.flags),
    "streams": [_stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
    "stdin": sys.stdin.read(),
    "fds": sorted(os.listdir("/proc/self/fd")),
    "parent_leads_session_and_group": [os.getsid(0) == os.getppid(), os.getpgrp() == os.getppid()],
    "signals": {
        s.name: repr(signal.getsignal(s))
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ)
    },
    "wakeup_fd": signal.set_wakeup_fd(-1),
    "tempdir": tempfile.gettempdir(),
    "main": [sys.modules["__main__"].__name__, sys.modules["__main__"].__spec__.name],
    "name": __name__,
    "server_modules": sorted(m for m in sys.modules if m.split(".")[0] == "services"),
    "executor_main_module": "kfp.dsl.executor_main" in sys.modules,
    "umask": umask,
    "encodings": [sys.getfilesystemencoding(), locale.getpreferredencoding(False)],
    "leaked": [hasattr(json, "leaked_by_a_task"), os.environ.get("LEAKED_BY_A_TASK")],
    "parent": open(f"/proc/{os.getppid()}/cmdline").read().split("\\0")[:-1],
}
with open("facts.json", "w") as out:
    json.dump(facts, out)
"""
"""Module-level code that records what a task's interpreter looks like, into `facts.json`."""
