"""The `sluice` commands in-process (click's CliRunner) against the live server."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import yaml
from sluice.cli.options import EXIT_RUN_FAILED, EXIT_SERVER, EXIT_USAGE

from tests.fixtures.sluice_server import RunningSluice
from tests.sdk.cli.conftest import PIPELINES, Invoke, as_json
from tests.sdk.client.conftest import unique


def test_run_compiles_a_pipeline_file_follows_it_and_exits_0(sluice: Invoke) -> None:
    result = sluice("run", f"{PIPELINES}:add_pipeline", "-p", "a=3", "-p", "b=4", "--no-cache")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run ")
    assert lines[0].endswith(" submitted")
    assert "  add: SUCCEEDED" in lines
    assert "  shout: RUNNING" in lines
    assert lines[-1].startswith("run ")
    assert " SUCCEEDED in " in lines[-1]


def test_run_prints_the_final_run_as_json(sluice: Invoke) -> None:
    run = as_json(sluice("run", f"{PIPELINES}:add_pipeline", "-p", "a=5", "--no-cache", "-o", "json"))

    assert run["state"] == "SUCCEEDED"
    assert run["parameters"] == {"a": 5, "b": 2}
    root = next(task for task in run["tasks"] if task["name"] == "root")
    assert root["output_parameters"] == {"Output": 7}
    assert "pipeline_spec" not in run
    assert run["created_at"].endswith("Z")


def test_a_failed_run_exits_1_and_says_which_task_failed(sluice: Invoke) -> None:
    result = sluice("run", f"{PIPELINES}:failing_pipeline", "-p", "message=sorry", "--no-cache")

    assert result.exit_code == EXIT_RUN_FAILED, result.output
    assert " FAILED in " in result.stdout
    assert "  fail: the task exited with code 1" in result.stdout
    assert "sluice logs " in result.stdout


def test_run_no_wait_then_watch_get_logs_and_artifacts(sluice: Invoke, tmp_path: Path) -> None:
    submitted = sluice("run", f"{PIPELINES}:add_pipeline", "-p", "a=40", "--no-wait", "--no-cache")
    assert submitted.exit_code == 0, submitted.output
    run_id = submitted.stdout.strip()

    watched = sluice("runs", "watch", run_id)
    assert watched.exit_code == 0, watched.output
    assert watched.stdout.splitlines()[-1].startswith(f"run {run_id} SUCCEEDED")

    run = as_json(sluice("runs", "get", run_id, "-o", "json"))
    assert run["run_id"] == run_id
    assert run["state"] == "SUCCEEDED"
    table = sluice("runs", "get", run_id)
    assert table.exit_code == 0
    assert "shout" in table.stdout
    assert "outputs: Output=42" in table.stdout

    log = sluice("logs", run_id, "shout")
    assert log.exit_code == 0
    assert "SUM COMPUTED" in log.stdout
    every_log = sluice("logs", run_id)
    assert every_log.exit_code == 0
    assert every_log.stdout.count("==> ") == 3
    assert "SUM COMPUTED" in every_log.stdout

    artifacts = as_json(sluice("artifacts", "list", run_id, "-o", "json"))["items"]
    assert {a["name"]: a["metadata"] for a in artifacts}["metrics"] == {"x": 42, "double": 84}
    data = next(a for a in artifacts if a["name"] == "data")
    got = sluice("artifacts", "get", data["artifact_id"], "-o", str(tmp_path / "data.txt"))
    assert got.exit_code == 0, got.output
    assert (tmp_path / "data.txt").read_text() == "x=42\n"


def test_runs_list_filters_and_prints_json(sluice: Invoke) -> None:
    experiment = unique("cli")
    created = as_json(sluice("experiments", "create", experiment, "--description", "cli", "-o", "json"))
    for a in ("1", "2"):
        done = sluice(
            "run", f"{PIPELINES}:add_pipeline", "-p", f"a={a}", "--experiment", experiment, "--no-cache"
        )
        assert done.exit_code == 0, done.output

    page = as_json(sluice("runs", "list", "--experiment-id", created["experiment_id"], "-o", "json"))
    assert page["total_size"] == 2
    assert [r["parameters"]["a"] for r in page["items"]] == [2, 1]
    failed = as_json(
        sluice("runs", "list", "--experiment-id", created["experiment_id"], "--state", "FAILED", "-o", "json")
    )
    assert failed["items"] == []
    table = sluice("runs", "list", "--experiment-id", created["experiment_id"])
    assert table.exit_code == 0
    assert table.stdout.count("SUCCEEDED") == 2

    experiments = as_json(sluice("experiments", "list", "--name-contains", experiment, "-o", "json"))
    assert [e["display_name"] for e in experiments["items"]] == [experiment]


def test_terminate_and_retry(sluice: Invoke, tmp_path: Path) -> None:
    sleeping = sluice("run", f"{PIPELINES}:sleeping_pipeline", "--no-wait", "--no-cache").stdout.strip()
    assert sluice("runs", "terminate", sleeping).exit_code == 0
    cancelled = sluice("runs", "watch", sleeping, "-o", "json")
    assert cancelled.exit_code == EXIT_RUN_FAILED
    assert '"state": "CANCELED"' in cancelled.stdout

    marker = tmp_path / "marker"
    flaky = sluice("run", f"{PIPELINES}:flaky_pipeline", "-p", f"marker={marker}", "--no-cache", "-o", "json")
    assert flaky.exit_code == EXIT_RUN_FAILED
    run_id = as_json(sluice("runs", "list", "--page-size", "1", "-o", "json"))["items"][0]["run_id"]
    retried = sluice("runs", "retry", run_id, "--wait")
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.startswith(f"run {run_id} SUCCEEDED")
    again = sluice("runs", "retry", run_id)
    assert again.exit_code == EXIT_USAGE
    assert "FAILED_PRECONDITION" in again.output


def test_compile_then_upload_and_run_the_package(sluice: Invoke, tmp_path: Path) -> None:
    package = tmp_path / "add.yaml"
    compiled = sluice("compile", f"{PIPELINES}:add_pipeline", "-o", str(package))
    assert compiled.exit_code == 0, compiled.output
    assert yaml.safe_load(package.read_text())["pipelineInfo"]["name"] == "client-add"

    name = unique("cli-pipe")
    pipeline_id = sluice("pipelines", "upload", str(package), "--name", name).stdout.strip()
    version = as_json(
        sluice(
            "pipelines", "upload", f"{PIPELINES}:failing_pipeline", "--pipeline-id", pipeline_id, "-o", "json"
        )
    )
    assert version["pipeline_id"] == pipeline_id
    listed = as_json(sluice("pipelines", "list", "--name-contains", name, "-o", "json"))
    assert [p["pipeline_id"] for p in listed["items"]] == [pipeline_id]

    ran = sluice("run", str(package), "-p", "a=1", "--no-cache")
    assert ran.exit_code == 0, ran.output


def test_bad_input_exits_2_with_a_message(sluice: Invoke, tmp_path: Path) -> None:
    cases = [
        (("run", str(tmp_path / "missing.yaml")), "no such file"),
        (("run", f"{PIPELINES}:add_pipeline", "-p", "a"), "is not NAME=VALUE"),
        (("run", f"{PIPELINES}:nothing_here"), "has no 'nothing_here'"),
        (("run", str(PIPELINES)), "defines several pipelines"),
        (("run", f"{PIPELINES}:add_pipeline", "-p", "a=not-a-number"), "INVALID_ARGUMENT"),
        (("runs", "get", "no-such-run"), "NOT_FOUND: run 'no-such-run' not found"),
        (("compile", str(tmp_path / "x.yaml")), "expected a Python file"),
        (("runs", "list", "--state", "BAD"), "Invalid value for '--state'"),
    ]
    for args, message in cases:
        result = sluice(*args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert message in result.output, (args, result.output)


def test_a_pipeline_that_does_not_compile_is_bad_input(sluice: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "broken.py"
    source.write_text(
        "from sluice import dsl\n\n\n@dsl.component\ndef one(x: int) -> int:\n    return x\n\n\n"
        "@dsl.pipeline\ndef broken(text: str) -> None:\n    one(x=text)\n"
    )

    result = sluice("compile", str(source))

    assert result.exit_code == EXIT_USAGE
    assert "broken.py:11" in result.output
    assert "one" in result.output


def test_an_unreachable_server_exits_3(sluice: Invoke) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for host in (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"):
        result = sluice("runs", "list", "--host", host)
        assert result.exit_code == EXIT_SERVER, result.output
        assert "UNAVAILABLE" in result.output
        assert str(port) in result.output


def test_the_http_transport_works_the_same(
    sluice: Invoke, sluice_server: RunningSluice, tmp_path: Path
) -> None:
    http = {"SLUICE_HOST": sluice_server.http_url}
    ran = sluice("run", f"{PIPELINES}:add_pipeline", "-p", "a=8", "--no-cache", "-o", "json", env=http)
    run = as_json(ran)
    assert run["state"] == "SUCCEEDED"
    fetched = as_json(sluice("runs", "get", run["run_id"], "-o", "json", env=http))
    assert fetched["run_id"] == run["run_id"]
    artifacts = as_json(sluice("artifacts", "list", run["run_id"], "-o", "json", env=http))["items"]
    data = next(a for a in artifacts if a["name"] == "data")
    got = sluice("artifacts", "get", data["artifact_id"], "-o", str(tmp_path / "data.txt"), env=http)
    assert got.exit_code == 0, got.output
    assert (tmp_path / "data.txt").read_text() == "x=10\n"
    # Over HTTP, artifacts are downloaded by id only.
    by_uri = sluice("artifacts", "get", data["uri"], "-o", str(tmp_path / "by-uri.txt"), env=http)
    assert by_uri.exit_code == EXIT_USAGE
    assert "gRPC" in by_uri.output
    assert [path.name for path in tmp_path.iterdir()] == ["data.txt"]


def test_compile_uses_kfp_for_a_kfp_pipeline(sluice: Invoke, tmp_path: Path) -> None:
    from tests.samples.test_kfp_parity import port_to_kfp

    port_to_kfp(tmp_path)
    package = tmp_path / "parity.yaml"

    result = sluice("compile", str(tmp_path / "kfp_parity_pipeline.py"), "-o", str(package))

    assert result.exit_code == 0, result.output
    assert yaml.safe_load(package.read_text())["sdkVersion"].startswith("kfp-")


def test_logs_follow_prints_a_task_log_as_it_is_written(
    sluice: Invoke, sluice_server: RunningSluice, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    submitted = sluice(
        "run", f"{PIPELINES}:talking_pipeline", "-p", f"release={release}", "--no-wait", "--no-cache"
    )
    assert submitted.exit_code == 0, submitted.output
    run_id = submitted.stdout.strip()
    stored_while_running = threading.Event()

    def release_once_the_first_line_is_stored() -> None:
        # The task waits for `release`; it is set only once its first line can be read.
        deadline = time.monotonic() + 60
        api = f"{sluice_server.http_url}/apis/v2beta1/runs/{run_id}"
        try:
            while time.monotonic() < deadline:
                run = httpx.get(api, timeout=10).json()
                for task in run.get("run_details", {}).get("task_details", []):
                    if task.get("display_name") == "talk-until-released" and task.get("state") == "RUNNING":
                        url = f"{api}/tasks/{task['task_id']}/logs"
                        if "halfway there" in httpx.get(url, timeout=10).text:
                            stored_while_running.set()
                            return
                time.sleep(0.1)
        finally:
            release.touch()

    releaser = threading.Thread(target=release_once_the_first_line_is_stored)
    releaser.start()
    try:
        # Right after submitting: following waits for the task to start.
        followed = sluice("logs", run_id, "talk-until-released", "--follow")
    finally:
        releaser.join(timeout=90)
        release.touch()

    assert followed.exit_code == 0, followed.output
    assert stored_while_running.is_set()
    assert followed.stdout.index("halfway there") < followed.stdout.index("released, done")


def test_logs_follow_needs_a_task(sluice: Invoke) -> None:
    result = sluice("logs", "some-run", "--follow")

    assert result.exit_code == EXIT_USAGE
    assert "--follow follows one task" in result.output
