"""How the gateway listens and what it allows; `main.py` builds one from the settings."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayConfig:
    """Addresses, limits and identity of one gateway process."""

    http_host: str = "127.0.0.1"
    """Interface the HTTP API (KFP REST, SSE, docs) binds to."""
    http_port: int = 0
    """Port of the HTTP API; 0 picks a free one (read it back from `Gateway.http_port`)."""
    grpc_host: str = "127.0.0.1"
    """Interface the gRPC front door binds to."""
    grpc_port: int = 0
    """Port of the gRPC front door; 0 picks a free one (`Gateway.grpc_port`)."""
    commit_sha: str = "unknown"
    """Reported by `GET /apis/v2beta1/healthz`, as KFP does."""
    tag_name: str = "dev"
    """Release tag reported by `GET /apis/v2beta1/healthz`."""
    max_upload_bytes: int = 32 * MiB
    """Largest pipeline package `POST /pipelines/upload[_version]` accepts (KFP: 32 MiB)."""
    max_request_bytes: int = 32 * MiB
    """Largest JSON request body (a run with an inline pipeline spec can be large)."""
    max_artifact_read_bytes: int = 32 * MiB
    """Largest artifact `…/artifacts/{name}:read` returns; it is sent base64 in one JSON."""
    max_grpc_message_bytes: int = 64 * MiB
    """Message size limit of the front door and of the channels to the backends; an
    upload carries its whole package in one message."""
    sse_heartbeat_seconds: float = 15.0
    """An idle event stream gets a comment this often, so proxies keep it open and a
    vanished client is noticed."""
    shutdown_grace_seconds: float = 5.0
    """How long `Gateway.aclose` lets in-flight requests finish before cancelling them."""
    access_log: bool = False
    """Log every HTTP request (uvicorn's access log)."""
