"""Building the KFP pipeline IR (`PipelineSpec` schema 2.1.0) from a pipeline's graph.

Names follow KFP: a task's component is `comp-<task>` and its executor `exec-<task>`,
each made unique with `-2`, `-3`… in the order KFP builds them (groups before tasks, parents
before children); a pipeline used as a component brings its own components and executors,
renamed where they clash. The result is plain data; `sluice.compiler` writes it as YAML.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice import __version__
from sluice.compiler.analysis import LOOP_CHANNELS, Analysis, GroupOutput, Node, analyze
from sluice.compiler.conditions import cel_condition
from sluice.compiler.executors import component_spec, container_spec, final_status_inputs, importer_spec
from sluice.dsl.channels import Channel, LoopArgumentVariable, channels_in, substitute
from sluice.dsl.errors import CompileError
from sluice.dsl.graph import unique_name
from sluice.dsl.groups import ExitHandler, ParallelFor, TasksGroup, _ConditionGroup
from sluice.dsl.interface import k8s_name
from sluice.dsl.tasks import PipelineTask, duration_seconds
from sluice.dsl.types import ArtifactType, ParamType, check_constant

if TYPE_CHECKING:
    from sluice.dsl.pipeline import Pipeline

SCHEMA_VERSION = "2.1.0"
SDK_VERSION = f"sluice-{__version__}"
COMPLETED = "ALL_UPSTREAM_TASKS_COMPLETED"


@dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline: the IR documents."""

    pipeline_spec: dict[str, Any]
    """The `PipelineSpec` (document 1)."""
    platform_spec: dict[str, Any] | None
    """The `PlatformSpec` (document 2), when a task needs one (timeouts)."""
    description: str | None
    """The pipeline's description, for the YAML header."""


def compile_graph(pipeline: Pipeline) -> CompiledPipeline:
    """Compile a pipeline whose graph is built; raises CompileError for an impossible topology."""
    return _Builder(pipeline).build()


class _Builder:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.graph = pipeline.graph
        self.analysis: Analysis = analyze(self.graph, pipeline.outputs)
        self.components: dict[str, dict[str, Any]] = {}
        self.executors: dict[str, dict[str, Any]] = {}
        self.platform: dict[str, dict[str, Any]] = {}
        self.group_components: dict[int, dict[str, Any]] = {}
        self.root = component_spec(pipeline.interface)
        self.root["dag"] = {"tasks": {}}

    def build(self) -> CompiledPipeline:
        for group in self.analysis.groups:
            self._build_group(group)
        self._build_exit_tasks()
        self._build_pipeline_outputs()
        info: dict[str, Any] = {"name": self.pipeline.interface.name}
        if self.pipeline.interface.description:
            info["description"] = self.pipeline.interface.description
        if self.pipeline.display_name:
            info["displayName"] = self.pipeline.display_name
        spec: dict[str, Any] = {
            "components": self.components,
            "deploymentSpec": {"executors": self.executors},
            "pipelineInfo": info,
            "root": self.root,
            "schemaVersion": SCHEMA_VERSION,
            "sdkVersion": SDK_VERSION,
        }
        if self.pipeline.pipeline_root:
            spec["defaultPipelineRoot"] = self.pipeline.pipeline_root
        if not self.components:
            del spec["components"]
        if not self.executors:
            del spec["deploymentSpec"]
        platform = (
            {"platforms": {"kubernetes": {"deploymentSpec": {"executors": self.platform}}}}
            if self.platform
            else None
        )
        return CompiledPipeline(
            pipeline_spec=spec, platform_spec=platform, description=self.pipeline.interface.description
        )

    # --- groups ------------------------------------------------------------------------------

    def _spec_of(self, group: TasksGroup) -> dict[str, Any]:
        return self.root if group is self.graph.root else self.group_components[id(group)]

    def _build_group(self, group: TasksGroup) -> None:
        spec = self._spec_of(group)
        parent_inputs = spec.get("inputDefinitions", {})
        children: list[Node] = [*group.groups, *group.tasks]
        in_dag = {child.name for child in children}
        is_root = group is self.graph.root
        for child in children:
            if isinstance(child, PipelineTask):
                task_spec = self._task_spec(child, parent_inputs, in_dag)
                child_component = self._task_component(child)
            else:
                channels = self._group_channels(child)
                child_component = self._group_component(channels, self.analysis.outputs.get(id(child), {}))
                task_spec = self._group_task_spec(child, channels, in_dag, is_root)
            dependencies = sorted(self.analysis.dependencies.get(id(child), ()))
            if dependencies:
                task_spec["dependentTasks"] = dependencies
            if isinstance(child, PipelineTask):
                self._ignore_upstream_failure(child, task_spec)
            name = unique_name(f"comp-{k8s_name(child.name)}", self.components)
            task_spec["componentRef"] = {"name": name}
            self.components[name] = child_component
            if isinstance(child, TasksGroup):
                self.group_components[id(child)] = child_component
            spec["dag"]["tasks"][child.name] = task_spec

    def _group_channels(self, group: TasksGroup) -> list[Channel]:
        entries = list(self.analysis.inputs.get(id(group), {}).values())
        if isinstance(group, ParallelFor):
            channels = [channel for channel in entries if self._visible_in_loop(channel, group)]
            argument = group.loop_argument
            if not argument.is_literal:
                items = argument.items
                assert isinstance(items, Channel)
                channels.append(items)
            channels.append(argument)
            return channels
        if isinstance(group, _ConditionGroup):
            compared = [channel for operation in group.conditions for channel in operation.channels()]
            return [*entries, *compared]
        return entries

    def _visible_in_loop(self, channel: Channel, group: ParallelFor) -> bool:
        """Drop literal loop items of inner loops (KFP's rule): they start inside."""
        if not isinstance(channel, LOOP_CHANNELS) or not channel.is_literal:
            return True
        for node in reversed(self.analysis.chains[id(group)]):
            if isinstance(node, ParallelFor) and channel.name in node.loop_argument.name:
                return True
        return False

    def _group_component(self, channels: list[Channel], outputs: dict[str, GroupOutput]) -> dict[str, Any]:
        parameters: dict[str, Any] = {}
        artifacts: dict[str, Any] = {}
        for channel in channels:
            name = self.analysis.input_name(channel)
            value_type = channel.value_type
            if isinstance(value_type, ArtifactType):
                entry: dict[str, Any] = {"artifactType": value_type.to_ir()}
                if channel.is_list:
                    entry["isArtifactList"] = True
                artifacts[name] = entry
            else:
                parameters[name] = {"parameterType": value_type.kind.value}
        spec: dict[str, Any] = {"dag": {"tasks": {}}}
        if parameters or artifacts:
            spec["inputDefinitions"] = {
                key: value for key, value in (("parameters", parameters), ("artifacts", artifacts)) if value
            }
        if outputs:
            definitions: dict[str, dict[str, Any]] = {}
            dag_outputs: dict[str, dict[str, Any]] = {}
            for name, output in outputs.items():
                if isinstance(output.value_type, ArtifactType):
                    entry = {"artifactType": output.value_type.to_ir()}
                    if output.is_list:
                        entry["isArtifactList"] = True
                    definitions.setdefault("artifacts", {})[name] = entry
                    dag_outputs.setdefault("artifacts", {})[name] = {
                        "artifactSelectors": [
                            {"producerSubtask": producer, "outputArtifactKey": key}
                            for producer, key in output.selectors
                        ]
                    }
                    continue
                definitions.setdefault("parameters", {})[name] = {
                    "parameterType": output.value_type.kind.value
                }
                if output.oneof:
                    selectors = [
                        {"producerSubtask": producer, "outputParameterKey": key}
                        for producer, key in output.selectors
                    ]
                    dag_outputs.setdefault("parameters", {})[name] = {
                        "valueFromOneof": {"parameterSelectors": selectors}
                    }
                else:
                    ((producer, key),) = output.selectors
                    dag_outputs.setdefault("parameters", {})[name] = {
                        "valueFromParameter": {"producerSubtask": producer, "outputParameterKey": key}
                    }
            spec["outputDefinitions"] = definitions
            spec["dag"]["outputs"] = dag_outputs
        return spec

    def _group_task_spec(
        self, group: TasksGroup, channels: list[Channel], in_dag: set[str], parent_is_root: bool
    ) -> dict[str, Any]:
        parameters: dict[str, Any] = {}
        artifacts: dict[str, Any] = {}
        for channel in channels:
            input_name = self.analysis.input_name(channel)
            full_name = self.analysis.full_name(channel)
            key = self.analysis.key(channel)
            if isinstance(channel, LoopArgumentVariable):
                full_name = self.analysis.full_name(channel.loop_argument)
                parameters.setdefault(input_name, {})["parameterExpressionSelector"] = (
                    f'parseJson(string_value)["{channel.field}"]'
                )
                if not channel.is_literal:
                    items = channel.loop_argument.items
                    assert isinstance(items, Channel)
                    key = items.name
            producer = self.analysis.producer(channel)
            inside = producer is not None and producer.name in in_dag
            source = full_name if parent_is_root else f"pipelinechannel--{full_name}"
            if isinstance(channel.value_type, ArtifactType):
                if inside:
                    assert producer is not None
                    artifacts[input_name] = {
                        "taskOutputArtifact": {"producerTask": producer.name, "outputArtifactKey": key}
                    }
                else:
                    artifacts[input_name] = {
                        "componentInputArtifact": full_name if parent_is_root else input_name
                    }
            elif inside:
                assert producer is not None
                parameters.setdefault(input_name, {})["taskOutputParameter"] = {
                    "producerTask": producer.name,
                    "outputParameterKey": key,
                }
            else:
                parameters.setdefault(input_name, {})["componentInputParameter"] = source
        spec: dict[str, Any] = {
            "taskInfo": {"name": group.display_name or group.name},
            "componentRef": {"name": f"comp-{group.name}"},
        }
        if isinstance(group, ParallelFor):
            self._loop(group, spec, parameters, artifacts)
        elif isinstance(group, _ConditionGroup):
            spec["triggerPolicy"] = {"condition": cel_condition(group.conditions, self._condition_input)}
        inputs = {
            key: value for key, value in (("parameters", parameters), ("artifacts", artifacts)) if value
        }
        if inputs:
            spec["inputs"] = inputs
        return spec

    def _condition_input(self, channel: Channel) -> str:
        return self.analysis.input_name(channel)

    def _loop(
        self, group: ParallelFor, spec: dict[str, Any], parameters: dict[str, Any], artifacts: dict[str, Any]
    ) -> None:
        argument = group.loop_argument
        item_input = self.analysis.input_name(argument)
        if argument.is_literal:
            spec["parameterIterator"] = {
                "items": {"raw": json.dumps(argument.items, sort_keys=True)},
                "itemInput": item_input,
            }
            parameters.pop(item_input, None)
        else:
            items = argument.items
            assert isinstance(items, Channel)
            items_input = self.analysis.input_name(items)
            if isinstance(argument.value_type, ArtifactType):
                spec["artifactIterator"] = {"items": {"inputArtifact": items_input}, "itemInput": item_input}
                artifacts.pop(item_input, None)
            else:
                spec["parameterIterator"] = {
                    "items": {"inputParameter": items_input},
                    "itemInput": item_input,
                }
                parameters.pop(item_input, None)
            if isinstance(items, LoopArgumentVariable):
                parameters[items_input] = {
                    "componentInputParameter": self.analysis.input_name(items.loop_argument),
                    "parameterExpressionSelector": f'parseJson(string_value)["{items.field}"]',
                }
        if group.parallelism > 0:
            spec["iteratorPolicy"] = {"parallelismLimit": group.parallelism}

    # --- tasks -------------------------------------------------------------------------------

    def _reference(self, channel: Channel, parent_inputs: dict[str, Any], in_dag: set[str]) -> dict[str, Any]:
        """How a task in a DAG reads `channel`: from a sibling's output or from the DAG's inputs."""
        producer = self.analysis.producer(channel)
        key = self.analysis.key(channel)
        is_artifact = isinstance(channel.value_type, ArtifactType)
        if isinstance(channel, LoopArgumentVariable):
            return {
                "componentInputParameter": self.analysis.input_name(channel.loop_argument),
                "parameterExpressionSelector": f'parseJson(string_value)["{channel.field}"]',
            }
        if producer is not None and producer.name in in_dag:
            if is_artifact:
                return {"taskOutputArtifact": {"producerTask": producer.name, "outputArtifactKey": key}}
            return {"taskOutputParameter": {"producerTask": producer.name, "outputParameterKey": key}}
        section = parent_inputs.get("artifacts" if is_artifact else "parameters", {})
        full_name = self.analysis.full_name(channel)
        name = full_name if producer is None and full_name in section else self.analysis.input_name(channel)
        return {"componentInputArtifact": name} if is_artifact else {"componentInputParameter": name}

    def _task_spec(
        self, task: PipelineTask, parent_inputs: dict[str, Any], in_dag: set[str]
    ) -> dict[str, Any]:
        settings = task.settings
        spec: dict[str, Any] = {
            "taskInfo": {"name": settings.display_name or task.name},
            "componentRef": {"name": f"comp-{task.name}"},
        }
        caching: dict[str, Any] = {"enableCache": True} if settings.enable_caching else {}
        if settings.cache_key:
            caching["cacheKey"] = settings.cache_key
        spec["cachingOptions"] = caching
        if settings.retry is not None:
            retry = settings.retry
            spec["retryPolicy"] = {
                "maxRetryCount": retry.max_retry_count,
                "backoffDuration": f"{duration_seconds(retry.backoff_duration or '0s')}s",
                "backoffFactor": float(retry.backoff_factor or 2.0),
                "backoffMaxDuration": f"{duration_seconds(retry.backoff_max_duration or '3600s')}s",
            }
        parameters: dict[str, Any] = {}
        artifacts: dict[str, Any] = {}
        interface = task.component.interface
        for name, value in task.arguments.items():
            input_spec = interface.inputs[name]
            if isinstance(value, Channel):
                reference = self._reference(value, parent_inputs, in_dag)
                (artifacts if input_spec.is_artifact else parameters)[name] = reference
                continue
            for channel in channels_in(value, self.graph):
                parameters[self.analysis.input_name(channel)] = self._reference(
                    channel, parent_inputs, in_dag
                )
            constant = substitute(
                value,
                self.graph,
                lambda channel: f"{{{{$.inputs.parameters['{self.analysis.input_name(channel)}']}}}}",
            )
            assert isinstance(input_spec.type, ParamType)
            parameters[name] = {"runtimeValue": {"constant": check_constant(constant, input_spec.type)}}
        inputs = {
            key: value for key, value in (("parameters", parameters), ("artifacts", artifacts)) if value
        }
        if inputs:
            spec["inputs"] = inputs
        return spec

    def _task_component(self, task: PipelineTask) -> dict[str, Any]:
        from sluice.dsl.components import ImporterComponent
        from sluice.dsl.pipeline import Pipeline

        component = task.component
        if (
            final_status_inputs(component.interface)
            and task.exit_handler is None
            and not task.settings.ignore_upstream_failure
        ):
            raise CompileError(
                "a PipelineTaskFinalStatus input only has a value in an exit task (dsl.ExitHandler) "
                "or in a task that ignores upstream failures",
                component=component.name,
                argument=final_status_inputs(component.interface)[0],
                location=task.location,
            )
        if isinstance(component, Pipeline):
            return self._merge(component)
        spec = component_spec(component.interface)
        label = unique_name(f"exec-{k8s_name(task.name)}", self.executors)
        spec["executorLabel"] = label
        if isinstance(component, ImporterComponent):
            self.executors[label] = {"importer": importer_spec(component)}
        else:
            self.executors[label] = {"container": container_spec(task)}
            if task.settings.timeout_seconds is not None:
                self.platform[label] = {"activeDeadlineSeconds": str(task.settings.timeout_seconds)}
        return spec

    def _merge(self, pipeline: Pipeline) -> dict[str, Any]:
        """Bring a sub-pipeline's components and executors in, renamed where they clash; returns its root."""
        compiled = copy.deepcopy(pipeline.compiled)
        sub = compiled.pipeline_spec
        sub_platform = (compiled.platform_spec or {}).get("platforms", {}).get("kubernetes", {})
        sub_platform_executors = sub_platform.get("deploymentSpec", {}).get("executors", {})
        components: dict[str, dict[str, Any]] = sub.get("components", {})
        labels: dict[str, str] = {}
        for label, executor in sub.get("deploymentSpec", {}).get("executors", {}).items():
            new_label = unique_name(label, self.executors)
            labels[label] = new_label
            self.executors[new_label] = executor
            if label in sub_platform_executors:
                self.platform[new_label] = sub_platform_executors[label]
        for component in components.values():
            if "executorLabel" in component:
                component["executorLabel"] = labels[component["executorLabel"]]
        names: dict[str, str] = {}
        for name in components:
            taken = {*self.components, *names, *names.values()}
            names[name] = unique_name(name, taken)
        root = sub["root"]
        for component in [*components.values(), root]:
            for task_spec in component.get("dag", {}).get("tasks", {}).values():
                task_spec["componentRef"]["name"] = names[task_spec["componentRef"]["name"]]
        for name, component in components.items():
            self.components[names[name]] = component
        return dict(root)

    def _ignore_upstream_failure(self, task: PipelineTask, spec: dict[str, Any]) -> None:
        if not task.settings.ignore_upstream_failure:
            return
        spec["triggerPolicy"] = {"strategy": COMPLETED}
        for name in final_status_inputs(task.component.interface):
            dependencies = spec.get("dependentTasks", [])
            if len(dependencies) != 1:
                raise CompileError(
                    "a task that ignores upstream failures and takes a PipelineTaskFinalStatus must "
                    f"depend on exactly one task in its block; it depends on {len(dependencies)}",
                    component=task.component.name,
                    argument=name,
                    location=task.location,
                )
            spec.setdefault("inputs", {}).setdefault("parameters", {})[name] = {
                "taskFinalStatus": {"producerTask": dependencies[0]}
            }

    def _build_exit_tasks(self) -> None:
        parent_inputs = self.root.get("inputDefinitions", {})
        for group in self.graph.root.groups:
            if not isinstance(group, ExitHandler):
                continue
            task = group.exit_task
            spec = self._task_spec(task, parent_inputs, set())
            spec["dependentTasks"] = [group.name]
            spec["triggerPolicy"] = {"strategy": COMPLETED}
            for name in final_status_inputs(task.component.interface):
                spec.setdefault("inputs", {}).setdefault("parameters", {})[name] = {
                    "taskFinalStatus": {"producerTask": group.name}
                }
            component = self._task_component(task)
            name = unique_name(f"comp-{k8s_name(task.name)}", self.components)
            spec["componentRef"] = {"name": name}
            self.components[name] = component
            self.root["dag"]["tasks"][task.name] = spec

    def _build_pipeline_outputs(self) -> None:
        outputs: dict[str, dict[str, Any]] = {}
        for name, (producer, key) in self.analysis.pipeline_outputs.items():
            if isinstance(self.pipeline.outputs[name].value_type, ArtifactType):
                outputs.setdefault("artifacts", {})[name] = {
                    "artifactSelectors": [{"producerSubtask": producer.name, "outputArtifactKey": key}]
                }
            else:
                outputs.setdefault("parameters", {})[name] = {
                    "valueFromParameter": {"producerSubtask": producer.name, "outputParameterKey": key}
                }
        if outputs:
            self.root["dag"]["outputs"] = outputs
