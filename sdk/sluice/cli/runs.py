"""`sluice compile`, `sluice run` and `sluice runs ...`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from sluice.cli.live import follow
from sluice.cli.loading import PACKAGE_SUFFIXES, compile_to, is_python_source, load_pipeline_function
from sluice.cli.options import (
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    CliError,
    RunFailed,
    ServerOptions,
    handle_errors,
    server_options,
)
from sluice.cli.output import (
    OUTPUT_OPTION,
    console,
    echo_json,
    format_duration,
    print_run,
    print_runs,
    show,
)
from sluice.client import Client, Run, RunState, errors

WAIT_TIMEOUT_OPTION = click.option(
    "--wait-timeout",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop waiting after this long (exit 1; the run goes on).",
)


def parse_parameters(pairs: tuple[str, ...]) -> dict[str, str]:
    """`name=value` pairs. Values go as text; the server types them by the pipeline's
    declared parameter types (`-p n=3` is an int for an int parameter)."""
    parameters: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"parameter {pair!r} is not NAME=VALUE")
        parameters[name] = value
    return parameters


def pipeline_source(reference: str) -> Any:
    """A pipeline function (`file.py[:function]`) or a compiled package's path."""
    if is_python_source(reference):
        return load_pipeline_function(reference)
    path = Path(reference)
    if not path.is_file():
        raise CliError(f"no such file: {reference}")
    if path.suffix.lower() not in PACKAGE_SUFFIXES:
        raise CliError(
            f"{reference}: expected a compiled package (.yaml, .json) or a pipeline file.py[:function]"
        )
    return path


@click.command("compile")
@click.argument("pipeline", metavar="PIPELINE.py[:FUNCTION]")
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The IR YAML file to write [default: FUNCTION.yaml].",
)
def compile_command(pipeline: str, output_path: Path | None) -> None:
    """Compile a pipeline (Sluice's, or kfp's with kfp's compiler) to KFP IR YAML.

    Without :FUNCTION the file must define exactly one pipeline.
    """
    if not is_python_source(pipeline):
        raise CliError(f"{pipeline}: expected a Python file, as PIPELINE.py[:FUNCTION]")
    function = load_pipeline_function(pipeline)
    target = output_path or Path(f"{getattr(function, '__name__', None) or 'pipeline'}.yaml")
    if target.suffix not in (".yaml", ".yml"):
        raise CliError(f"the output must be a .yaml file, not {target}")
    compile_to(function, target)
    click.echo(f"wrote {target}")


def _summary(run: Run) -> str:
    took = ""
    if run.scheduled_at is not None and run.finished_at is not None:
        took = " in " + format_duration(run.finished_at - run.scheduled_at)
    return f"run {run.run_id} {run.state.value}{took}"


def _failed_tasks(run: Run) -> list[str]:
    lines = []
    for task in run.tasks:
        if task.state is RunState.FAILED and task.attempts:
            message = task.error.message.splitlines()[0] if task.error and task.error.message else "failed"
            lines.append(
                f"  {task.display_name or task.name}: {message} (sluice logs {run.run_id} {task.task_id})"
            )
    return lines


def _follow_and_exit(client: Client, run: Run, *, output: str, timeout: float | None) -> None:
    """Follow the run to its end; print it; exit 0 if it succeeded, 1 if not."""
    try:
        if run.finished:
            final = run
        elif output == "json":
            final = client.wait(run.run_id, timeout=timeout)
        else:
            final = follow(client, run, console=console(), timeout=timeout)
    except errors.DeadlineExceeded as error:
        message = f"{error.message}; it goes on (sluice runs get {run.run_id})"
        raise RunFailed(message) from None
    except KeyboardInterrupt:
        click.echo(
            f"\nstopped following; run {run.run_id} goes on (sluice runs terminate {run.run_id} stops it)",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if output == "json":
        echo_json(final)
    else:
        click.echo(_summary(final))
        if final.error is not None and not final.succeeded:
            click.echo(f"error: {final.error.message}")
        for line in _failed_tasks(final):
            click.echo(line)
    if not final.succeeded:
        sys.exit(EXIT_RUN_FAILED)


@click.command("run")
@click.argument("pipeline", metavar="PIPELINE")
@click.option(
    "-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter (repeat)."
)
@click.option("--name", "run_name", default=None, help="Run name [default: the pipeline's name].")
@click.option("--experiment", default=None, help="Experiment name, created when missing [default: Default].")
@click.option("--experiment-id", default=None, help="Experiment id (instead of --experiment).")
@click.option("--no-cache", is_flag=True, help="Do not reuse cached task outputs in this run.")
@click.option("--pipeline-root", default=None, help="Where the run's artifacts go [default: the server's].")
@click.option("--no-wait", is_flag=True, help="Submit, print the run id, and return.")
@WAIT_TIMEOUT_OPTION
@OUTPUT_OPTION
@server_options
@handle_errors
def run_command(
    pipeline: str,
    params: tuple[str, ...],
    run_name: str | None,
    experiment: str | None,
    experiment_id: str | None,
    no_cache: bool,
    pipeline_root: str | None,
    no_wait: bool,
    wait_timeout: float | None,
    output: str,
    server: ServerOptions,
) -> None:
    """Run a pipeline and follow it live until it finishes.

    PIPELINE is a compiled package (.yaml, .json) or a pipeline file.py[:FUNCTION],
    compiled here. Exit codes: 0 the run succeeded; 1 it failed, was canceled or did not
    finish within --wait-timeout; 2 bad input; 3 the server could not be reached.
    """
    parameters = parse_parameters(params)
    source = pipeline_source(pipeline)
    with server.connect() as client:
        run = client.run_pipeline(
            source,
            parameters,
            experiment=experiment,
            experiment_id=experiment_id,
            run_name=run_name,
            enable_caching=False if no_cache else None,
            pipeline_root=pipeline_root,
        )
        if no_wait:
            if output == "json":
                echo_json(run)
            else:
                click.echo(run.run_id)
            return
        if output != "json":
            click.echo(f"run {run.run_id} submitted")
        _follow_and_exit(client, run, output=output, timeout=wait_timeout)


@click.group("runs")
def runs_group() -> None:
    """List, inspect, follow, stop and retry runs."""


@runs_group.command("list")
@click.option("--experiment-id", default="", help="Only this experiment's runs.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.value for state in RunState if state is not RunState.UNSPECIFIED]),
    help="Only runs in this state (repeat for several).",
)
@click.option("--name-contains", default=None, help="Only runs whose name contains this (any case).")
@click.option("--archived", is_flag=True, help="Archived runs instead of available ones.")
@click.option("--sort-by", default="created_at desc", show_default=True, help='"field" or "field desc".')
@click.option("--page-size", default=20, show_default=True, type=int)
@click.option("--page-token", default="", help="next_page_token of the previous page.")
@OUTPUT_OPTION
@server_options
@handle_errors
def runs_list(
    experiment_id: str,
    states: tuple[str, ...],
    name_contains: str | None,
    archived: bool,
    sort_by: str,
    page_size: int,
    page_token: str,
    output: str,
    server: ServerOptions,
) -> None:
    """List runs, newest first."""
    with server.connect() as client:
        page = client.list_runs(
            experiment_id=experiment_id,
            page_size=page_size,
            page_token=page_token,
            sort_by=sort_by,
            state=list(states) or None,
            display_name__contains=name_contains,
            storage_state="ARCHIVED" if archived else "AVAILABLE",
        )
    show(page, output=output, printer=print_runs)


@runs_group.command("get")
@click.argument("run_id")
@OUTPUT_OPTION
@server_options
@handle_errors
def runs_get(run_id: str, output: str, server: ServerOptions) -> None:
    """Show a run with its tasks."""
    with server.connect() as client:
        run = client.get_run(run_id)
    show(run, output=output, printer=print_run)


@runs_group.command("watch")
@click.argument("run_id")
@WAIT_TIMEOUT_OPTION
@OUTPUT_OPTION
@server_options
@handle_errors
def runs_watch(run_id: str, wait_timeout: float | None, output: str, server: ServerOptions) -> None:
    """Follow a run live until it finishes; exit 0 if it succeeded, 1 if not."""
    with server.connect() as client:
        _follow_and_exit(client, client.get_run(run_id), output=output, timeout=wait_timeout)


@runs_group.command("terminate")
@click.argument("run_id")
@server_options
@handle_errors
def runs_terminate(run_id: str, server: ServerOptions) -> None:
    """Cancel a run: its running tasks are stopped."""
    with server.connect() as client:
        client.terminate_run(run_id)
    click.echo(f"run {run_id} terminating")


@runs_group.command("retry")
@click.argument("run_id")
@click.option("--wait", "wait_for_it", is_flag=True, help="Follow the retried run until it finishes.")
@OUTPUT_OPTION
@server_options
@handle_errors
def runs_retry(run_id: str, wait_for_it: bool, output: str, server: ServerOptions) -> None:
    """Retry a failed or canceled run from its failed tasks (the others keep their results)."""
    with server.connect() as client:
        client.retry_run(run_id)
        if not wait_for_it:
            click.echo(f"run {run_id} retrying")
            return
        final = client.wait(run_id)
        if output == "json":
            echo_json(final)
        else:
            click.echo(_summary(final))
    if not final.succeeded:
        sys.exit(EXIT_RUN_FAILED)
