"""Sluice: a light, fast ML workflow platform compatible with Kubeflow Pipelines."""

__version__ = "0.1.0"
