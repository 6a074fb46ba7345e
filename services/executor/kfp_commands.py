"""Skipping the `pip install` that starts every KFP lightweight Python component.

The KFP compiler prefixes a Python component's command with::

    sh -c '<ensure pip> PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install … 'kfp==X' … && "$0" "$@"'

followed by the real command (`sh -ec '… python3 -m kfp.dsl.executor_main …'`). When every
requirement of those pip installs is already satisfied where the task runs, the prefix
is dropped and the rest runs directly: `"$0" "$@"` would have run exactly that. Anything
that does not parse as that prefix with plain requirements and known options is left
unchanged, so the rewrite never changes what a task does beyond skipping the install.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion

_ENSURE_PIP = re.compile(r'\A\s*if ! \[ -x "\$\(command -v pip\)" \]; then\n[^\n]*\nfi\s*')
_INSTALL_THEN_RUN = re.compile(r'\A(?P<installs>.*?)\s*&&\s*"\$0"\s+"\$@"\s*\Z', re.DOTALL)
_PIP_INSTALL = ("python3", "-m", "pip", "install")
_FLAGS = frozenset({"--quiet", "-q", "--no-warn-script-location", "--no-deps"})
_OPTIONS_WITH_VALUE = frozenset({"--index-url", "-i", "--extra-index-url", "--trusted-host"})
_ENV_PREFIX = "PIP_DISABLE_PIP_VERSION_CHECK=1"


@dataclass(frozen=True)
class SkippedInstall:
    """A command whose pip-install prefix was dropped."""

    argv: tuple[str, ...]
    """The command to run instead."""
    requirements: tuple[str, ...]
    """The requirements the dropped pip install(s) asked for, all satisfied."""


def requirement_satisfied(requirement: Requirement) -> bool:
    """True when `requirement` holds in this interpreter's environment (or does not apply)."""
    return _satisfied(requirement, seen=set())


def skip_satisfied_pip_install(
    argv: Sequence[str], *, is_satisfied: Callable[[Requirement], bool] = requirement_satisfied
) -> SkippedInstall | None:
    """`argv` without KFP's pip-install prefix when every requirement in it is satisfied.

    Returns None when `argv` does not start with that prefix or something must really
    be installed; run `argv` unchanged then.
    """
    if len(argv) < 4 or tuple(argv[:2]) != ("sh", "-c"):
        return None
    requirements = _parse_install_script(argv[2])
    if requirements is None or not all(is_satisfied(requirement) for requirement in requirements):
        return None
    return SkippedInstall(argv=tuple(argv[3:]), requirements=tuple(str(r) for r in requirements))


def _parse_install_script(script: str) -> list[Requirement] | None:
    """The requirements of a `[ensure pip] pip install … && "$0" "$@"` script, or None."""
    script = _ENSURE_PIP.sub("", script, count=1)
    match = _INSTALL_THEN_RUN.match(script)
    if match is None:
        return None
    try:
        tokens = shlex.split(match.group("installs"))
    except ValueError:
        return None
    if tokens[:1] == [_ENV_PREFIX]:
        tokens = tokens[1:]
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token == "&&":
            commands.append([])
        else:
            commands[-1].append(token)
    requirements: list[Requirement] = []
    for command in commands:
        parsed = _parse_pip_install(command)
        if parsed is None:
            return None
        requirements.extend(parsed)
    return requirements


def _parse_pip_install(tokens: list[str]) -> list[Requirement] | None:
    if tuple(tokens[: len(_PIP_INSTALL)]) != _PIP_INSTALL:
        return None
    requirements: list[Requirement] = []
    rest = iter(tokens[len(_PIP_INSTALL) :])
    for token in rest:
        option = token.split("=", 1)[0]
        if token in _FLAGS or (option in _OPTIONS_WITH_VALUE and "=" in token):
            continue
        if token in _OPTIONS_WITH_VALUE:
            if next(rest, None) is None:
                return None
            continue
        if token.startswith("-"):
            return None
        try:
            requirement = Requirement(token)
        except InvalidRequirement:
            return None
        if requirement.url:
            return None
        requirements.append(requirement)
    return requirements or None


def _satisfied(requirement: Requirement, *, seen: set[str]) -> bool:
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return True
    try:
        distribution = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    try:
        if not requirement.specifier.contains(distribution.version, prereleases=True):
            return False
    except InvalidVersion:
        return False
    for extra in sorted(requirement.extras):
        key = f"{requirement.name}[{extra}]".lower()
        if key in seen:
            continue
        seen.add(key)
        for dependency in _extra_dependencies(distribution, extra):
            if not _satisfied(dependency, seen=seen):
                return False
    return True


def _extra_dependencies(distribution: importlib.metadata.Distribution, extra: str) -> list[Requirement]:
    """The requirements a distribution adds for `extra` (its base ones are installed already)."""
    dependencies = []
    for line in distribution.requires or []:
        try:
            dependency = Requirement(line)
        except InvalidRequirement:
            continue
        marker = dependency.marker
        if marker is not None and marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""}):
            dependency.marker = None
            dependencies.append(dependency)
    return dependencies
