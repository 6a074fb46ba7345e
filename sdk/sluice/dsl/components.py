"""Components: `@component` (Python functions), `@container_component`, and `importer`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from sluice.dsl.errors import CompileError, caller_location
from sluice.dsl.interface import ComponentInterface, InputSpec, OutputSpec, read_interface
from sluice.dsl.placeholders import ContainerSpec, command_line_text, placeholder_for
from sluice.dsl.shipping import ship_function
from sluice.dsl.types import ArtifactType, ParameterType, ParamType, Role
from sluice.runtime.executor import Artifact

if TYPE_CHECKING:
    from sluice.dsl.tasks import PipelineTask

DEFAULT_BASE_IMAGE = "python:3.11"
"""The image Python components run in unless `base_image` is given (KFP's default)."""


class BaseComponent:
    """Something a pipeline can call to add a task."""

    interface: ComponentInterface

    @property
    def name(self) -> str:
        return self.interface.name

    @property
    def has_container(self) -> bool:
        """Whether its tasks run a container (and so take resources, env, timeouts)."""
        return True

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineTask:
        """Add a task running this component to the pipeline being defined; returns the `PipelineTask`."""
        from sluice.dsl.tasks import PipelineTask

        return PipelineTask(self, args, kwargs)


class PythonComponent(BaseComponent):
    """A component running a Python function (`@component`)."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        base_image: str,
        packages_to_install: list[str],
        pip_index_urls: list[str],
    ) -> None:
        self.python_func = func
        """The decorated function, to call directly (in unit tests, for instance)."""
        self.interface = read_interface(func)
        self.base_image = base_image
        self.packages_to_install = list(packages_to_install)
        self.pip_index_urls = list(pip_index_urls)
        self.source = ship_function(func, component=self.interface.name, location=self.interface.location)
        """The module shipped to the task: the function and what it uses from its module."""
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def runtime_interface(self) -> str:
        """How the task runtime feeds the function and reads its outputs (JSON)."""
        inputs: dict[str, dict[str, Any]] = {}
        for name, spec in self.interface.inputs.items():
            entry: dict[str, Any] = {"kind": spec.role.value}
            if spec.role is Role.PARAMETER:
                assert isinstance(spec.type, ParamType)
                entry["type"] = spec.type.kind.value
            if spec.role is Role.INPUT_ARTIFACT and spec.is_list:
                entry["list"] = True
            if spec.optional and spec.default is None and spec.role is not Role.FINAL_STATUS:
                entry["optional"] = True
            inputs[name] = entry
        outputs: list[dict[str, Any]] = []
        for name, output in self.interface.outputs.items():
            if output.role is Role.RETURN:
                outputs.append(_returned_output(name, output))
            else:
                inputs[name] = {"kind": output.role.value}
        return json.dumps(
            {"inputs": inputs, "outputs": outputs, "returns": self.interface.returns}, sort_keys=True
        )

    def __repr__(self) -> str:
        return f"<PythonComponent {self.name}>"


def _returned_output(name: str, output: OutputSpec) -> dict[str, Any]:
    if isinstance(output.type, ArtifactType):
        return {"name": name, "kind": "artifact"}
    return {"name": name, "kind": "parameter", "type": output.type.kind.value}


class ContainerComponent(BaseComponent):
    """A component running a container command (`@container_component`)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.python_func = func
        self.interface = read_interface(func, container=True)
        arguments = {
            name: placeholder_for(name, spec.role, spec.type) for name, spec in self.interface.inputs.items()
        }
        for name, output in self.interface.outputs.items():
            arguments[name] = placeholder_for(name, output.role, output.type)
        location = self.interface.location
        try:
            spec = func(**arguments)
        except CompileError:
            raise
        except Exception as error:
            raise CompileError(
                f"calling the container component function failed: {type(error).__name__}: {error}",
                component=self.interface.name,
                location=location,
            ) from error
        if not isinstance(spec, ContainerSpec):
            raise CompileError(
                f"a container component returns a dsl.ContainerSpec; got {spec!r}",
                component=self.interface.name,
                location=location,
            )
        try:
            self.image = spec.image
            self.command = [command_line_text(item) for item in spec.command]
            self.args = [command_line_text(item) for item in spec.args]
        except TypeError as error:
            raise CompileError(str(error), component=self.interface.name, location=location) from None
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def __repr__(self) -> str:
        return f"<ContainerComponent {self.name}>"


class ImporterComponent(BaseComponent):
    """The component behind `dsl.importer`: brings an existing artifact into the pipeline."""

    def __init__(
        self,
        *,
        artifact_class: type[Artifact],
        reimport: bool,
        metadata: dict[str, Any] | None,
        uri: str | None,
    ) -> None:
        self.artifact_type = ArtifactType.of(artifact_class)
        self.reimport = reimport
        self.metadata = metadata
        self.constant_uri = uri
        self.interface = ComponentInterface(
            name="importer",
            inputs={"uri": InputSpec("uri", Role.PARAMETER, ParamType(ParameterType.STRING))},
            outputs={"artifact": OutputSpec("artifact", Role.RETURN, self.artifact_type)},
            description=None,
            location=caller_location(),
        )

    @property
    def has_container(self) -> bool:
        return False


def importer(
    artifact_uri: Any,
    artifact_class: type[Artifact],
    reimport: bool = False,
    metadata: dict[str, Any] | None = None,
) -> PipelineTask:
    """A task that imports the artifact at `artifact_uri` (a string or a pipeline value) as `artifact_class`.

    Its output is `task.output` (also `task.outputs["artifact"]`).
    """
    if not (isinstance(artifact_class, type) and issubclass(artifact_class, Artifact)):
        raise CompileError(
            f"artifact_class must be an artifact class such as Dataset; got {artifact_class!r}"
        )
    component = ImporterComponent(
        artifact_class=artifact_class,
        reimport=reimport,
        metadata=metadata,
        uri=artifact_uri if isinstance(artifact_uri, str) else None,
    )
    return component(uri=artifact_uri)


@overload
def component(func: Callable[..., Any], /) -> PythonComponent: ...


@overload
def component(
    *,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
) -> Callable[[Callable[..., Any]], PythonComponent]: ...


def component(
    func: Callable[..., Any] | None = None,
    /,
    *,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
) -> PythonComponent | Callable[[Callable[..., Any]], PythonComponent]:
    """Make a Python function a component: `@dsl.component` or `@dsl.component(base_image=...)`.

    The function's arguments are its inputs and outputs (annotated with `int`, `str`, …,
    `Input[Dataset]`, `Output[Model]`, `OutputPath(str)`…); its return value is its
    `Output` (or the fields of a NamedTuple). It may use the imports, helpers and constants
    of its module: they are shipped with it. `packages_to_install` are pip-installed in
    the task unless already present.
    """

    def decorate(function: Callable[..., Any]) -> PythonComponent:
        return PythonComponent(
            function,
            base_image=base_image or DEFAULT_BASE_IMAGE,
            packages_to_install=packages_to_install or [],
            pip_index_urls=pip_index_urls or [],
        )

    return decorate(func) if func is not None else decorate


def container_component(func: Callable[..., ContainerSpec]) -> ContainerComponent:
    """Make a function returning a `ContainerSpec` a component running that container.

    The function is called once, when it is defined, with placeholders for its arguments,
    which it places in the command line.
    """
    return ContainerComponent(func)
