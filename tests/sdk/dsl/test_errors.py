"""Mistakes are reported when a pipeline is defined: one `CompileError` naming the component,
the argument and the `file:line` of the mistake."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from __future__ import annotations

import pytest
from sluice import dsl
from sluice.dsl import CompileError, Dataset, Input, Output

from tests.sdk.dsl.components import add, consume, final, fit, nothing, numbers, pair, produce, shout
from tests.sdk.dsl.lines import line_of

HERE = __file__


def check(
    error: pytest.ExceptionInfo[CompileError], *, component: str, argument: str | None, marker: str
) -> str:
    """Assert the error's facts and that its message states them; returns the message."""
    location = line_of(HERE, marker)
    message = str(error.value)
    assert error.value.component == component
    assert error.value.argument == argument
    assert str(error.value.location) == location
    assert message.startswith(f"{location}: component {component!r}")
    if argument is not None:
        assert f"argument {argument!r}" in message
    return message


# --- wrong types -----------------------------------------------------------------------------


def test_a_str_constant_for_an_int_input() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            add(a="three")  # str-to-int

    message = check(error, component="add", argument="a", marker="str-to-int")
    assert "expected int, got str 'three'" in message


def test_a_bool_constant_is_not_an_int() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            add(a=True)  # bool-to-int

    assert "expected int, got bool True" in check(error, component="add", argument="a", marker="bool-to-int")


def test_an_artifact_for_a_parameter() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            data = produce(rows=3)
            add(a=data.outputs["data"])  # artifact-to-parameter

    message = check(error, component="add", argument="a", marker="artifact-to-parameter")
    assert "expects a parameter of type int; got Dataset output 'data' of 'produce'" in message


def test_a_parameter_for_an_artifact() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            counted = add(a=1)
            consume(data=counted.output)  # parameter-to-artifact

    message = check(error, component="consume", argument="data", marker="parameter-to-artifact")
    assert "expects a Dataset artifact; got int output 'Output' of 'add'" in message


def test_a_constant_for_an_artifact() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            consume(data="s3://bucket/data")  # constant-to-artifact

    message = check(error, component="consume", argument="data", marker="constant-to-artifact")
    assert "dsl.importer" in message


def test_a_task_output_of_another_type() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            text = shout(text="x")
            add(a=text.output)  # str-output-to-int

    message = check(error, component="add", argument="a", marker="str-output-to-int")
    assert "expects int; got str output 'Output' of 'shout'" in message


def test_a_pipeline_input_of_another_type() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong(name: str) -> None:
            add(a=name)  # str-input-to-int

    message = check(error, component="add", argument="a", marker="str-input-to-int")
    assert "got str pipeline input 'name'" in message


def test_an_artifact_of_another_type() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            model = fit(data=produce(rows=1).outputs["data"])
            consume(data=model.outputs["model"])  # model-to-dataset

    message = check(error, component="consume", argument="data", marker="model-to-dataset")
    assert "expects Dataset; got Model output 'model' of 'fit'" in message


def test_a_task_instead_of_its_output() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            first = add(a=1)
            add(a=first)  # task-not-output

    assert "pass one of its outputs" in check(error, component="add", argument="a", marker="task-not-output")


def test_an_int_input_may_feed_a_float() -> None:
    @dsl.pipeline
    def widening(count: int) -> None:
        from tests.sdk.dsl.components import scale

        scale(x=count)
        scale(x=add(a=count).output)
        scale(x=3)

    assert widening.graph.tasks.keys() == {"scale", "add", "scale-2", "scale-3"}


# --- missing and unknown arguments ---------------------------------------------------------


def test_a_missing_required_argument() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            add(b=2)  # missing

    assert "missing required argument" in check(error, component="add", argument="a", marker="missing")


def test_an_unknown_argument() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            add(a=1, c=2)  # unknown

    message = check(error, component="add", argument="c", marker="unknown")
    assert "unknown argument (the component's inputs: a, b)" in message


def test_passing_an_output_argument() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            produce(rows=1, data="x")  # output-passed

    assert "is an output" in check(error, component="produce", argument="data", marker="output-passed")


def test_passing_the_final_status() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            final(status="done")  # status-passed

    assert "given by the engine" in check(error, component="final", argument="status", marker="status-passed")


def test_too_many_positional_arguments() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            add(1, 2, 3)  # positional

    assert "takes 2 inputs but 3 positional arguments" in check(
        error, component="add", argument=None, marker="positional"
    )


# --- outputs -------------------------------------------------------------------------------


def test_an_unknown_output_name() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            produced = produce(rows=1)
            consume(data=produced.outputs["dataset"])  # unknown-output

    message = check(error, component="produce", argument="dataset", marker="unknown-output")
    assert "task 'produce' has no output 'dataset' (its outputs: 'data')" in message


def test_output_of_a_task_without_outputs() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            done = nothing()
            shout(text=done.output)  # no-output

    assert "task 'nothing' has no outputs" in check(
        error, component="nothing", argument=None, marker="no-output"
    )


def test_output_of_a_task_with_several_outputs() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            both = pair()
            shout(text=both.output)  # several-outputs

    message = check(error, component="pair", argument=None, marker="several-outputs")
    assert "has several outputs ('left', 'right'); use task.outputs[name]" in message


# --- scopes --------------------------------------------------------------------------------


def test_a_loop_variable_used_outside_its_loop() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            with dsl.ParallelFor([1, 2]) as item:
                add(a=item)
            add(a=item)  # outside-loop

    message = check(error, component="add", argument="a", marker="outside-loop")
    assert "the loop item of 'for-loop-2' is used outside its loop" in message


def test_a_loop_output_used_outside_without_collected() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            with dsl.ParallelFor([1, 2]) as item:
                inner = add(a=item)
            add(a=inner.output)  # loop-output

    message = check(error, component="add", argument="a", marker="loop-output")
    assert "produced inside dsl.ParallelFor 'for-loop-2', which does not contain this task" in message
    assert "dsl.Collected" in message


def test_a_branch_output_used_outside_without_oneof() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong(flag: bool) -> None:
            with dsl.If(flag == True):  # noqa: E712 - a pipeline condition, not a Python one
                inner = add(a=1)
            add(a=inner.output)  # branch-output

    message = check(error, component="add", argument="a", marker="branch-output")
    assert "inside dsl.If 'condition-1'" in message
    assert "dsl.OneOf" in message


def test_collected_of_a_task_outside_any_loop() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            single = add(a=1)
            add(a=dsl.Collected(single.output))  # collected-outside

    assert "not in such a loop" in check(error, component="add", argument="a", marker="collected-outside")


def test_a_value_of_another_pipeline() -> None:
    @dsl.pipeline
    def first(count: int) -> None:
        add(a=count)

    leaked = first.graph.tasks["add"].outputs["Output"]
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def second() -> None:
            add(a=leaked)  # other-pipeline

    message = check(error, component="add", argument="a", marker="other-pipeline")
    assert "belongs to pipeline 'first', not to 'second'" in message


def test_a_task_of_another_pipeline_in_after() -> None:
    @dsl.pipeline
    def first() -> None:
        add(a=1)

    other = first.graph.tasks["add"]
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def second() -> None:
            add(a=2).after(other)  # other-after

    assert "belongs to pipeline 'first', not to 'second'" in check(
        error, component="add", argument=None, marker="other-after"
    )


def test_a_value_of_another_pipeline_in_an_fstring() -> None:
    @dsl.pipeline
    def first(name: str) -> None:
        shout(text=name)

    leaked = first.graph.tasks["shout"].outputs["Output"]
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def second() -> None:
            shout(text=f"hello {leaked}")  # other-fstring

    assert "a value of pipeline 'first' is formatted into a string in pipeline 'second'" in str(error.value)
    assert str(error.value.location) == line_of(HERE, "other-fstring")


def test_calling_a_component_outside_a_pipeline() -> None:
    with pytest.raises(CompileError) as error:
        add(a=1)  # outside-pipeline

    check(error, component="add", argument=None, marker="outside-pipeline")
    assert "only be called inside a @pipeline function" in str(error.value)


# --- control flow ----------------------------------------------------------------------------


def test_a_pipeline_value_in_a_python_if() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong(name: str) -> None:
            if name == "x":  # python-if
                shout(text=name)

    assert "use `with dsl.If(...)` instead of `if`" in str(error.value)
    assert str(error.value.location) == line_of(HERE, "python-if")


def test_elif_without_if() -> None:
    with pytest.raises(CompileError, match=r"dsl.Elif must follow a dsl.If or dsl.Elif block") as error:

        @dsl.pipeline
        def wrong(name: str) -> None:
            with dsl.Elif(name == "x"):  # lonely-elif
                shout(text=name)

    assert str(error.value.location) == line_of(HERE, "lonely-elif")


def test_oneof_needs_an_else() -> None:
    with pytest.raises(CompileError, match=r"end with a dsl\.Else") as error:

        @dsl.pipeline
        def wrong(name: str) -> None:
            with dsl.If(name == "x"):
                first = shout(text="x")
            with dsl.Elif(name == "y"):
                second = shout(text="y")
            shout(text=dsl.OneOf(first.output, second.output))  # oneof-no-else

    assert str(error.value.location) == line_of(HERE, "oneof-no-else")


def test_a_condition_decided_at_definition_time() -> None:
    with pytest.raises(CompileError, match="decided when the pipeline was defined"):

        @dsl.pipeline
        def wrong() -> None:
            with dsl.If(1 == 1):
                nothing()


def test_loop_over_a_scalar() -> None:
    with pytest.raises(CompileError, match=r"dsl\.ParallelFor needs a list; got int pipeline input 'count'"):

        @dsl.pipeline
        def wrong(count: int) -> None:
            with dsl.ParallelFor(count):
                nothing()


def test_final_status_outside_an_exit_handler() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            final()  # status-not-exit

    message = check(error, component="final", argument="status", marker="status-not-exit")
    assert "only has a value in an exit task" in message


def test_exit_task_with_inputs_from_tasks() -> None:
    with pytest.raises(CompileError, match="cannot depend on other tasks"):

        @dsl.pipeline
        def wrong() -> None:
            exit_task = shout(text=shout(text="x").output)
            with dsl.ExitHandler(exit_task):
                nothing()


def test_depending_on_a_task_inside_a_condition() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong(name: str) -> None:
            with dsl.If(name == "x"):
                inner = nothing()
            nothing().after(inner)  # after-condition

    message = check(error, component="nothing", argument=None, marker="after-condition")
    assert "inside dsl.If 'condition-1', which does not contain this task" in message


def test_ignoring_upstream_failures_needs_defaults() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> None:
            add(a=add(a=1).output).ignore_upstream_failure()  # no-default

    assert "needs a default value" in check(error, component="add", argument="a", marker="no-default")


def test_task_settings_are_checked() -> None:
    with pytest.raises(CompileError, match="expected a CPU amount"):

        @dsl.pipeline
        def cpu() -> None:
            nothing().set_cpu_limit("lots")

    with pytest.raises(CompileError, match="expected a memory amount"):

        @dsl.pipeline
        def memory() -> None:
            nothing().set_memory_limit("1 GB")

    with pytest.raises(CompileError, match="expected a duration"):

        @dsl.pipeline
        def retry() -> None:
            nothing().set_retry(2, backoff_duration="soon")

    with pytest.raises(CompileError, match="the timeout must be a positive number of seconds"):

        @dsl.pipeline
        def timeout() -> None:
            nothing().set_timeout(0)

    @dsl.pipeline
    def inner() -> None:
        nothing()

    with pytest.raises(CompileError, match=r"\.set_cpu_limit\(\) applies to tasks that run a container"):

        @dsl.pipeline
        def outer() -> None:
            inner().set_cpu_limit("1")


# --- pipelines -------------------------------------------------------------------------------


def test_a_returned_value_of_the_wrong_type() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.pipeline
        def wrong() -> int:
            return shout(text="x").output

    assert error.value.component == "wrong"
    assert error.value.argument == "Output"
    assert "declared int but returns str output 'Output' of 'shout'" in str(error.value)


def test_returning_an_output_from_inside_a_loop() -> None:
    with pytest.raises(CompileError, match=r"return dsl.Collected\(...\) or dsl.OneOf\(...\) instead"):

        @dsl.pipeline
        def wrong() -> int:
            with dsl.ParallelFor([1]) as item:
                inner = add(a=item)
            return inner.output


def test_a_pipeline_taking_an_output_artifact() -> None:
    with pytest.raises(CompileError, match="a pipeline's outputs are what it returns"):

        @dsl.pipeline
        def wrong(data: Output[Dataset]) -> None:
            nothing()


def test_loop_over_task_output_list() -> None:
    @dsl.pipeline
    def fine() -> None:
        listed = numbers()
        with dsl.ParallelFor(listed.output) as number:
            add(a=number)
        consume(data=dsl.importer(artifact_uri="s3://b/k", artifact_class=Dataset).output)

    assert set(fine.graph.tasks) == {"numbers", "add", "importer", "consume"}


def test_input_marker_only_wraps_artifacts() -> None:
    with pytest.raises(CompileError, match=r"Input\[...\] takes an artifact class"):

        @dsl.component
        def wrong(value: Input[int]) -> None:
            pass
