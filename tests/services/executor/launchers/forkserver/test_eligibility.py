from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kfp.dsl import component_factory

from services.executor.kfp_commands import skip_satisfied_pip_install
from services.executor.launchers.forkserver.eligibility import (
    EXECUTOR_SCRIPT,
    KfpPythonTask,
    ServerProfile,
    eligible_task,
    kfp_python_task,
    startup_env,
)
from tests.services.executor.components import add, describe, greet, nap, uses_packages, write_dataset
from tests.services.executor.kfp_ir import compile_component

SOURCE = "def f():\n    pass\n"
ARGS = ("--executor_input", "{}", "--function_to_execute", "f")
ARGV = ("sh", "-ec", EXECUTOR_SCRIPT, SOURCE, *ARGS)
ENV = {"PATH": "/venv/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "HOME": "/root"}
RESOLVED = {"python3": "/venv/bin/python3", "sh": "/usr/bin/sh"}
SERVER = ServerProfile(interpreter="/venv/bin/python3", shell="/usr/bin/sh", startup_env=startup_env(ENV))


def which(name: str, path: str | None = None) -> str | None:
    """`shutil.which` over a fake file system: `RESOLVED` on the PATH's `/venv/bin`, or None."""
    if name == "python3" and path is not None and not path.startswith("/venv/bin"):
        return "/usr/bin/python3"
    return RESOLVED.get(name)


def compiled_argv(component: Any, tmp_path: Path) -> tuple[str, ...]:
    container = compile_component(component, tmp_path).container
    argv = [*container["command"], *container.get("args", [])]
    skipped = skip_satisfied_pip_install(argv)
    return tuple(argv) if skipped is None else skipped.argv


def test_the_script_is_the_one_kfp_emits() -> None:
    command, _ = component_factory._get_command_and_args_for_lightweight_component(lambda: None)

    assert command[:3] == ["sh", "-ec", EXECUTOR_SCRIPT]


@pytest.mark.parametrize("component", [add, describe, write_dataset, uses_packages])
def test_kfp_compiled_python_components_qualify(tmp_path: Path, component: Any) -> None:
    argv = compiled_argv(component, tmp_path)

    task = kfp_python_task(argv)

    assert task == KfpPythonTask(source=argv[3], args=argv[4:])
    assert f"def {component.python_func.__name__}(" in task.source
    assert task.args == ("--executor_input", "{{$}}", "--function_to_execute", component.python_func.__name__)


@pytest.mark.parametrize("component", [greet, nap])
def test_container_components_do_not(tmp_path: Path, component: Any) -> None:
    assert kfp_python_task(compiled_argv(component, tmp_path)) is None


def test_a_command_still_carrying_its_pip_install_does_not(tmp_path: Path) -> None:
    container = compile_component(add, tmp_path).container
    argv = [*container["command"], *container["args"]]

    assert kfp_python_task(argv) is None
    assert kfp_python_task(argv[3:]) is not None


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("sh", "-ec", EXECUTOR_SCRIPT),
        ("sh", "-c", EXECUTOR_SCRIPT, SOURCE, *ARGS),
        ("sh", "-e", "-c", EXECUTOR_SCRIPT, SOURCE, *ARGS),
        ("/bin/sh", "-ec", EXECUTOR_SCRIPT, SOURCE, *ARGS),
        ("bash", "-ec", EXECUTOR_SCRIPT, SOURCE, *ARGS),
        ("sh", "-ec", EXECUTOR_SCRIPT.replace("python3", "python"), SOURCE, *ARGS),
        ("sh", "-ec", EXECUTOR_SCRIPT.replace("python3", "/usr/bin/python3"), SOURCE, *ARGS),
        ("sh", "-ec", EXECUTOR_SCRIPT.replace("executor_main", "executor_main2"), SOURCE, *ARGS),
        ("sh", "-ec", EXECUTOR_SCRIPT.replace("_KFP_RUNTIME=true ", ""), SOURCE, *ARGS),
        ("sh", "-ec", EXECUTOR_SCRIPT + "echo done\n", SOURCE, *ARGS),
        ("sh", "-ec", EXECUTOR_SCRIPT.rstrip("\n"), SOURCE, *ARGS),
        ("sh", "-ec", "pip install x\n" + EXECUTOR_SCRIPT, SOURCE, *ARGS),
        ("python3", "-m", "kfp.dsl.executor_main", "--executor_input", "{}", "--function_to_execute", "f"),
    ],
)
def test_near_misses_do_not(argv: tuple[str, ...]) -> None:
    assert kfp_python_task(argv) is None


def test_the_arguments_pass_through_untouched() -> None:
    odd = ("--function_to_execute", "f", "--executor_input", "x y\n'\"$HOME", "", "--extra")

    assert kfp_python_task(("sh", "-ec", EXECUTOR_SCRIPT, "", *odd)) == KfpPythonTask(source="", args=odd)


def test_a_qualifying_launch() -> None:
    assert eligible_task(ARGV, ENV, server=SERVER, which=which) == KfpPythonTask(source=SOURCE, args=ARGS)


@pytest.mark.parametrize(
    "changes",
    [{"TMPDIR": "/tmp/task"}, {"MY_SETTING": "1"}, {"PWD": "/elsewhere"}, {"_KFP_RUNTIME": "false"}],
)
def test_task_variables_that_do_not_shape_the_start_keep_it_qualifying(changes: dict[str, str]) -> None:
    assert eligible_task(ARGV, ENV | changes, server=SERVER, which=which) is not None


@pytest.mark.parametrize(
    "changes",
    [
        {"PYTHONHASHSEED": "0"},
        {"PYTHONPATH": "/abs/lib"},
        {"PYTHONUNBUFFERED": ""},
        {"PYTHONDONTWRITEBYTECODE": "1"},
        {"LANG": "en_US.UTF-8"},
        {"LC_ALL": "C"},
        {"LD_PRELOAD": "/lib/x.so"},
        {"LD_LIBRARY_PATH": "/opt/lib"},
        {"TZ": "Europe/Paris"},
        {"HOME": "/home/other"},
        {"SETUPTOOLS_USE_DISTUTILS": "stdlib"},
        {"PATH": "/usr/bin:/bin"},
    ],
)
def test_variables_that_shape_the_start_must_match_the_server(changes: dict[str, str]) -> None:
    assert eligible_task(ARGV, ENV | changes, server=SERVER, which=which) is None


def test_a_missing_startup_variable_counts_as_a_difference() -> None:
    env = {name: value for name, value in ENV.items() if name != "PYTHONUNBUFFERED"}

    assert eligible_task(ARGV, env, server=SERVER, which=which) is None


def test_variables_the_server_read_at_import_must_match() -> None:
    server = ServerProfile(
        interpreter=SERVER.interpreter,
        shell=SERVER.shell,
        startup_env=startup_env(ENV, read_at_import={"KFP_FLAG"}),
        read_at_import=frozenset({"KFP_FLAG"}),
    )

    assert eligible_task(ARGV, ENV, server=server, which=which) is not None
    assert eligible_task(ARGV, ENV | {"KFP_FLAG": "on"}, server=server, which=which) is None


def test_a_relative_pythonpath_does_not_qualify() -> None:
    env = ENV | {"PYTHONPATH": "lib"}
    server = ServerProfile(interpreter=SERVER.interpreter, shell=SERVER.shell, startup_env=startup_env(env))

    assert eligible_task(ARGV, env, server=server, which=which) is None


def test_another_sh_does_not_qualify() -> None:
    def other_sh(name: str, path: str | None = None) -> str | None:
        return "/opt/bin/sh" if name == "sh" else which(name, path)

    assert eligible_task(ARGV, ENV, server=SERVER, which=other_sh) is None


def test_startup_env_keeps_only_what_shapes_a_start() -> None:
    env = {"PYTHONX": "1", "LC_CTYPE": "C", "LANG": "C", "LD_X": "1", "TZ": "UTC", "HOME": "/h", "OTHER": "2"}

    assert startup_env(env) == {k: v for k, v in env.items() if k != "OTHER"}
    assert startup_env(env, read_at_import={"OTHER", "UNSET"}) == {**env, "UNSET": None}
