"""Request-body examples shown at ``/docs``; each is a request the API accepts as it is.

They center on one tiny pipeline: a single container task that echoes a message.
"""

from __future__ import annotations

from typing import Any

HELLO_PIPELINE: dict[str, Any] = {
    "pipelineInfo": {"name": "hello"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "sluice-docs",
    "root": {
        "inputDefinitions": {
            "parameters": {
                "message": {"parameterType": "STRING", "defaultValue": "hello", "isOptional": True}
            }
        },
        "dag": {
            "tasks": {
                "echo": {
                    "taskInfo": {"name": "echo"},
                    "componentRef": {"name": "comp-echo"},
                    "inputs": {"parameters": {"message": {"componentInputParameter": "message"}}},
                }
            }
        },
    },
    "components": {
        "comp-echo": {
            "executorLabel": "exec-echo",
            "inputDefinitions": {"parameters": {"message": {"parameterType": "STRING"}}},
        }
    },
    "deploymentSpec": {
        "executors": {
            "exec-echo": {
                "container": {
                    "image": "alpine:3",
                    "command": ["echo"],
                    "args": ["{{$.inputs.parameters['message']}}"],
                }
            }
        }
    },
}
"""A valid KFP PipelineSpec (IR): one task echoing the ``message`` parameter."""

EXPERIMENT: dict[str, Any] = {"display_name": "my-experiment", "description": "Runs of the hello pipeline."}
PIPELINE: dict[str, Any] = {"display_name": "hello", "description": "Echoes a message."}
PIPELINE_VERSION: dict[str, Any] = {"display_name": "hello v2", "pipeline_spec": HELLO_PIPELINE}
PIPELINE_UPDATE: dict[str, Any] = {"description": "Echoes a message, politely.", "tags": {"team": "docs"}}
PIPELINE_VERSION_UPDATE: dict[str, Any] = {
    "display_name": "hello v1 (stable)",
    "code_source_url": "https://example.com/hello/pipeline.py",
}
PIPELINE_AND_VERSION: dict[str, Any] = {
    "pipeline": {"display_name": "hello-pipeline"},
    "pipeline_version": {"display_name": "hello v1", "pipeline_spec": HELLO_PIPELINE},
}
RUN: dict[str, Any] = {
    "display_name": "hello run",
    "pipeline_spec": HELLO_PIPELINE,
    "runtime_config": {"parameters": {"message": "hi"}},
}
RECURRING_RUN: dict[str, Any] = {
    "display_name": "hello every hour",
    "pipeline_spec": HELLO_PIPELINE,
    "runtime_config": {"parameters": {"message": "tick"}},
    "trigger": {"cron_schedule": {"cron": "0 0 * * * *"}},
    "max_concurrency": "1",
    "mode": "DISABLE",
    "no_catchup": True,
}
