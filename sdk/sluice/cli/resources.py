"""`sluice logs`, `sluice artifacts ...`, `sluice experiments ...`, `sluice pipelines ...`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sluice.cli.options import ServerOptions, handle_errors, server_options
from sluice.cli.output import (
    OUTPUT_OPTION,
    console,
    echo_json,
    print_experiments,
    print_pipelines,
    show,
    when,
)
from sluice.cli.runs import pipeline_source
from sluice.client import Artifact, Page, errors
from sluice.client.models import Task


def _has_log(task: Task) -> bool:
    return bool(task.log_uri or task.attempts)


@click.command("logs")
@click.argument("run_id")
@click.argument("task", required=False)
@click.option("--attempt", type=int, default=None, help="This attempt's log instead of the latest.")
@click.option(
    "-f", "--follow", is_flag=True, help="Print the task's log as it is written, until the task ends."
)
@server_options
@handle_errors
def logs_command(
    run_id: str, task: str | None, attempt: int | None, follow: bool, server: ServerOptions
) -> None:
    """Print the log of a task of a run (by task id, name or display name), or of all its tasks."""
    out = sys.stdout.buffer
    if follow and task is None:
        raise click.UsageError("--follow follows one task: name it")
    with server.connect() as client:
        if task is not None:
            for chunk in client.stream_task_log(run_id, task, attempt=attempt, follow=follow):
                out.write(chunk)
                if follow:
                    out.flush()
            out.flush()
            return
        run = client.get_run(run_id)
        for each in (t for t in run.tasks if _has_log(t)):
            out.write(f"==> {each.display_name or each.name} ({each.task_id}) <==\n".encode())
            try:
                for chunk in client.stream_task_log(run_id, each.task_id, attempt=attempt):
                    out.write(chunk)
            except errors.NotFound:
                out.write(b"(no log)\n")
            out.write(b"\n")
        out.flush()


@click.group("artifacts")
def artifacts_group() -> None:
    """Inspect and download the artifacts runs produced."""


@artifacts_group.command("get")
@click.argument("artifact")
@click.option(
    "-o",
    "--output-file",
    "dest",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="The file to write, or a folder to write it in under its name.",
)
@server_options
@handle_errors
def artifacts_get(artifact: str, dest: Path, server: ServerOptions) -> None:
    """Download an artifact, by id, or by URI (file://, s3://, minio://, gs://) over gRPC."""
    with server.connect() as client:
        written = client.download_artifact(artifact, dest)
    click.echo(f"wrote {written}")


def _print_artifacts(page: Page[Artifact]) -> None:
    from rich.table import Table

    table = Table(title="Artifacts", title_justify="left", header_style="bold")
    for column in ("ARTIFACT ID", "NAME", "TYPE", "TASK ID", "SIZE", "CREATED", "METADATA"):
        table.add_column(column, no_wrap=column.endswith("ID"))
    for artifact in page:
        metadata = ", ".join(
            f"{k}={v}" for k, v in sorted(artifact.metadata.items()) if not isinstance(v, dict | list)
        )
        table.add_row(
            artifact.artifact_id,
            artifact.name,
            artifact.schema_title,
            artifact.task_id,
            str(artifact.size_bytes),
            when(artifact.created_at),
            metadata,
        )
    console().print(table)


@artifacts_group.command("list")
@click.argument("run_id")
@click.option("--task-id", default="", help="Only this task's artifacts.")
@OUTPUT_OPTION
@server_options
@handle_errors
def artifacts_list(run_id: str, task_id: str, output: str, server: ServerOptions) -> None:
    """List the artifacts of a run, with their metadata (metrics)."""
    with server.connect() as client:
        page = client.list_artifacts(run_id=run_id, task_id=task_id, page_size=200)
    show(page, output=output, printer=_print_artifacts)


@click.group("experiments")
def experiments_group() -> None:
    """List and create experiments."""


@experiments_group.command("list")
@click.option("--name-contains", default=None, help="Only experiments whose name contains this.")
@click.option("--archived", is_flag=True, help="Archived experiments instead of available ones.")
@click.option("--page-size", default=50, show_default=True, type=int)
@click.option("--page-token", default="", help="next_page_token of the previous page.")
@OUTPUT_OPTION
@server_options
@handle_errors
def experiments_list(
    name_contains: str | None,
    archived: bool,
    page_size: int,
    page_token: str,
    output: str,
    server: ServerOptions,
) -> None:
    """List experiments."""
    with server.connect() as client:
        page = client.list_experiments(
            page_size=page_size,
            page_token=page_token,
            display_name__contains=name_contains,
            storage_state="ARCHIVED" if archived else "AVAILABLE",
        )
    show(page, output=output, printer=print_experiments)


@experiments_group.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the experiment is about.")
@OUTPUT_OPTION
@server_options
@handle_errors
def experiments_create(name: str, description: str, output: str, server: ServerOptions) -> None:
    """Create an experiment (names are unique); prints its id."""
    with server.connect() as client:
        experiment = client.create_experiment(name, description=description)
    if output == "json":
        echo_json(experiment)
    else:
        click.echo(experiment.experiment_id)


@click.group("pipelines")
def pipelines_group() -> None:
    """Upload and list pipelines."""


@pipelines_group.command("upload")
@click.argument("pipeline", metavar="PIPELINE")
@click.option("--name", default=None, help="Pipeline name [default: the pipeline's name].")
@click.option("--description", default="", help="What the pipeline does.")
@click.option("--pipeline-id", default=None, help="Upload as a new version of this pipeline.")
@click.option("--version-name", default=None, help="The new version's name (with --pipeline-id).")
@OUTPUT_OPTION
@server_options
@handle_errors
def pipelines_upload(
    pipeline: str,
    name: str | None,
    description: str,
    pipeline_id: str | None,
    version_name: str | None,
    output: str,
    server: ServerOptions,
) -> None:
    """Upload a pipeline (a compiled package, or file.py[:FUNCTION] compiled here), or a
    new version of one with --pipeline-id; prints the new id."""
    source = pipeline_source(pipeline)
    with server.connect() as client:
        if pipeline_id:
            version = client.upload_pipeline_version(
                source, pipeline_id=pipeline_id, name=version_name, description=description
            )
            result: object = version
            identifier = version.pipeline_version_id
        else:
            uploaded = client.upload_pipeline(source, name=name, description=description)
            result, identifier = uploaded, uploaded.pipeline_id
    if output == "json":
        echo_json(result)
    else:
        click.echo(identifier)


@pipelines_group.command("list")
@click.option("--name-contains", default=None, help="Only pipelines whose name contains this.")
@click.option("--page-size", default=50, show_default=True, type=int)
@click.option("--page-token", default="", help="next_page_token of the previous page.")
@OUTPUT_OPTION
@server_options
@handle_errors
def pipelines_list(
    name_contains: str | None, page_size: int, page_token: str, output: str, server: ServerOptions
) -> None:
    """List pipelines."""
    with server.connect() as client:
        page = client.list_pipelines(
            page_size=page_size, page_token=page_token, display_name__contains=name_contains
        )
    show(page, output=output, printer=print_pipelines)
