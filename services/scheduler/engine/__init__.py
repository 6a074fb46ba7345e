"""The DAG state machine: pure functions of (pipeline, run, tasks, time) -> plan."""
