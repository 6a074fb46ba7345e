"""The Dockerfile and .dockerignore, checked for the essentials (no Docker engine here)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str
    comment: str
    """The comment lines right above the instruction."""


def parse(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined, and the comments above each."""
    instructions: list[Instruction] = []
    comment: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            if not pending:
                comment.append(line.lstrip("# "))
            continue
        if not line and not pending:
            comment = []
            continue
        pending = f"{pending} {line}".strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), " ".join(comment)))
        pending, comment = "", []
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM")
    return instructions[last_from:]


def test_base_images_are_python_311_slim_with_a_pinned_tag(instructions: list[Instruction]) -> None:
    images = [
        instruction.arguments.split()[0] for instruction in instructions if instruction.keyword == "FROM"
    ]
    assert images, "no FROM"
    for image in images:
        repository, _, tag = image.partition(":")
        assert tag, f"unpinned base image {image!r}"
        assert tag != "latest", f"unpinned base image {image!r}"
        assert "$" not in image, f"base image {image!r} depends on a build argument"
        assert repository == "python", image
        assert tag.startswith("3.11-slim"), image


def test_runs_as_a_numeric_non_root_user(instructions: list[Instruction]) -> None:
    users = [
        instruction.arguments for instruction in final_stage(instructions) if instruction.keyword == "USER"
    ]
    assert users, "the image would run as root"
    user, _, group = users[-1].partition(":")
    # Numeric, so that Kubernetes can check runAsNonRoot; the chart's runAsUser matches.
    assert user.isdigit(), users[-1]
    assert int(user) != 0, users[-1]
    if group:
        assert group.isdigit(), users[-1]
        assert int(group) != 0, users[-1]
    values = yaml.safe_load((REPO / "charts/sluice/values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(user)
    assert values["podSecurityContext"]["runAsNonRoot"] is True


def test_has_a_healthcheck_or_says_why_not(instructions: list[Instruction]) -> None:
    checks = [instruction for instruction in instructions if instruction.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    (check,) = checks
    if check.arguments.upper() == "NONE":
        assert len(check.comment) > 40, "HEALTHCHECK NONE needs a comment saying why"
    else:
        assert "CMD" in check.arguments


def test_entrypoint_is_the_sluice_command(instructions: list[Instruction]) -> None:
    (entrypoint,) = [instruction for instruction in instructions if instruction.keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint.arguments) == ["sluice"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "sluice" in pyproject["project"]["scripts"]


def test_installs_the_repository_pinned_by_the_lock_file(instructions: list[Instruction]) -> None:
    runs = " ".join(instruction.arguments for instruction in instructions if instruction.keyword == "RUN")
    assert re.search(r"pip install --constraint requirements\.lock \.(\s|;|$)", runs)
    assert (REPO / "requirements.lock").is_file()
    runtime = final_stage(instructions)
    assert any(
        instruction.keyword == "COPY" and instruction.arguments.startswith("--from=")
        for instruction in runtime
    ), "the runtime stage should copy the built environment, not rebuild it"


def test_exposes_the_ports_the_deployments_use(instructions: list[Instruction]) -> None:
    exposed = {
        int(port.split("/")[0])
        for instruction in instructions
        if instruction.keyword == "EXPOSE"
        for port in instruction.arguments.split()
    }
    values = yaml.safe_load((REPO / "charts/sluice/values.yaml").read_text())
    assert exposed == {
        values["gateway"]["httpPort"],
        values["gateway"]["grpcPort"],
        values["scheduler"]["port"],
        values["artifacts"]["port"],
        values["executor"]["healthPort"],
    }


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` (a top-level name) out of the build context."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.removeprefix("**/")):
            result = not negate
    return result


def test_dockerignore_keeps_what_pip_install_needs_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "requirements.lock", pyproject["project"]["readme"]}
    needed |= {path.split("/")[0] for path in pyproject["tool"]["setuptools"]["package-dir"].values()}
    for path in sorted(needed):
        assert not ignored(path, patterns), f".dockerignore drops {path}, which `pip install .` needs"
    for path in (".git", ".venv", "tests", "__pycache__", ".mypy_cache", "sluice.egg-info"):
        assert ignored(path, patterns), f".dockerignore should drop {path}"
