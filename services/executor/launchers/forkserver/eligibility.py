"""Which launches the fork server may run: pure functions of the command and its environment.

A launch qualifies when its command is exactly what the KFP compiler emits for a lightweight
Python component (once `kfp_commands` has dropped the satisfied `pip install` prefix)::

    sh -ec '<EXECUTOR_SCRIPT>' '<component source>' --executor_input … --function_to_execute …

and the interpreter the script would start is the fork server's own, starting the same way:
`python3` and `sh` on the task's PATH are the server's, and every environment variable
that shapes an interpreter's start (`STARTUP_PREFIXES`, `STARTUP_NAMES`, plus whatever the
server's imports read) has the value the server started with. Anything else, including
any other spelling of the same script, runs as a plain subprocess.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

EXECUTOR_MODULE = "kfp.dsl.executor_main"
"""The module the script runs with `python3 -m`."""

MODULE_FILE = "ephemeral_component.py"
"""The name the script gives the component's source file."""

EXECUTOR_SCRIPT = (
    "program_path=$(mktemp -d)\n"
    "\n"
    'printf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
    f"_KFP_RUNTIME=true python3 -m {EXECUTOR_MODULE}"
    "                         --component_module_path"
    '                         "$program_path/ephemeral_component.py"'
    '                         "$@"\n'
)
"""The `sh -ec` script of a KFP 2 lightweight Python component, byte for byte."""

STARTUP_PREFIXES = ("PYTHON", "LC_", "LD_", "MALLOC_", "GLIBC_")
"""Variables read when a process or an interpreter starts (or when it loads a library)."""

STARTUP_NAMES = frozenset({"LANG", "TZ", "HOME", "SETUPTOOLS_USE_DISTUTILS"})
"""More of them: the locale, the time zone module constants, the user site directory,
setuptools' `.pth` hook."""

Which = Callable[..., str | None]
"""`shutil.which`'s shape: `which(name, path=PATH)`."""


@dataclass(frozen=True)
class KfpPythonTask:
    """What the KFP script needs to run a component: the script's positional parameters."""

    source: str
    """The component's module source (`$0`), written to `ephemeral_component.py`."""
    args: tuple[str, ...]
    """The executor's arguments (`"$@"`): `--executor_input …`, `--function_to_execute …`."""


@dataclass(frozen=True)
class ServerProfile:
    """How a fork server's interpreter started: what a task must share to be forked from it."""

    interpreter: str
    """The absolute path `python3` resolved to, the server's `sys.executable`."""
    shell: str
    """The path `sh` resolved to (whose start-up the child reproduces)."""
    startup_env: Mapping[str, str | None] = field(default_factory=dict)
    """`startup_env(<the server's environment>, read_at_import=…)`."""
    read_at_import: frozenset[str] = frozenset()
    """Variables the server's pre-imports read (each task must agree on them too)."""


def kfp_python_task(argv: Sequence[str]) -> KfpPythonTask | None:
    """The component source and arguments when `argv` is exactly KFP's script; else None."""
    if len(argv) < 4 or argv[0] != "sh" or argv[1] != "-ec" or argv[2] != EXECUTOR_SCRIPT:
        return None
    return KfpPythonTask(source=argv[3], args=tuple(argv[4:]))


def startup_env(env: Mapping[str, str], *, read_at_import: Collection[str] = ()) -> dict[str, str | None]:
    """The variables of `env` that shape an interpreter's start (None: `read_at_import`, unset)."""
    shaping: dict[str, str | None] = {
        name: value
        for name, value in env.items()
        if name in STARTUP_NAMES or name.startswith(STARTUP_PREFIXES)
    }
    shaping.update({name: env.get(name) for name in read_at_import})
    return shaping


def eligible_task(
    argv: Sequence[str], env: Mapping[str, str], *, server: ServerProfile, which: Which = shutil.which
) -> KfpPythonTask | None:
    """The task to fork when the launch of `argv` with `env` qualifies (module docstring)."""
    task = kfp_python_task(argv)
    if task is None:
        return None
    path = env.get("PATH", os.defpath)
    if which("python3", path=path) != server.interpreter or which("sh", path=path) != server.shell:
        return None
    if startup_env(env, read_at_import=server.read_at_import) != server.startup_env:
        return None
    # A fresh interpreter makes relative PYTHONPATH entries absolute against its own cwd.
    if not all(os.path.isabs(entry) for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry):
        return None
    return task
