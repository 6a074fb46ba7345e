"""Shipping a component function with what it needs from its module.

KFP ships only a component function's body, so a function that calls a helper or uses a
module-level import fails in the task. Sluice ships a small module instead: the function,
and — found by reading the module with `ast` and resolving free names with `symtable` — the
module-level imports, helper functions, classes and constants it uses, recursively, in
their original order and text. Imports of the Sluice DSL become imports of the task runtime
(`sluice_runtime`), which provides the artifact classes and type markers; the component's
own `@component` decorator (and any Sluice decorator on a helper) is left out.

When the module's source cannot be read (a notebook cell, a REPL) or a name is not bound
at the module's top level, the name is resolved through the function's globals instead:
modules become imports, functions and classes of importable modules become `from … import`,
functions and classes defined interactively ship their own source, and plain constants
their `repr`. Anything else is a `CompileError` naming the component, the name and the
definition's line.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import symtable
import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sluice.dsl.errors import CompileError, SourceLocation
from sluice.runtime import executor as runtime

_RUNTIME_NAMES = frozenset(
    name for name in dir(runtime) if not name.startswith("_") and isinstance(getattr(runtime, name), type)
) | {"Input", "Output"}
_BUILTINS = frozenset(dir(builtins))
_COMPOUND = (ast.If, ast.Try, ast.With, ast.For, ast.While, ast.AsyncWith, ast.AsyncFor)


@dataclass
class _Module:
    """A module's top-level statements and the names each binds."""

    source: str
    lines: list[str]
    statements: list[ast.stmt]
    future: list[int] = field(default_factory=list)
    bindings: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, source: str) -> _Module:
        tree = ast.parse(source)
        module = cls(source=source, lines=source.splitlines(), statements=list(tree.body))
        for index, statement in enumerate(tree.body):
            if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
                module.future.append(index)
                continue
            for name in _bound_names(statement):
                module.bindings.setdefault(name, []).append(index)
        return module

    def text(self, statement: ast.stmt) -> str:
        first = _first_line(statement)
        end = statement.end_lineno or statement.lineno
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, *_COMPOUND)):
            return "\n".join(self.lines[first - 1 : end])
        segment = ast.get_source_segment(self.source, statement)
        return segment if segment is not None else "\n".join(self.lines[first - 1 : end])


def _first_line(statement: ast.stmt) -> int:
    """The line a statement starts on, decorators included."""
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(decorator.lineno for decorator in decorators)])


def _bound_names(statement: ast.stmt) -> list[str]:
    """Names a top-level statement binds (for compound statements: anywhere in its blocks)."""
    if isinstance(statement, ast.Import):
        return [alias.asname or alias.name.split(".")[0] for alias in statement.names]
    if isinstance(statement, ast.ImportFrom):
        return [alias.asname or alias.name for alias in statement.names if alias.name != "*"]
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        if isinstance(statement, ast.AnnAssign) and statement.value is None:
            return []
        return [node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)]
    if isinstance(statement, _COMPOUND):
        names: list[str] = []
        for block in _blocks(statement):
            for child in block:
                names.extend(_bound_names(child))
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            names.extend(node.id for node in ast.walk(statement.target) if isinstance(node, ast.Name))
        if isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                if item.optional_vars is not None:
                    names.extend(
                        node.id for node in ast.walk(item.optional_vars) if isinstance(node, ast.Name)
                    )
        if isinstance(statement, ast.Try):
            names.extend(handler.name for handler in statement.handlers if handler.name)
        return names
    return []


def _blocks(statement: ast.stmt) -> Iterable[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(statement, name, None)
        if block:
            yield block
    for handler in getattr(statement, "handlers", []):
        yield handler.body


def global_names(source: str) -> set[str]:
    """Names a piece of top-level code reads from the module's globals."""
    table = symtable.symtable(source, "<component>", "exec")
    names: set[str] = set()

    def visit(scope: symtable.SymbolTable, top: bool) -> None:
        for symbol in scope.get_symbols():
            if not symbol.is_referenced():
                continue
            if (top and not symbol.is_imported()) or (not top and symbol.is_global()):
                names.add(symbol.get_name())
        for child in scope.get_children():
            visit(child, False)

    visit(table, True)
    return names


class _Shipper:
    """Collects what one component function needs."""

    def __init__(self, func: Callable[..., Any], *, component: str, location: SourceLocation | None) -> None:
        self.func = func
        self.component = component
        self.location = location
        self.globals: dict[str, Any] = getattr(func, "__globals__", {})
        self.module = _read_module(func)
        self.statements: dict[int, str] = {}
        self.imports: dict[int, list[str]] = {}
        self.preamble: dict[str, str] = {}
        """Imports resolved through the function's globals, by the name they bind."""
        self.constants: dict[str, str] = {}
        """Constants resolved through the function's globals (their `repr`), by name."""
        self.definitions: dict[str, str] = {}
        self.done: set[str] = set()
        self.placed_definition: tuple[int, str] | None = None
        """(line, name) of a component defined inside a function, to keep at its line."""

    def fail(self, message: str, name: str | None = None) -> CompileError:
        return CompileError(message, component=self.component, argument=name, location=self.location)

    def ship(self) -> str:
        code = getattr(self.func, "__code__", None)
        if code is not None and code.co_freevars:
            names = ", ".join(repr(name) for name in code.co_freevars)
            raise self.fail(
                f"uses {names} from an enclosing function; a component can only use its arguments and "
                "module-level names, which Sluice ships with it"
            )
        index = self._top_level_index()
        if index is not None and self.module is not None:
            statement = self.module.statements[index]
            self.done.add(self.func.__name__)
            text = self._without_sluice_decorators(statement, self.module)
            self.statements[index] = text
            self._need(global_names(text) - {self.func.__name__})
        else:
            text = self._source_of(self.func)
            self.definitions[self.func.__name__] = text
            if self.module is not None and code is not None:
                self.placed_definition = (code.co_firstlineno, self.func.__name__)
            self.done.add(self.func.__name__)
            self._need(global_names(text) - {self.func.__name__})
        return self._assemble()

    def _top_level_index(self) -> int | None:
        if self.module is None:
            return None
        for index in self.module.bindings.get(self.func.__name__, []):
            statement = self.module.statements[index]
            is_function = isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_function and _first_line(statement) == self.func.__code__.co_firstlineno:
                return index
        return None

    def _need(self, names: Iterable[str]) -> None:
        for name in sorted(names):
            if name in self.done:
                continue
            self.done.add(name)
            if self.module is not None and name in self.module.bindings:
                for index in self.module.bindings[name]:
                    self._include(index, name)
            elif name in _BUILTINS:
                continue
            else:
                self._from_globals(name)

    def _include(self, index: int, name: str) -> None:
        assert self.module is not None
        statement = self.module.statements[index]
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            self.imports.setdefault(index, []).append(self._import_line(statement, name))
            return
        if index in self.statements:
            return
        text = self._without_sluice_decorators(statement, self.module)
        self.statements[index] = text
        self._need(global_names(text) - set(_bound_names(statement)))

    def _import_line(self, statement: ast.Import | ast.ImportFrom, name: str) -> str:
        for alias in statement.names:
            bound = alias.asname or (
                alias.name.split(".")[0] if isinstance(statement, ast.Import) else alias.name
            )
            if bound != name:
                continue
            if isinstance(statement, ast.Import):
                if _is_sluice_module(alias.name):
                    return self._runtime_import(name, self.globals.get(name))
                return f"import {alias.name} as {alias.asname}" if alias.asname else f"import {alias.name}"
            module = self._absolute_module(statement)
            if _is_sluice_module(module):
                return self._runtime_import(name, self.globals.get(name), attribute=alias.name)
            suffix = f" as {alias.asname}" if alias.asname else ""
            return f"from {module} import {alias.name}{suffix}"
        raise AssertionError(f"{name} is not bound by this import")

    def _absolute_module(self, statement: ast.ImportFrom) -> str:
        if not statement.level:
            return statement.module or ""
        package = getattr(inspect.getmodule(self.func), "__package__", None) or ""
        parts = package.split(".") if package else []
        if statement.level - 1 > len(parts) or not package:
            raise self.fail("a relative import it uses cannot be resolved outside its package")
        base = parts[: len(parts) - (statement.level - 1)]
        return ".".join([*base, *([statement.module] if statement.module else [])])

    def _runtime_import(self, name: str, value: Any, *, attribute: str | None = None) -> str:
        if isinstance(value, types.ModuleType):
            return f"import {runtime.RUNTIME_MODULE_NAME} as {name}"
        source_name = attribute or name
        if source_name not in _RUNTIME_NAMES:
            raise self.fail(
                f"uses {source_name!r} from sluice, which does not exist inside a task (available there: "
                f"{', '.join(sorted(_RUNTIME_NAMES))})",
                name,
            )
        suffix = f" as {name}" if name != source_name else ""
        return f"from {runtime.RUNTIME_MODULE_NAME} import {source_name}{suffix}"

    def _from_globals(self, name: str) -> None:
        if name not in self.globals:
            raise self.fail(f"uses {name!r}, which is not defined in its module", name)
        value = self.globals[name]
        if isinstance(value, types.ModuleType):
            if _is_sluice_module(value.__name__):
                self.preamble[name] = self._runtime_import(name, value)
            elif value.__name__ == name:
                self.preamble[name] = f"import {name}"
            else:
                self.preamble[name] = f"import {value.__name__} as {name}"
            return
        from sluice.dsl.components import BaseComponent

        if isinstance(value, BaseComponent):
            python_func = getattr(value, "python_func", None)
            if python_func is None:
                raise self.fail(f"uses component {name!r}, which has no Python function to ship", name)
            value = python_func
        module_name = getattr(value, "__module__", None)
        interactive = module_name in ("__main__", getattr(self.func, "__module__", None))
        if (inspect.isfunction(value) or inspect.isclass(value)) and interactive:
            text = self._source_of(value)
            own_name = getattr(value, "__name__", name)
            self.definitions[name] = text if own_name == name else f"{text}\n{name} = {own_name}"
            self._need(global_names(text) - {own_name})
            return
        importable = _importable(value)
        if importable is not None:
            module_name, attribute = importable
            if _is_sluice_module(module_name):
                self.preamble[name] = self._runtime_import(name, value, attribute=attribute)
            else:
                suffix = f" as {name}" if attribute != name else ""
                self.preamble[name] = f"from {module_name} import {attribute}{suffix}"
            return
        if _is_literal(value):
            self.constants[name] = f"{name} = {value!r}"
            return
        raise self.fail(
            f"uses {name!r}, a {type(value).__name__} object that cannot be shipped to the task; "
            "define it in the module, import it, or pass it as an input",
            name,
        )

    def _source_of(self, value: Any) -> str:
        try:
            source = textwrap.dedent(inspect.getsource(value))
        except (OSError, TypeError) as error:
            raise self.fail(
                f"cannot read the source of {getattr(value, '__name__', value)!r}: {error}"
            ) from None
        module = _Module.parse(source)
        statement = module.statements[0]
        return self._without_sluice_decorators(statement, module)

    def _without_sluice_decorators(self, statement: ast.stmt, module: _Module) -> str:
        """The statement's text with Sluice decorators blanked out (so every other line keeps its place)."""
        decorators = getattr(statement, "decorator_list", [])
        text = module.text(statement)
        if not any(self._is_sluice(decorator) for decorator in decorators):
            return text
        first = _first_line(statement)
        lines = text.split("\n")
        for decorator in decorators:
            if self._is_sluice(decorator):
                for line in range(decorator.lineno, (decorator.end_lineno or decorator.lineno) + 1):
                    lines[line - first] = ""
        return "\n".join(lines)

    def _is_sluice(self, decorator: ast.expr) -> bool:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        path: list[str] = []
        while isinstance(node, ast.Attribute):
            path.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return False
        value = self.globals.get(node.id)
        for attribute in reversed(path):
            value = getattr(value, attribute, None)
        module_name = getattr(value, "__module__", "") or ""
        return module_name.startswith("sluice.dsl")

    def _assemble(self) -> str:
        """The module's text: what comes from the module at its original line numbers (so a task's
        tracebacks point at the user's lines), then what was resolved through globals."""
        lines: list[str] = []

        def place(line: int | None, text: str) -> None:
            if line is not None and len(lines) <= line - 1:
                lines.extend([""] * (line - 1 - len(lines)))
            elif lines:
                lines.extend(["", ""])
            lines.extend(text.split("\n"))

        module = self.module
        if module is not None:
            for index in module.future:
                place(module.statements[index].lineno, module.text(module.statements[index]))
        if self.preamble or self.constants:
            resolved = [*sorted(self.preamble.values())]
            resolved += [self.constants[name] for name in sorted(self.constants)]
            place(None, "; ".join(resolved) if module is not None else "\n".join(resolved))
        pieces: list[tuple[int, str]] = []
        if module is not None:
            pieces += [
                (module.statements[i].lineno, _merge_imports(names)) for i, names in self.imports.items()
            ]
            pieces += [(_first_line(module.statements[i]), text) for i, text in self.statements.items()]
        definitions = dict(self.definitions)
        if self.placed_definition is not None:
            line, name = self.placed_definition
            pieces.append((line, definitions.pop(name)))
        for line, text in sorted(pieces):
            place(line, text)
        for text in definitions.values():
            place(None, text)
        return "\n".join(lines).rstrip("\n") + "\n"


def _merge_imports(lines: list[str]) -> str:
    """The imports one statement is reduced to, as one line: `from m import a, b` / `import a, b as c`."""
    merged: dict[str, list[str]] = {}
    for line in lines:
        head, _, names = line.partition("import ")
        merged.setdefault(head, []).append(names)
    return "; ".join(f"{head}import {', '.join(names)}" for head, names in merged.items())


def _read_module(func: Callable[..., Any]) -> _Module | None:
    module = inspect.getmodule(func)
    if module is None:
        return None
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return None
    try:
        return _Module.parse(source)
    except SyntaxError:
        return None


def _is_sluice_module(name: str) -> bool:
    return name == "sluice" or name.startswith("sluice.")


def _importable(value: Any) -> tuple[str, str] | None:
    """`(module, attribute)` such that `from module import attribute` gives `value`, if any."""
    module_name = getattr(value, "__module__", None)
    if not isinstance(module_name, str) or module_name == "__main__":
        return None
    module = sys.modules.get(module_name)
    if module is None:
        return None
    for attribute in (
        getattr(value, "__qualname__", None),
        getattr(value, "__name__", None),
        getattr(value, "_name", None),
    ):
        if (
            isinstance(attribute, str)
            and attribute.isidentifier()
            and getattr(module, attribute, None) is value
        ):
            return module_name, attribute
    for attribute, candidate in vars(module).items():
        if candidate is value and not attribute.startswith("_"):
            return module_name, attribute
    return None


def _is_literal(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_is_literal(item) for item in value)
    if isinstance(value, dict):
        return all(_is_literal(key) and _is_literal(item) for key, item in value.items())
    return False


def ship_function(func: Callable[..., Any], *, component: str, location: SourceLocation | None) -> str:
    """The source of a module holding `func` and what it uses from its own module.

    Raises CompileError when something it uses cannot be shipped.
    """
    return _Shipper(func, component=component, location=location).ship()
