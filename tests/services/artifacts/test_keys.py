from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from services.artifacts.keys import (
    MAX_KEY_BYTES,
    ObjectUri,
    file_uri,
    format_uri,
    key_in_root,
    parse_uri,
    validate_key,
)
from services.core.errors import InvalidArgument


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a/b/c.txt",
        ".hidden",
        "a/.b",
        "..a",
        "a..",
        "a/...",
        "données/été 2024/résultat.txt",
        "with space/and+plus=equals%20",
        "s" * 255,
        "/".join(["d" * 200] * 5) + "/" + "x" * 19,  # exactly 1024 bytes
    ],
)
def test_safe_keys_pass(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute path"),
        ("/", "absolute path"),
        ("../x", "'..' path segment"),
        ("a/../../b", "'..' path segment"),
        ("a/..", "'..' path segment"),
        ("..", "'..' path segment"),
        ("./a", "'.' path segment"),
        ("a/./b", "'.' path segment"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("a\\b", "backslash"),
        ("..\\..\\windows", "backslash"),
        ("a\0b", "NUL"),
        ("a\nb", "control character"),
        ("a\tb", "control character"),
        ("a\x7fb", "control character"),
        ("a\x85b", "control character"),
        ("a\ud800b", "surrogate"),
        ("x" * (MAX_KEY_BYTES + 1), f"longer than {MAX_KEY_BYTES} bytes"),
        ("é" * 600, f"longer than {MAX_KEY_BYTES} bytes"),
        ("s" * 256, "segment longer than 255 bytes"),
    ],
)
def test_unsafe_keys_fail_naming_key_and_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_key(key)

    assert reason in caught.value.message
    assert caught.value.field == "key"
    if len(key) <= 200:
        assert repr(key) in caught.value.message


def test_a_huge_key_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_key("k" * 1_000_000)

    assert len(caught.value.message) < 400
    assert "1000000 characters" in caught.value.message


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("s3://bucket/key", ObjectUri("s3", "bucket", "key")),
        ("minio://mlpipeline/v2/artifacts/run/x", ObjectUri("minio", "mlpipeline", "v2/artifacts/run/x")),
        ("gs://my_bucket.example/a/b.txt", ObjectUri("gs", "my_bucket.example", "a/b.txt")),
        ("file:///data/artifacts/a/b", ObjectUri("file", "", "/data/artifacts/a/b")),
    ],
)
def test_parse_and_format_round_trip(uri: str, parsed: ObjectUri) -> None:
    assert parse_uri(uri) == parsed
    assert format_uri(parsed) == uri
    assert str(parsed) == uri


def test_schemes_are_case_insensitive() -> None:
    assert parse_uri("S3://bucket/key") == ObjectUri("s3", "bucket", "key")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "expected one of"),
        ("bucket/key", "expected one of"),
        ("http://host/key", "expected one of"),
        ("file://relative/path", "absolute path"),
        ("s3://", "bad bucket name"),
        ("s3:///key", "bad bucket name"),
        ("s3://Upper/key", "bad bucket name"),
        ("s3://bucket", "empty"),
        ("s3://bucket/", "empty"),
        ("s3://bucket/../etc/passwd", "'..' path segment"),
        ("gs://bucket/a//b", "empty path segment"),
        ("minio://bucket//abs", "absolute path"),
    ],
)
def test_bad_uris_are_rejected(uri: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_uri(uri)

    assert reason in caught.value.message
    assert caught.value.field == "uri"


ROOT = PurePosixPath("/data/store")


def test_file_uri_and_key_in_root_round_trip() -> None:
    uri = file_uri(ROOT, "runs/r1/model.pkl")

    assert uri == "file:///data/store/runs/r1/model.pkl"
    assert key_in_root(uri, ROOT) == "runs/r1/model.pkl"


def test_file_uri_validates_the_key() -> None:
    with pytest.raises(InvalidArgument):
        file_uri(ROOT, "../escape")


def test_file_uri_under_the_filesystem_root() -> None:
    assert file_uri(PurePosixPath("/"), "a/b") == "file:///a/b"
    assert key_in_root("file:///a/b", PurePosixPath("/")) == "a/b"


@pytest.mark.parametrize(
    "uri",
    [
        "file:///data/other/x",
        "file:///data/store-evil/x",
        "file:///data/store",
        "file:///data/store/",
        "file:///data/store/../x",
        "file:///data/store/a/../../x",
        "file:///data/store//x",
        "file:///etc/passwd",
        "s3://store/x",
    ],
)
def test_key_in_root_rejects_uris_outside_the_root(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        key_in_root(uri, ROOT)
