"""`sluice`: start a local Sluice, compile and run pipelines, follow and inspect runs.

Exit codes: 0 success; 1 the run failed, was canceled or did not finish in time; 2 bad
usage or input (with the server's message); 3 the server could not be reached or failed.
Commands that talk to a server take --host (or SLUICE_HOST): gRPC host:port by default,
or an http:// URL for the HTTP API.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from sluice.cli.resources import (
    artifacts_group,
    experiments_group,
    logs_command,
    pipelines_group,
)
from sluice.cli.runs import compile_command, run_command, runs_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Sluice: a light, fast ML workflow platform compatible with Kubeflow Pipelines.

    \b
    Commands that talk to Sluice take --host or SLUICE_HOST: its gRPC address
    (host:port, default 127.0.0.1:8889), or http://host:port for its HTTP API.
    Exit codes: 0 ok; 1 the run failed, was canceled or did not finish in time;
    2 bad usage or input; 3 Sluice could not be reached or failed.
    """


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

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with Standalone(config) as sluice:
            click.echo(f"Sluice is up: {sluice.http_url} (gRPC {sluice.grpc_address}); data in {data_dir}")
            sys.stdout.flush()
            bus = sluice.bus
            assert bus is not None  # started
            stopped, lost = asyncio.ensure_future(stop.wait()), asyncio.ensure_future(bus.lost.wait())
            await asyncio.wait([stopped, lost], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            lost.cancel()
            if bus.lost.is_set():
                click.echo("Sluice is stopping: its embedded NATS server is gone", err=True)
                return 1
            click.echo("Sluice is shutting down")
        return 0

    sys.exit(asyncio.run(serve()))


SERVICES = ("gateway", "scheduler", "executor", "artifacts")


@main.command()
@click.argument("name", type=click.Choice(SERVICES))
def service(name: str) -> None:
    """Run one service on its own (distributed mode), configured by SLUICE_* variables."""
    import importlib

    module = importlib.import_module(f"services.{name}.main")
    module.main()


for command in (
    compile_command,
    run_command,
    runs_group,
    logs_command,
    artifacts_group,
    experiments_group,
    pipelines_group,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
