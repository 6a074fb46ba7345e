"""The artifact service: artifact bytes (in a backend) and artifact records, over gRPC."""

from services.artifacts.backends import DEFAULT_CHUNK_SIZE, ArtifactBackend, LocalBackend, ObjectInfo
from services.artifacts.client import ArtifactClient, ArtifactPage
from services.artifacts.records import ArtifactRecords
from services.artifacts.service import ArtifactService
from services.artifacts.servicer import ArtifactServicer, add_artifact_servicer

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ArtifactBackend",
    "ArtifactClient",
    "ArtifactPage",
    "ArtifactRecords",
    "ArtifactService",
    "ArtifactServicer",
    "LocalBackend",
    "ObjectInfo",
    "add_artifact_servicer",
]
