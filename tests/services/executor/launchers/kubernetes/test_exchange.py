"""The executor's file exchange over real HTTP, pods played by plain HTTP clients."""

from __future__ import annotations

import asyncio
import http.client
import io
import tarfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.executor.launchers.kubernetes.exchange import ExchangeSession, FileExchange


@pytest.fixture
async def exchange() -> AsyncIterator[FileExchange]:
    exchange = FileExchange(host="127.0.0.1", port=0, max_output_bytes=1000)
    await exchange.start()
    yield exchange
    await exchange.aclose()
    await exchange.aclose()  # idempotent


@pytest.fixture
def attempt(tmp_path: Path) -> Path:
    root = tmp_path / "attempt"
    (root / "staging/s3/b/in").mkdir(parents=True)
    (root / "staging/s3/b/in/data.bin").write_bytes(bytes(range(256)) * 40)
    (root / "outputs/parameters").mkdir(parents=True)
    (root / "executor_input.json").write_text("{}")
    (root / "work").mkdir()
    (root / "work/private").write_text("x")
    (root / "tmp").mkdir()
    (root / "task.log").write_text("launcher notes\n")
    return root


def open_session(exchange: FileExchange, root: Path) -> ExchangeSession:
    return exchange.open(attempt_dir=root, skip=(root / "work", root / "tmp", root / "task.log"))


def request(url: str, method: str, body: bytes | Iterator[bytes] | None = None) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request(method, parts.path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def tar_of(*entries: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def member(name: str, kind: bytes, **fields: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


async def test_the_inputs_are_the_attempt_directory_without_the_private_parts(
    exchange: FileExchange, attempt: Path
) -> None:
    session = open_session(exchange, attempt)
    status, body = await asyncio.to_thread(request, session.url + "/inputs", "GET")

    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        names = archive.getnames()
        data = archive.extractfile("staging/s3/b/in/data.bin")
        assert data is not None
        assert data.read() == bytes(range(256)) * 40
    assert sorted(names) == [
        "executor_input.json",
        "outputs",
        "outputs/parameters",
        "staging",
        "staging/s3",
        "staging/s3/b",
        "staging/s3/b/in",
        "staging/s3/b/in/data.bin",
    ]
    assert session.inputs_sent


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_outputs_are_unpacked_into_the_attempt(
    exchange: FileExchange, attempt: Path, chunked: bool
) -> None:
    session = open_session(exchange, attempt)
    payload = tar_of(
        member("staging/s3/b/out", tarfile.DIRTYPE),
        ("staging/s3/b/out/model.txt", b"weights"),
        ("outputs/parameters/answer", b"42"),
        ("./outputs/executor_output.json", b"{}"),
        ("work/ignored", b"skipped"),
        ("task.log", b"overwritten?"),
    )
    body: bytes | Iterator[bytes] = iter([payload[:700], payload[700:]]) if chunked else payload
    status, text = await asyncio.to_thread(request, session.url + "/outputs", "PUT", body)

    assert (status, text) == (200, b"4 entries stored\n")
    assert (attempt / "staging/s3/b/out/model.txt").read_text() == "weights"
    assert (attempt / "outputs/parameters/answer").read_text() == "42"
    assert (attempt / "outputs/executor_output.json").read_text() == "{}"
    assert not (attempt / "work/ignored").exists()
    assert (attempt / "task.log").read_text() == "launcher notes\n"
    assert session.outputs_received


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (member("link", tarfile.SYMTYPE, linkname="/etc/passwd"), b"only files and directories"),
        (member("hard", tarfile.LNKTYPE, linkname="executor_input.json"), b"only files and directories"),
        (member("dev", tarfile.CHRTYPE), b"only files and directories"),
        (("/etc/cron.d/evil", b"x"), b"not a relative path"),
        (("../escape", b"x"), b"not a relative path"),
        (("outputs/../../escape", b"x"), b"not a relative path"),
        (("outputs", b"a file where a directory is"), b"would replace a non-file"),
    ],
)
async def test_unsafe_outputs_are_refused(
    exchange: FileExchange, attempt: Path, entry: tarfile.TarInfo | tuple[str, bytes], error: bytes
) -> None:
    session = open_session(exchange, attempt)
    status, text = await asyncio.to_thread(request, session.url + "/outputs", "PUT", tar_of(entry))

    assert status == 400
    assert error in text
    assert not (attempt.parent / "escape").exists()
    assert not session.outputs_received


async def test_outputs_over_the_limit_are_refused(exchange: FileExchange, attempt: Path) -> None:
    session = open_session(exchange, attempt)
    status, text = await asyncio.to_thread(
        request, session.url + "/outputs", "PUT", tar_of(("outputs/big", b"x" * 1001))
    )

    assert (status, text) == (413, b"the outputs exceed 1000 bytes\n")


async def test_only_open_sessions_answer(exchange: FileExchange, attempt: Path) -> None:
    session = open_session(exchange, attempt)
    exchange.close(session)
    for url, method in [
        (session.url + "/inputs", "GET"),
        (session.url + "/outputs", "PUT"),
        (exchange.url + "/v1/attempts/guess/inputs", "GET"),
    ]:
        status, _ = await asyncio.to_thread(request, url, method, b"" if method == "PUT" else None)
        assert status == 404
    other = open_session(exchange, attempt)
    assert (await asyncio.to_thread(request, other.url + "/outputs", "GET"))[0] == 404
    assert (await asyncio.to_thread(request, exchange.url + "/elsewhere", "GET"))[0] == 404


async def test_a_wildcard_address_needs_an_advertised_url() -> None:
    with pytest.raises(ValueError, match="give the URL pods reach it at"):
        await FileExchange(host="0.0.0.0", port=0).start()
    exchange = FileExchange(host="0.0.0.0", port=0, advertise_url="http://10.1.2.3:8790/")
    await exchange.start()
    try:
        assert exchange.url == "http://10.1.2.3:8790"
    finally:
        await exchange.aclose()
