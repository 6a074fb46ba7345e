"""One error tree for both transports, with the server's message."""

from __future__ import annotations

import socket

import pytest
from sluice.client import Client, errors


def test_each_status_code_has_its_error_class() -> None:
    for code in errors.Code:
        if code is errors.Code.OK:
            continue
        error = errors.error_for_code(code.value, "why")
        assert error.code is code
        assert error.message == "why"
        assert isinstance(error, errors.SluiceError)
        assert str(error) == f"{code.name}: why"
    assert type(errors.error_for_code(99, "odd")) is errors.Unknown
    assert isinstance(errors.error_for_code(4, "slow"), TimeoutError)
    assert errors.Unavailable.retryable
    assert not errors.InvalidArgument.retryable


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.InvalidArgument),
        (404, errors.NotFound),
        (409, errors.AlreadyExists),
        (413, errors.ResourceExhausted),
        (503, errors.Unavailable),
        (504, errors.DeadlineExceeded),
        (500, errors.Internal),
        (418, errors.Unknown),
    ],
)
def test_http_statuses_without_an_error_body_map_to_errors(
    status: int, kind: type[errors.SluiceError]
) -> None:
    error = errors.error_for_http_status(status, "body")
    assert type(error) is kind
    assert error.http_status == status


def test_server_errors_keep_the_server_message(client: Client) -> None:
    with pytest.raises(errors.NotFound, match="run 'no-such-run' not found"):
        client.get_run("no-such-run")
    with pytest.raises(errors.InvalidArgument, match="unknown field 'colour'") as caught:
        client.list_runs(colour="red")
    assert (caught.value.http_status == 400) == (client.transport == "http")
    with pytest.raises(errors.InvalidArgument, match="unknown lookup 'near'"):
        client.list_runs(created_at__near="today")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_an_unreachable_server_is_unavailable(transport: str) -> None:
    port = _closed_port()
    host = f"127.0.0.1:{port}" if transport == "grpc" else f"http://127.0.0.1:{port}"
    with Client(host, timeout=5) as client, pytest.raises(errors.Unavailable, match=f"127.0.0.1:{port}"):
        client.list_experiments()


def test_a_grpc_client_refuses_a_url_and_unknown_transports() -> None:
    with pytest.raises(errors.InvalidArgument, match="transport='http'"):
        Client("http://127.0.0.1:8888", transport="grpc")
    with pytest.raises(errors.InvalidArgument, match="'grpc' or 'http'"):
        Client(transport="carrier-pigeon")  # type: ignore[arg-type]
