"""The HTTP transport: the KFP v2beta1 REST API with Sluice's extensions (run events as
server-sent events, task logs, artifacts)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Generator, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from sluice.client import errors
from sluice.client._rpc import HttpRoute, Rpc
from sluice.client._transport import Json

API_PREFIX = "/apis/v2beta1"
_UPLOAD_FIELD = "uploadfile"


def _query(values: Mapping[str, Any]) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, dict):
            query[name] = json.dumps(value)
        else:
            query[name] = str(value)
    return query


def _error(response: httpx.Response) -> errors.SluiceError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int) and body.get("message"):
        return errors.error_for_code(body["code"], str(body["message"]), http_status=response.status_code)
    text = response.text.strip()[:500] or response.reason_phrase
    return errors.error_for_http_status(response.status_code, f"HTTP {response.status_code}: {text}")


class HttpTransport:
    """Calls the gateway's REST API with one `httpx.Client`."""

    def __init__(self, url: str, *, timeout: float | None) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._client = httpx.Client(base_url=self._url + API_PREFIX, timeout=timeout)

    @property
    def kind(self) -> str:
        return "http"

    @property
    def address(self) -> str:
        return self._url

    def _unreachable(self, error: httpx.TransportError) -> errors.SluiceError:
        if isinstance(error, httpx.TimeoutException):
            return errors.DeadlineExceeded(f"Sluice at {self._url} did not answer in time: {error}")
        return errors.Unavailable(f"cannot reach Sluice at {self._url}: {error}")

    def _send(self, request: httpx.Request) -> Json:
        try:
            response = self._client.send(request)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        if response.status_code >= 400:
            raise _error(response)
        data: Json = response.json() if response.content else {}
        return data

    def call(self, rpc: Rpc, request: Mapping[str, Any], *, timeout: float | None) -> Json:
        if rpc.http is None:
            raise errors.Unimplemented(
                f"the HTTP API has no {rpc.service}.{rpc.method}; use the gRPC transport for it"
            )
        route: HttpRoute = rpc.http
        rest = dict(request)
        path = route.path
        for name in _fields(route.path):
            path = path.replace(f"{{{name}}}", quote(str(_path_value(rest, name)), safe=""))
        body: Any = None
        if route.body == "*":
            body, rest = rest, {}
        elif route.body is not None:
            body = rest.pop(route.body, {})
        built = self._client.build_request(
            route.method,
            path,
            params=_query(rest),
            json=body,
            timeout=timeout if timeout is not None else self._timeout,
        )
        return self._send(built)

    def upload_pipeline(self, package: bytes, *, filename: str, fields: Mapping[str, Any]) -> Json:
        return self._upload("/pipelines/upload", package, filename=filename, query=_query(fields))

    def upload_pipeline_version(
        self, package: bytes, *, filename: str, pipeline_id: str, fields: Mapping[str, Any]
    ) -> Json:
        query = _query({**fields, "pipelineid": pipeline_id})
        return self._upload("/pipelines/upload_version", package, filename=filename, query=query)

    def _upload(self, path: str, package: bytes, *, filename: str, query: dict[str, str]) -> Json:
        files = {_UPLOAD_FIELD: (filename, package, "application/octet-stream")}
        return self._send(self._client.build_request("POST", path, params=query, files=files))

    def events(
        self, run_id: str, *, after_sequence: int, timeout: float | None
    ) -> Generator[Json, None, None]:
        deadline = _deadline(timeout)
        path = f"/runs/{quote(run_id, safe='')}/events"
        try:
            # The server sends a heartbeat comment now and then, so no read waits past `timeout`.
            with self._client.stream(
                "GET",
                path,
                params={"after_sequence": str(after_sequence)},
                timeout=self._stream_timeout(timeout),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        yield json.loads(line[5:])
                    _check(deadline, run_id)
        except httpx.TimeoutException:
            raise _timed_out(run_id) from None
        except httpx.TransportError as error:
            raise self._unreachable(error) from None

    async def aevents(
        self, run_id: str, *, after_sequence: int, window: float | None
    ) -> AsyncGenerator[Json, None]:
        deadline = _deadline(window)
        path = f"{API_PREFIX}/runs/{quote(run_id, safe='')}/events"
        # An asyncio client belongs to the loop it is used on: one per watch.
        async with httpx.AsyncClient(base_url=self._url, timeout=self._stream_timeout(window)) as client:
            try:
                async with client.stream(
                    "GET", path, params={"after_sequence": str(after_sequence)}
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise _error(response)
                    async for line in response.aiter_lines():
                        if line.startswith("data:"):
                            yield json.loads(line[5:])
                        _check(deadline, run_id)
            except httpx.TimeoutException:
                raise _timed_out(run_id) from None
            except httpx.TransportError as error:
                raise self._unreachable(error) from None

    def _stream_timeout(self, timeout: float | None) -> httpx.Timeout:
        return httpx.Timeout(self._timeout, read=timeout)

    def download(self, *, artifact_id: str = "", uri: str = "") -> Iterator[bytes]:
        # Checked now, not when the bytes are first read.
        if uri:
            raise errors.Unimplemented(
                f"the HTTP API downloads artifacts by id only, not by URI ({uri}); "
                "use the gRPC transport to download by URI"
            )
        if not artifact_id:
            raise errors.InvalidArgument("a download needs an artifact id")
        return self._download(artifact_id)

    def _download(self, artifact_id: str) -> Iterator[bytes]:
        return self._get_bytes(f"/artifacts/{quote(artifact_id, safe='')}:download")

    def task_log(self, *, run_id: str, task_id: str, attempt: int | None, follow: bool) -> Iterator[bytes]:
        path = f"/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}/logs"
        params = {} if attempt is None else {"attempt": str(attempt)}
        if follow:
            params["follow"] = "true"
            # A followed log may be quiet for as long as its task is.
            return self._get_bytes(path, params=params, timeout=self._stream_timeout(None))
        return self._get_bytes(path, params=params)

    def _get_bytes(
        self, path: str, *, params: Mapping[str, str] | None = None, timeout: httpx.Timeout | None = None
    ) -> Iterator[bytes]:
        """A streamed GET's body; the API's error (or Unavailable) before the first byte."""
        try:
            with self._client.stream(
                "GET", path, params=params, timeout=timeout or self._client.timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield from response.iter_bytes()
        except httpx.TransportError as error:
            raise self._unreachable(error) from None

    def close(self) -> None:
        self._client.close()


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _timed_out(run_id: str) -> errors.DeadlineExceeded:
    return errors.DeadlineExceeded(f"no end of run {run_id} within the time given")


def _check(deadline: float | None, run_id: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise _timed_out(run_id)


def _path_value(request: dict[str, Any], name: str) -> Any:
    """The value of a path field: a top-level one is taken out of the request; a nested
    one (`pipeline.pipeline_id`) is read and stays in its message, the body."""
    if "." not in name:
        return request.pop(name, "")
    value: Any = request
    for part in name.split("."):
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def _fields(template: str) -> list[str]:
    """The `{field}` names of a path template."""
    return [part.split("}", 1)[0] for part in template.split("{")[1:]]
