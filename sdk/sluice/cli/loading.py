"""Finding the pipeline a command names: `pipeline.py[:function]` or a compiled package."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from sluice.cli.options import CliError

PACKAGE_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def is_python_source(reference: str) -> bool:
    return reference.partition(":")[0].endswith(".py")


def _is_pipeline(value: Any) -> bool:
    kind = type(value)
    if kind.__module__.startswith("sluice.dsl"):
        return kind.__name__ == "Pipeline"
    return kind.__module__.split(".")[0] == "kfp" and kind.__name__ == "GraphComponent"


def _defined_in(value: Any, module: ModuleType) -> bool:
    func = getattr(value, "python_func", None) or getattr(value, "pipeline_func", None)
    return getattr(func, "__module__", module.__name__) == module.__name__


def _import(path: Path) -> ModuleType:
    name = (
        path.stem if path.stem.isidentifier() and path.stem not in sys.modules else f"_sluice_cli_{path.stem}"
    )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered first, so the compiler can read the module's source (helpers it ships).
    sys.modules[name] = module
    # While it runs, the file's own folder comes first on the path, so it imports its
    # neighbours as `python file.py` would.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        raise CliError(f"cannot load {path}: {detail}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def load_pipeline_function(reference: str) -> Any:
    """The pipeline of `file.py:function`, or the only pipeline `file.py` defines.

    Raises:
        CliError (exit 2): no such file or function, the file fails to import (a pipeline
            that does not compile fails here, with the line), or it holds several pipelines.
    """
    file_name, _, function = reference.partition(":")
    path = Path(file_name)
    if not path.is_file():
        raise CliError(f"no such file: {file_name}")
    module = _import(path.resolve())
    if function:
        value = getattr(module, function, None)
        if value is None:
            raise CliError(f"{file_name} has no {function!r}")
        if (
            not _is_pipeline(value)
            and not hasattr(value, "component_spec")
            and not hasattr(value, "interface")
        ):
            raise CliError(f"{file_name}:{function} is not a pipeline or a component")
        return value
    found = {
        name: value
        for name, value in vars(module).items()
        if _is_pipeline(value) and _defined_in(value, module)
    }
    # The same pipeline under two names (`PIPELINE = my_pipeline`) is one pipeline.
    if len({id(value) for value in found.values()}) == 1:
        return next(iter(found.values()))
    if not found:
        raise CliError(f"{file_name} defines no pipeline; name one as {file_name}:FUNCTION")
    names = ", ".join(sorted(found))
    raise CliError(f"{file_name} defines several pipelines ({names}); name one as {file_name}:FUNCTION")


def compile_to(pipeline: Any, output: Path) -> None:
    """Write `pipeline` (Sluice or kfp) as an IR YAML package with its own compiler."""
    if type(pipeline).__module__.split(".")[0] == "kfp":
        from kfp import compiler as kfp_compiler

        kfp_compiler.Compiler().compile(pipeline, str(output))
        return
    from sluice.compiler import Compiler
    from sluice.dsl import CompileError

    try:
        Compiler().compile(pipeline, output)
    except CompileError as error:
        raise CliError(str(error)) from None
