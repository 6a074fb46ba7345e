"""`@pipeline`: a function whose body calls components; usable as a component in other pipelines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from sluice.dsl.channels import (
    ArtifactChannel,
    Channel,
    Collected,
    OneOfArtifact,
    OneOfParameter,
    ParameterChannel,
)
from sluice.dsl.components import BaseComponent
from sluice.dsl.errors import CompileError, SourceLocation
from sluice.dsl.graph import PipelineGraph, building
from sluice.dsl.groups import GroupKind
from sluice.dsl.interface import SINGLE_OUTPUT, ComponentInterface, OutputSpec, read_interface
from sluice.dsl.tasks import PipelineTask
from sluice.dsl.types import ArtifactType, ParamType, Role, artifact_accepts, describe, parameter_accepts

if TYPE_CHECKING:
    from sluice.compiler.builder import CompiledPipeline


class Pipeline(BaseComponent):
    """A pipeline: compiled by `sluice.compiler`, or called inside another pipeline as one task."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None,
        description: str | None,
        display_name: str | None,
        pipeline_root: str | None,
        interface: ComponentInterface | None = None,
    ) -> None:
        """`interface` replaces the one read from `func`'s signature (`func` then takes keywords)."""
        self.python_func = func
        self.interface = interface or read_interface(func, name=name, description=description)
        self.display_name = display_name
        self.pipeline_root = pipeline_root
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self._check_interface()
        self.graph = PipelineGraph(self.interface.name, location=self.interface.location)
        self.outputs = self._build()
        from sluice.compiler.builder import compile_graph

        self.compiled: CompiledPipeline = compile_graph(self)
        """The compiled IR (built once, when the pipeline is defined)."""

    @property
    def has_container(self) -> bool:
        return False

    def _fail(
        self, message: str, argument: str | None = None, location: SourceLocation | None = None
    ) -> CompileError:
        return CompileError(
            message,
            component=self.interface.name,
            argument=argument,
            location=location or self.interface.location,
        )

    def _check_interface(self) -> None:
        for spec in self.interface.inputs.values():
            if spec.role not in (Role.PARAMETER, Role.INPUT_ARTIFACT):
                raise self._fail(
                    f"a pipeline cannot take {spec.role.value.replace('_', ' ')} arguments", spec.name
                )
        for output in self.interface.outputs.values():
            if output.role is not Role.RETURN:
                raise self._fail(
                    "a pipeline's outputs are what it returns, declared by its return annotation", output.name
                )

    def _build(self) -> dict[str, Channel]:
        graph = self.graph
        arguments: dict[str, Channel] = {}
        for spec in self.interface.inputs.values():
            if isinstance(spec.type, ArtifactType):
                arguments[spec.name] = ArtifactChannel(
                    spec.name, spec.type, is_list=spec.is_list, producer=None, graph=graph
                )
            else:
                arguments[spec.name] = ParameterChannel(spec.name, spec.type, producer=None, graph=graph)
        with building(graph):
            returned = self.python_func(**arguments)
        if len(graph.stack) != 1:
            raise self._fail("a control-flow block was left open")
        return self._outputs(returned)

    def _outputs(self, returned: Any) -> dict[str, Channel]:
        declared = self.interface.outputs
        if not declared:
            if returned is not None:
                raise self._fail("returns a value but declares no return type")
            return {}
        if self.interface.returns == "value":
            values = {SINGLE_OUTPUT: returned}
        elif isinstance(returned, Mapping):
            values = dict(returned)
        elif isinstance(returned, tuple) and hasattr(returned, "_asdict"):
            values = dict(returned._asdict())
        elif isinstance(returned, tuple) and len(returned) == len(declared):
            values = dict(zip(declared, returned, strict=True))
        else:
            raise self._fail(f"must return its outputs {', '.join(declared)}; returned {returned!r}")
        outputs: dict[str, Channel] = {}
        for name, spec in declared.items():
            if name not in values:
                raise self._fail("the declared output is not returned", name)
            outputs[name] = self._output(spec, values[name])
        return outputs

    def _output(self, spec: OutputSpec, value: Any) -> Channel:
        if not isinstance(value, Channel) or value.graph is not self.graph:
            raise self._fail(f"must return a value produced in this pipeline; got {value!r}", spec.name)
        if value.producer is None:
            raise self._fail("returns a pipeline input; pipeline outputs come from tasks", spec.name)
        producer = value.producer
        if isinstance(value, (OneOfParameter, OneOfArtifact)):
            if value.branches.parent is not self.graph.root:
                raise self._fail("a dsl.OneOf output must come from a dsl.If at the top level", spec.name)
        elif isinstance(value, Collected):
            pass
        elif isinstance(producer, PipelineTask) and producer.parent.kind is not GroupKind.PIPELINE:
            raise self._fail(
                f"returns {value.describe()}, which is produced inside {producer.parent.kind_description()}; "
                "return dsl.Collected(...) or dsl.OneOf(...) instead",
                spec.name,
            )
        given = value.value_type
        if isinstance(spec.type, ArtifactType):
            ok = (
                isinstance(given, ArtifactType)
                and artifact_accepts(spec.type, given)
                and spec.is_list == value.is_list
            )
        else:
            ok = isinstance(given, ParamType) and parameter_accepts(spec.type, given)
        if not ok:
            raise self._fail(
                f"declared {describe(spec.type, is_list=spec.is_list)} but returns {value.describe()}",
                spec.name,
            )
        return value

    def __repr__(self) -> str:
        return f"<Pipeline {self.name}>"


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    *,
    name: str | None = None,
    description: str | None = None,
    display_name: str | None = None,
    pipeline_root: str | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    display_name: str | None = None,
    pipeline_root: str | None = None,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: `@dsl.pipeline` or `@dsl.pipeline(name=..., description=...)`.

    The function runs once, when it is defined, with a pipeline value for each argument; the
    components it calls become tasks. Mistakes (a wrong argument type, a missing argument, a
    loop variable used outside its loop…) raise `CompileError` there, naming the line. Its
    return annotation declares its outputs, as for components.
    """

    def decorate(function: Callable[..., Any]) -> Pipeline:
        return Pipeline(
            function,
            name=name,
            description=description,
            display_name=display_name,
            pipeline_root=pipeline_root,
        )

    return decorate(func) if func is not None else decorate
