"""If/Elif/Else over task outputs and inputs, nested conditions, and OneOf of the branch that ran."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from sluice import dsl


@dsl.component(base_image="python:3.11")
def flip(seed: int) -> str:
    return "heads" if seed % 2 else "tails"


@dsl.component(base_image="python:3.11")
def roll() -> int:
    return 4


@dsl.component(base_image="python:3.11")
def say(text: str) -> str:
    return text


@dsl.pipeline(name="conditions")
def conditions_pipeline(seed: int = 1, threshold: float = 2.5) -> str:
    coin = flip(seed=seed)
    with dsl.If(coin.output == "heads"):
        heads = say(text="heads")
        number = roll()
        with dsl.If(number.output > threshold, name="big-roll"):
            say(text="big")
    with dsl.Elif(coin.output == "tails"):
        tails = say(text="tails")
    with dsl.Else():
        edge = say(text="edge")
    chosen = dsl.OneOf(heads.output, tails.output, edge.output)
    say(text=chosen)
    with dsl.If(seed != 3):
        say(text=f"seed {seed}")
    return chosen


PIPELINE = conditions_pipeline
