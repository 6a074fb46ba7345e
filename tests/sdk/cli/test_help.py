"""`--help` works for every command and group."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from sluice.cli.main import main


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


ALL_COMMANDS = [(), *command_paths(main)]


def test_the_cli_has_the_commands_the_issue_asks_for() -> None:
    names = {" ".join(path) for path in ALL_COMMANDS}
    assert names >= {
        "up",
        "service",
        "compile",
        "run",
        "runs list",
        "runs get",
        "runs terminate",
        "runs retry",
        "runs watch",
        "logs",
        "artifacts get",
        "artifacts list",
        "experiments list",
        "experiments create",
        "pipelines upload",
        "pipelines list",
    }


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "sluice")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_everywhere(path: tuple[str, ...], flag: str) -> None:
    result = CliRunner().invoke(main, [*path, flag])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_commands_that_reach_a_server_take_host_and_output_options() -> None:
    for path in [("run",), ("runs", "list"), ("runs", "get"), ("experiments", "list"), ("pipelines", "list")]:
        text = CliRunner().invoke(main, [*path, "--help"]).output
        assert "--host" in text, path
        assert "SLUICE_HOST" in text, path
        assert "--output [table|json]" in text, path
