"""Object keys and artifact URIs: pure validation and parsing, no I/O.

A key names an object inside one artifact store (`runs/r1/train/model.pkl`); a URI names it
for the rest of the world, following KFP's conventions (`minio://`, `s3://`, `gs://`, and
`file://` for the local filesystem backend). URIs are taken literally, as KFP builds them by
string concatenation: nothing is percent-decoded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from services.core.errors import InvalidArgument

# S3's limit on a key, in UTF-8 bytes; a path segment is bounded by the filesystem's NAME_MAX.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255

FILE_SCHEME = "file"
BUCKET_SCHEMES: frozenset[str] = frozenset({"s3", "minio", "gs"})
SCHEMES: frozenset[str] = BUCKET_SCHEMES | {FILE_SCHEME}

# Lenient on purpose: the union of what S3 and GCS accept (GCS allows "_" and, with dots, 222 chars).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def shown(text: str, limit: int = 200) -> str:
    """`repr(text)`, shortened so an absurdly long key cannot bloat an error message."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _reject(key: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid object key {shown(key)}: {reason}", field="key")


def validate_key(key: str) -> str:
    """Return `key` unchanged when it is a safe relative object key; raise InvalidArgument
    naming the key and the reason otherwise."""
    if not key:
        raise _reject(key, "empty")
    # Characters never take fewer bytes than one, so this spares scanning a huge key.
    if len(key) > MAX_KEY_BYTES or len(key.encode(errors="replace")) > MAX_KEY_BYTES:
        raise _reject(key, f"longer than {MAX_KEY_BYTES} bytes")
    if "\0" in key:
        raise _reject(key, "contains a NUL character")
    categories = {unicodedata.category(char) for char in key}
    if "Cc" in categories:
        raise _reject(key, "contains a control character")
    if "Cs" in categories:
        raise _reject(key, "contains a lone surrogate (not valid UTF-8)")
    if "\\" in key:
        raise _reject(key, "contains a backslash")
    if key.startswith("/"):
        raise _reject(key, "is an absolute path")
    for segment in key.split("/"):
        if segment == "":
            raise _reject(key, "has an empty path segment")
        if segment == ".":
            raise _reject(key, "has a '.' path segment")
        if segment == "..":
            raise _reject(key, "has a '..' path segment")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise _reject(key, f"has a path segment longer than {MAX_SEGMENT_BYTES} bytes")
    return key


@dataclass(frozen=True)
class ObjectUri:
    """A parsed artifact URI.

    For a bucket scheme (`s3`, `minio`, `gs`) `key` is a validated object key. For `file`
    `bucket` is empty and `key` is the absolute path, e.g. `/data/artifacts/x`.
    """

    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return format_uri(self)


def _bad_uri(uri: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid artifact uri {shown(uri)}: {reason}", field="uri")


def parse_uri(uri: str) -> ObjectUri:
    """Split an artifact URI into (scheme, bucket, key). Raises InvalidArgument."""
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise _bad_uri(uri, f"expected one of {', '.join(sorted(s + '://' for s in SCHEMES))}")
    if scheme == FILE_SCHEME:
        # Only the empty authority is supported: file:///absolute/path.
        if not rest.startswith("/"):
            raise _bad_uri(uri, "a file uri needs an absolute path")
        return ObjectUri(scheme=scheme, bucket="", key=rest)
    bucket, _, key = rest.partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise _bad_uri(uri, f"bad bucket name {shown(bucket)}")
    try:
        validate_key(key)
    except InvalidArgument as error:
        raise _bad_uri(uri, error.message) from error
    return ObjectUri(scheme=scheme, bucket=bucket, key=key)


def format_uri(uri: ObjectUri) -> str:
    """The inverse of `parse_uri`."""
    if uri.scheme == FILE_SCHEME:
        return f"file://{uri.key}"
    return f"{uri.scheme}://{uri.bucket}/{uri.key}"


def file_uri(root: PurePosixPath, key: str) -> str:
    """The `file://` URI of `key` under the absolute directory `root`."""
    validate_key(key)
    return f"file://{root.as_posix().rstrip('/')}/{key}"


def key_in_root(uri: str, root: PurePosixPath) -> str:
    """The object key a `file://` URI names under `root`, checked lexically (symlinks are the
    backend's business). Raises InvalidArgument when the URI is not a file URI inside `root`."""
    parsed = parse_uri(uri)
    if parsed.scheme != FILE_SCHEME:
        raise InvalidArgument(f"artifact uri {shown(uri)} is not in the store at file://{root}", field="uri")
    prefix = root.as_posix().rstrip("/") + "/"
    if not parsed.key.startswith(prefix):
        raise InvalidArgument(f"artifact uri {shown(uri)} is outside the store root {root}", field="uri")
    key = parsed.key[len(prefix) :]
    try:
        return validate_key(key)
    except InvalidArgument as error:
        raise _bad_uri(uri, error.message) from error
