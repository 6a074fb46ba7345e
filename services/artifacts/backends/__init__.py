"""Artifact backends: where the bytes live."""

from services.artifacts.backends.base import DEFAULT_CHUNK_SIZE, ArtifactBackend, ObjectInfo
from services.artifacts.backends.local import LocalBackend

__all__ = ["DEFAULT_CHUNK_SIZE", "ArtifactBackend", "LocalBackend", "ObjectInfo"]
