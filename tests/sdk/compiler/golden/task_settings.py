"""Task settings: caching, retries, resources, accelerators, env, names, images, timeouts, order."""

from sluice import dsl


@dsl.component(base_image="python:3.11")
def step(name: str) -> str:
    return name


@dsl.pipeline(name="task-settings", display_name="Task settings", pipeline_root="file:///tmp/sluice-root")
def task_settings_pipeline() -> None:
    first = step(name="first").set_caching_options(False)
    second = (
        step(name="second")
        .set_retry(num_retries=3, backoff_duration="30s", backoff_factor=1.5, backoff_max_duration="1h")
        .set_cpu_request("500m")
        .set_cpu_limit("2")
        .set_memory_request("256Mi")
        .set_memory_limit("1Gi")
        .set_accelerator_type("nvidia.com/gpu")
        .set_accelerator_limit(2)
        .set_env_variable("MODE", "fast")
        .set_env_variable("LEVEL", "3")
        .set_display_name("The second step")
        .set_caching_options(True, cache_key="second-v1")
        .after(first)
    )
    step(name="third").set_container_image("python:3.12").set_timeout(90).after(first, second)
    step(name="fourth").set_retry(num_retries=1)


PIPELINE = task_settings_pipeline
