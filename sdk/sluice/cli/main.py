"""`sluice`: start a local Sluice, submit pipelines and follow them.

Exit codes: 0 success; 1 the run failed or was canceled; 2 bad usage or input; 3 the
server could not be reached or answered with an error.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from sluice.cli.submit import SubmitError, follow_run, parse_parameters, submit_run

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVER = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Sluice: a light, fast ML workflow platform compatible with Kubeflow Pipelines."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8888, show_default=True, type=int, help="HTTP port (API and UI).")
@click.option("--grpc-port", default=None, type=int, help="gRPC port [default: HTTP port + 1].")
@click.option(
    "--data-dir",
    default="./sluice-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where Sluice keeps its database, artifacts, logs and event store.",
)
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def up(host: str, port: int, grpc_port: int | None, data_dir: Path, log_level: str) -> None:
    """Start Sluice with its embedded defaults (SQLite, local artifacts, local processes)."""
    from services.core.serving import configure_logging
    from services.standalone.app import Standalone, StandaloneConfig

    configure_logging(log_level)
    config = StandaloneConfig(
        data_dir=data_dir,
        host=host,
        port=port,
        grpc_port=grpc_port if grpc_port is not None else (port + 1 if port else 0),
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with Standalone(config) as sluice:
            click.echo(f"Sluice is up: {sluice.http_url} (gRPC {sluice.grpc_address}); data in {data_dir}")
            sys.stdout.flush()
            await stop.wait()
            click.echo("Sluice is shutting down")

    asyncio.run(serve())


SERVICES = ("gateway", "scheduler", "executor", "artifacts")


@main.command()
@click.argument("name", type=click.Choice(SERVICES))
def service(name: str) -> None:
    """Run one service on its own (distributed mode), configured by SLUICE_* variables."""
    import importlib

    module = importlib.import_module(f"services.{name}.main")
    module.main()


@main.command()
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter.")
@click.option("--host", default="http://127.0.0.1:8888", show_default=True, help="Sluice HTTP address.")
@click.option("--name", "display_name", default=None, help="Run name [default: the pipeline's name].")
@click.option("--experiment-id", default=None, help="Experiment to run in [default: Default].")
@click.option("--no-cache", is_flag=True, help="Do not reuse cached task outputs in this run.")
@click.option("--no-wait", is_flag=True, help="Submit and print the run id without waiting.")
def run(
    package: Path,
    params: tuple[str, ...],
    host: str,
    display_name: str | None,
    experiment_id: str | None,
    no_cache: bool,
    no_wait: bool,
) -> None:
    """Submit a compiled pipeline (KFP IR YAML/JSON) and follow it until it finishes."""
    try:
        parameters = parse_parameters(params)
        run_id = submit_run(
            host,
            package,
            parameters=parameters,
            display_name=display_name,
            experiment_id=experiment_id,
            disable_cache=no_cache,
        )
    except SubmitError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    click.echo(f"run {run_id} submitted")
    if no_wait:
        return
    try:
        state = follow_run(host, run_id, echo=click.echo)
    except SubmitError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    click.echo(f"run {run_id} {state}")
    if state != "SUCCEEDED":
        sys.exit(EXIT_RUN_FAILED)


if __name__ == "__main__":
    main()
