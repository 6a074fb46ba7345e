from __future__ import annotations

import subprocess
from pathlib import Path

import kfp
import pytest
from packaging.requirements import Requirement

from services.executor.kfp_commands import requirement_satisfied, skip_satisfied_pip_install
from tests.services.executor.components import add, needs_more, uses_packages
from tests.services.executor.kfp_ir import compile_component

INSTALL_PREFIX = "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location"


def kfp_argv(component: object, tmp_path: Path) -> list[str]:
    container = compile_component(component, tmp_path).container
    return [*container["command"], *container["args"]]


def test_the_real_kfp_command_runs_without_its_pip_install(tmp_path: Path) -> None:
    argv = kfp_argv(add, tmp_path)
    assert argv[:2] == ["sh", "-c"]
    assert "pip install" in argv[2]

    skipped = skip_satisfied_pip_install(argv)

    assert skipped is not None
    assert skipped.argv == tuple(argv[3:])
    assert skipped.argv[:2] == ("sh", "-ec")
    assert skipped.requirements == (
        f"kfp=={kfp.__version__}",
        'typing-extensions<5,>=3.7.4; python_version < "3.9"',
    )


def test_user_packages_that_are_installed_are_skipped_too(tmp_path: Path) -> None:
    argv = kfp_argv(uses_packages, tmp_path)
    assert "--index-url http://127.0.0.1:9/simple --extra-index-url" in argv[2]

    skipped = skip_satisfied_pip_install(argv)

    assert skipped is not None
    assert skipped.requirements[:3] == ("packaging", "PyYAML>=5", f"kfp=={kfp.__version__}")


def test_a_missing_package_keeps_the_install(tmp_path: Path) -> None:
    assert skip_satisfied_pip_install(kfp_argv(needs_more, tmp_path)) is None


def test_the_satisfaction_check_is_injectable(tmp_path: Path) -> None:
    argv = kfp_argv(add, tmp_path)
    asked: list[str] = []

    def nothing_installed(requirement: Requirement) -> bool:
        asked.append(requirement.name)
        return False

    assert skip_satisfied_pip_install(argv, is_satisfied=nothing_installed) is None
    assert asked == ["kfp"]


@pytest.mark.parametrize(
    "script",
    [
        'echo hi && "$0" "$@"',
        f"{INSTALL_PREFIX} 'kfp'",
        f'{INSTALL_PREFIX} -r requirements.txt && "$0" "$@"',
        f'{INSTALL_PREFIX} --upgrade kfp && "$0" "$@"',
        f'{INSTALL_PREFIX} kfp; rm -rf /tmp/x && "$0" "$@"',
        f'{INSTALL_PREFIX} kfp && echo side-effect && "$0" "$@"',
        f'{INSTALL_PREFIX} "kfp @ git+https://127.0.0.1/kfp.git" && "$0" "$@"',
        f'{INSTALL_PREFIX} /tmp/kfp.tar.gz && "$0" "$@"',
        f'{INSTALL_PREFIX} --index-url && "$0" "$@"',
        f'{INSTALL_PREFIX} && "$0" "$@"',
        f'{INSTALL_PREFIX} \'unterminated && "$0" "$@"',
        'python3 -m pip download kfp && "$0" "$@"',
        f'{INSTALL_PREFIX} $(echo kfp) && "$0" "$@"',
    ],
)
def test_anything_but_a_plain_pip_install_is_left_alone(script: str) -> None:
    assert skip_satisfied_pip_install(["sh", "-c", script, "sh", "-ec", "true"]) is None


@pytest.mark.parametrize("argv", [[], ["python3", "x.py"], ["sh", "-c", "true"], ["bash", "-c", "x", "y"]])
def test_other_commands_are_left_alone(argv: list[str]) -> None:
    assert skip_satisfied_pip_install(argv) is None


def test_the_rewritten_command_does_what_the_original_would_after_installing(tmp_path: Path) -> None:
    script = f'{INSTALL_PREFIX} --index-url=http://127.0.0.1:9/simple \'packaging\' && "$0" "$@"'
    tail = ["sh", "-ec", 'printf "%s|%s" "$0" "$1" > out.txt', "first", "second arg"]

    skipped = skip_satisfied_pip_install(["sh", "-c", script, *tail])

    assert skipped is not None
    assert skipped.argv == tuple(tail)
    subprocess.run(skipped.argv, cwd=tmp_path, check=True)
    assert (tmp_path / "out.txt").read_text() == "first|second arg"


@pytest.mark.parametrize(
    ("requirement", "satisfied"),
    [
        ("packaging", True),
        ("packaging>=1", True),
        ("packaging>=9999", False),
        ("surely-not-installed-package", False),
        ('surely-not-installed-package; python_version < "3"', True),
        (f"KFP=={kfp.__version__}", True),
        ("typing_extensions>=4", True),
        ("pydantic[timezone]", True),
        ("kfp[kubernetes]", False),
    ],
)
def test_requirement_satisfied(requirement: str, satisfied: bool) -> None:
    assert requirement_satisfied(Requirement(requirement)) is satisfied
