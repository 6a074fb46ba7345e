"""A forked task does what the plain subprocess does: same outcomes, logs, outputs, process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from services.executor.attempt import attempt_dir_for, run_attempt
from services.executor.launchers.base import LaunchOutcome, LaunchRequest
from services.executor.launchers.local import LocalLauncher
from services.executor.staging import LocalFileStager
from tests.services.executor.components import add, describe, explode, write_dataset
from tests.services.executor.kfp_ir import compile_component, make_dispatch
from tests.services.executor.launchers.forkserver.helpers import FACTS_SOURCE, is_forked, kfp_argv, normalized

F = "def f():\n    pass\n"


async def launch(
    launcher: LocalLauncher, directory: Path, source: str, **env: str
) -> tuple[LaunchOutcome, str]:
    """Run `source` as a KFP component in `directory`; the outcome and the log, normalized."""
    request = LaunchRequest(
        key="run/task/1",
        argv=kfp_argv(source, output_file=directory / "outputs" / "executor_output.json"),
        cwd=directory / "work",
        log_path=directory / "task.log",
        env=env,
        image="python:3.11",
        tmp_dir=directory / "tmp",
    )
    outcome = await launcher.launch(request)
    return outcome, normalized(request.log_path.read_text().replace(str(directory), "<dir>"))


@pytest.mark.parametrize(
    ("source", "exit_code"),
    [
        pytest.param(
            "def f():\n    print('out')\n    import sys\n    print('err', file=sys.stderr)\n", 0, id="ok"
        ),
        pytest.param("import sys\nsys.exit(3)\n", 3, id="sys.exit(3)"),
        pytest.param("raise SystemExit(256)\n", 0, id="SystemExit(256)"),
        pytest.param("import sys\nsys.exit('bye')\n", 1, id="sys.exit(message)"),
        pytest.param("def f():\n    raise ValueError('boom')\n", 1, id="exception"),
        pytest.param("def f(:\n", 1, id="syntax-error"),
        pytest.param("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", 128 + 9, id="SIGKILL"),
        pytest.param("raise KeyboardInterrupt\n", 128 + 2, id="KeyboardInterrupt"),
        pytest.param("import os\nos._exit(5)\n", 5, id="os._exit"),
        pytest.param("import sys\nsys.stdout.write('no newline')\n" + F, 0, id="unflushed"),
        pytest.param("import atexit\natexit.register(print, 'at exit')\n" + F, 0, id="atexit"),
        pytest.param(
            "import threading, time\n"
            "def late():\n    time.sleep(0.2)\n    print('late')\n"
            "threading.Thread(target=late).start()\n" + F,
            0,
            id="non-daemon-thread",
        ),
        pytest.param("def g():\n    pass\n", 1, id="no-such-function"),
    ],
)
async def test_outcome_and_log(
    tmp_path: Path, warm: LocalLauncher, cold: LocalLauncher, source: str, exit_code: int
) -> None:
    forked = await launch(warm, tmp_path / "warm", source)
    plain = await launch(cold, tmp_path / "cold", source)

    assert forked == plain
    assert forked[0] == LaunchOutcome(exit_code=exit_code)


@pytest.mark.parametrize(("base_env", "quotes"), [(None, "\u2018\u2019"), ({"PATH": "/usr/bin:/bin"}, "''")])
async def test_a_missing_tmpdir_fails_as_mktemp_does(
    tmp_path: Path, base_env: dict[str, str] | None, quotes: str
) -> None:
    warm = LocalLauncher(base_env=base_env, runtime_dir=tmp_path / "run")
    cold = LocalLauncher(base_env=base_env, warm_python_tasks=False)
    try:
        forked = await launch(warm, tmp_path / "warm", F, TMPDIR="/nonexistent")
    finally:
        await warm.aclose()
    plain = await launch(cold, tmp_path / "cold", F, TMPDIR="/nonexistent")

    assert forked == plain
    assert forked[0] == LaunchOutcome(exit_code=1)
    template = quotes[0] + "/nonexistent/tmp.XXXXXXXXXX" + quotes[1]
    assert forked[1].endswith(
        f"mktemp: failed to create directory via template {template}: No such file or directory\n"
    )


@pytest.mark.parametrize("base_env", ["inherited", "bare"])
async def test_the_task_process_looks_the_same(tmp_path: Path, base_env: str) -> None:
    """Environment, cwd, sys.path, argv, streams, descriptors, session, signals, modules…

    "bare" starts from PATH alone: the interpreter then coerces the C locale (PEP 538),
    which a fork must reproduce in the task's environment.
    """
    env = None if base_env == "inherited" else {"PATH": "/usr/bin:/bin"}
    warm = LocalLauncher(base_env=env, runtime_dir=tmp_path / "run")
    cold = LocalLauncher(base_env=env, warm_python_tasks=False)
    try:
        facts = {}
        for name, launcher in (("warm", warm), ("cold", cold)):
            outcome, _ = await launch(launcher, tmp_path / name, FACTS_SOURCE, TASK_SETTING="on")
            assert outcome == LaunchOutcome(exit_code=0)
            text = (tmp_path / name / "work" / "facts.json").read_text()
            facts[name] = json.loads(normalized(text.replace(str(tmp_path / name), "<dir>")))
    finally:
        await warm.aclose()

    assert is_forked(facts["warm"])
    assert not is_forked(facts["cold"])
    del facts["warm"]["parent"], facts["cold"]["parent"]
    assert facts["warm"] == facts["cold"]
    assert facts["warm"]["env"]["TASK_SETTING"] == "on"
    assert facts["warm"]["server_modules"] == []
    assert facts["warm"]["parent_leads_session_and_group"] == [True, True]


async def test_a_task_changes_nothing_the_next_one_sees(tmp_path: Path, warm: LocalLauncher) -> None:
    polluter = "import json, os\njson.leaked_by_a_task = True\nos.environ['LEAKED_BY_A_TASK'] = '1'\n" + F
    assert (await launch(warm, tmp_path / "first", polluter))[0].exit_code == 0

    outcome, _ = await launch(warm, tmp_path / "second", FACTS_SOURCE)

    facts = json.loads((tmp_path / "second" / "work" / "facts.json").read_text())
    assert outcome.exit_code == 0
    assert is_forked(facts)
    assert facts["leaked"] == [False, None]


async def run_component(
    launcher: LocalLauncher, work_root: Path, component: Any, **kwargs: Any
) -> tuple[dict[str, Any], str | None]:
    """The task's result and its ExecutorOutput file, what differs between runs masked."""
    work_root.mkdir()  # noqa: ASYNC240 - a test's setup
    dispatch = make_dispatch(compile_component(component, work_root), **kwargs)
    result = await run_attempt(dispatch, launcher=launcher, stager=LocalFileStager(), work_root=work_root)
    attempt = attempt_dir_for(work_root, run_id="run-1", task_id="task-1", attempt=1)
    output = attempt / "outputs" / "executor_output.json"
    executor_output = output.read_text() if output.exists() else None
    fields = json_format.MessageToDict(result)
    del fields["logUri"], fields["time"]
    return json.loads(normalized(json.dumps(fields).replace(str(work_root), "<dir>"))), executor_output


@pytest.mark.parametrize(
    ("component", "kwargs"),
    [
        (add, {"parameters": {"a": 2, "b": 40}}),
        (describe, {"parameters": {"xs": [1, 4], "d": {"a": 1}, "f": 1.5, "flag": True, "name": "alice"}}),
        (write_dataset, {"parameters": {"text": "hello"}}),
        (explode, {"parameters": {"message": "no luck"}}),
    ],
)
async def test_kfp_components_produce_the_same_executor_output(
    tmp_path: Path, warm: LocalLauncher, cold: LocalLauncher, component: Any, kwargs: dict[str, Any]
) -> None:
    if component is write_dataset:
        kwargs = kwargs | {"output_uris": {"data": (tmp_path / "data").as_uri()}}

    forked = await run_component(warm, tmp_path / "warm", component, **kwargs)
    plain = await run_component(cold, tmp_path / "cold", component, **kwargs)

    assert forked == plain
    result, executor_output = forked
    if component is explode:
        assert result["state"] == "FAILED"
        assert result["error"]["message"].endswith("ValueError: boom: no luck")
        assert executor_output is None
    else:
        assert result["state"] == "SUCCEEDED"
        assert executor_output is not None
