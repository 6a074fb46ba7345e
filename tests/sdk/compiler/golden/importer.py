"""Importing existing artifacts, from a constant URI and from a pipeline input."""

from sluice import dsl
from sluice.dsl import Dataset, Input, Model


@dsl.component(base_image="python:3.11")
def inspect_data(data: Input[Dataset], model: Input[Model]) -> str:
    return f"{data.uri} {model.uri}"


@dsl.pipeline(name="import-artifacts")
def importer_pipeline(model_uri: str = "s3://models/latest") -> None:
    data = dsl.importer(
        artifact_uri="gs://bucket/data.csv", artifact_class=Dataset, metadata={"origin": "gcs"}
    )
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model, reimport=True)
    inspect_data(data=data.output, model=model.output)


PIPELINE = importer_pipeline
