"""A component ships with the imports, helpers and constants of its module that it uses."""

from __future__ import annotations

import linecache
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from sluice import dsl
from sluice.dsl import CompileError
from sluice.dsl.shipping import global_names
from sluice.runtime import executor as runtime

from tests.sdk.dsl import shipped
from tests.sdk.dsl.lines import line_of


def run_shipped(source: str, function: str, **kwargs: Any) -> Any:
    """Execute shipped source as the task does (with `sluice_runtime` importable) and call `function`."""
    sys.modules.setdefault(runtime.RUNTIME_MODULE_NAME, runtime)
    namespace: dict[str, Any] = {"__name__": "shipped_under_test"}
    exec(compile(source, "<shipped>", "exec"), namespace)
    return namespace[function](**kwargs)


def test_helpers_constants_and_imports_are_shipped_in_module_order() -> None:
    source = shipped.helper_used.source

    assert [line for line in source.splitlines() if line] == [
        "import math as m",
        "SCALE = 10",
        "OFFSET = SCALE + 1",
        "def _square(value: float) -> float:",
        "    return value * value",
        "def distance(x: float, y: float) -> float:",
        "    return m.sqrt(_square(x) + _square(y)) * SCALE",
        "def helper_used(x: float, y: float) -> float:",
        '    """Uses a helper that uses another helper, a module alias and a constant."""',
        "    return distance(x, y) + OFFSET",
    ]
    assert run_shipped(source, "helper_used", x=3.0, y=4.0) == 61.0


@pytest.mark.parametrize("component", [shipped.helper_used, shipped.summarize, shipped.uses_dsl_in_body])
def test_shipped_lines_keep_their_line_numbers(component: dsl.PythonComponent) -> None:
    """So that a traceback in the task points at the line of the user's file."""
    original = Path(shipped.__file__).read_text().splitlines()

    moved = [
        (number, line)
        for number, line in enumerate(component.source.splitlines(), 1)
        if line and line != original[number - 1]
    ]

    assert all("sluice_runtime" in line for _, line in moved), moved


def test_what_is_not_used_is_not_shipped() -> None:
    source = shipped.summarize.source

    for absent in ("UNUSED_CONSTANT", "unused_helper", "distance", "import math", "@dsl.component"):
        assert absent not in source
    assert "from collections import Counter as Tally" in source
    assert "class Summary(NamedTuple):" in source
    assert "def factorial(n: int) -> int:" in source
    assert "from sluice_runtime import Dataset, Metrics, Output" in source


def test_sluice_imports_become_runtime_imports() -> None:
    source = shipped.uses_dsl_in_body.source

    assert "import sluice_runtime as dsl" in source
    assert "import os.path" in source
    assert "try:\n    import tomllib as toml_reader\nexcept ImportError:" in source
    assert "sluice." not in source.replace("sluice_runtime", "")
    assert run_shipped(source, "uses_dsl_in_body", name="x") == "system.Datasetb" + str(
        sys.version_info >= (3, 11)
    )


def test_global_names_sees_nested_scopes_but_not_locals() -> None:
    code = (
        "def f(a=DEFAULT):\n"
        "    local = 1\n"
        "    def g():\n"
        "        return helper(local) + [x for x in ITEMS]\n"
        "    return g() + len(a)\n"
    )

    assert global_names(code) == {"DEFAULT", "helper", "ITEMS", "len"}


def test_a_nested_component_ships_its_own_source() -> None:
    @dsl.component
    def nested(x: float) -> float:
        return shipped.distance(x, 0)

    lines = nested.source.splitlines()
    assert [line for line in lines if line] == [
        "from __future__ import annotations",
        "from tests.sdk.dsl import shipped",
        "def nested(x: float) -> float:",
        "    return shipped.distance(x, 0)",
    ]
    assert lines.index("def nested(x: float) -> float:") + 1 == nested.python_func.__code__.co_firstlineno + 1


def test_a_closure_variable_is_a_definition_error() -> None:
    factor = 3

    with pytest.raises(CompileError) as error:

        @dsl.component  # closure
        def closes_over(x: int) -> int:
            return x * factor

    assert error.value.component == "closes-over"
    assert "uses 'factor' from an enclosing function" in str(error.value)
    assert str(error.value.location) == line_of(__file__, "closure")


def test_an_undefined_name_is_a_definition_error() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.component  # undefined
        def typo(x: int) -> int:
            return int(x * SCALLE)  # type: ignore[name-defined]  # noqa: F821

    assert error.value.argument == "SCALLE"
    assert "uses 'SCALLE', which is not defined in its module" in str(error.value)
    assert str(error.value.location) == line_of(__file__, "undefined")


def test_an_unshippable_object_is_a_definition_error() -> None:
    module = types.ModuleType("unshippable")
    module.__dict__["LOCK"] = threading.Lock()
    source = "def locked() -> bool:\n    return LOCK.locked()\n"
    _exec_as_cell(module, source, "<cell-lock>")

    with pytest.raises(CompileError, match="uses 'LOCK', a lock object that cannot be shipped"):
        dsl.component(module.locked)


def test_a_sluice_name_missing_in_the_task_is_a_definition_error() -> None:
    module = types.ModuleType("uses_component")
    module.__dict__["component"] = dsl.component
    _exec_as_cell(module, "def wrapper() -> None:\n    component(print)\n", "<cell-component>")

    with pytest.raises(
        CompileError, match="uses 'component' from sluice, which does not exist inside a task"
    ):
        dsl.component(module.wrapper)


def _exec_as_cell(module: types.ModuleType, source: str, filename: str) -> None:
    """Run `source` in `module` as a notebook cell: its text is known to `linecache` only."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)


def test_without_module_source_names_are_resolved_through_globals() -> None:
    import json
    from math import sqrt

    module = types.ModuleType("notebook")
    module.__dict__.update(json=json, root=sqrt, LIMIT=3, NAMES=("a", "b"))
    cell = (
        "def clip(value: float) -> float:\n"
        "    return min(value, LIMIT)\n"
        "\n"
        "def notebook_component(text: str) -> str:\n"
        "    return json.dumps([clip(root(len(text))), NAMES])\n"
    )
    _exec_as_cell(module, cell, "<cell-1>")

    component = dsl.component(module.notebook_component)

    assert component.source == (
        "from math import sqrt as root\n"
        "import json\n"
        "LIMIT = 3\n"
        "NAMES = ('a', 'b')\n"
        "\n\n"
        "def notebook_component(text: str) -> str:\n"
        "    return json.dumps([clip(root(len(text))), NAMES])\n"
        "\n\n"
        "def clip(value: float) -> float:\n"
        "    return min(value, LIMIT)\n"
    )
    assert run_shipped(component.source, "notebook_component", text="abcdefghijklmnop") == '[3, ["a", "b"]]'
