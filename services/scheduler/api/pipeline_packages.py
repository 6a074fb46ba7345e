"""Uploaded pipeline packages: IR YAML or JSON text, or a zip / tar.gz archive holding it.

As KFP, an archive's `pipeline.yaml` is taken; an archive with a single `.yaml`, `.yml` or
`.json` file is accepted too. Nothing is extracted to disk. Archives whose members try
to leave the archive (absolute paths, `..`, links) are rejected as a whole, and every
size — the upload and each decompressed file — is capped at `MAX_PACKAGE_BYTES`.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import zipfile
import zlib
from collections.abc import Iterable

from services.core.errors import InvalidArgument, TooLarge
from services.core.pipeline.ir import load_pipeline_package
from services.scheduler.api.specs import ValidatedSpec, validate_specs

MAX_PACKAGE_BYTES = 32 * 1024 * 1024

PIPELINE_FILE = "pipeline.yaml"
_SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_PACKAGE_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".yaml", ".yml", ".json")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"


def read_pipeline_package(data: bytes) -> ValidatedSpec:
    """The validated specs of an uploaded package. Raises TooLarge or InvalidArgument."""
    _check_size(len(data), "the pipeline package")
    if data.startswith(_ZIP_MAGIC):
        text = _read_zip(data)
    elif data.startswith(_GZIP_MAGIC):
        text = _read_gzip(data)
    else:
        text = data
    pipeline_spec, platform_spec = load_pipeline_package(text)
    return validate_specs(pipeline_spec, platform_spec)


def package_stem(filename: str) -> str:
    """An uploaded file's name without directories and package suffix:
    "dir/my-pipeline.tar.gz" → "my-pipeline"."""
    name = posixpath.basename(filename.replace("\\", "/"))
    lowered = name.lower()
    for suffix in _PACKAGE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _check_size(size: int, what: str) -> None:
    if size > MAX_PACKAGE_BYTES:
        raise TooLarge(
            f"{what} is larger than the limit of {MAX_PACKAGE_BYTES} bytes "
            f"({MAX_PACKAGE_BYTES // (1024 * 1024)} MiB)",
            limit_bytes=MAX_PACKAGE_BYTES,
        )


def _safe_member_name(name: str) -> str:
    """The normalised name of an archive member. Raises InvalidArgument for a name that
    points outside the archive."""
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise InvalidArgument(f"unsafe path {name!r} in the pipeline package")
    if ".." in name.split("/"):
        raise InvalidArgument(f"unsafe path {name!r} in the pipeline package")
    return posixpath.normpath(name)


def _choose(names: Iterable[str]) -> str:
    """KFP's rule: `pipeline.yaml` at the top, else the single spec file."""
    candidates = sorted(name for name in names if name.lower().endswith(_SPEC_SUFFIXES))
    if PIPELINE_FILE in candidates:
        return PIPELINE_FILE
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InvalidArgument("the pipeline package holds no pipeline.yaml (nor any .yaml/.yml/.json file)")
    raise InvalidArgument(
        f"the pipeline package holds several spec files and no pipeline.yaml: {', '.join(candidates)}"
    )


def _read_zip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {}
            for info in archive.infolist():
                name = _safe_member_name(info.filename)
                if not info.is_dir():
                    members[name] = info
            info = members[_choose(members)]
            _check_size(info.file_size, f"{info.filename!r} in the pipeline package")
            with archive.open(info) as member:
                # The header's size can lie: read one byte past the limit to be sure.
                content = member.read(MAX_PACKAGE_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as e:
        raise InvalidArgument(f"the pipeline package is not a readable zip archive: {e}") from None
    _check_size(len(content), f"{info.filename!r} in the pipeline package")
    return content


def _read_gzip(data: bytes) -> bytes:
    """A gzip-compressed tar archive (or, leniently, a gzip-compressed spec file)."""
    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        raw = decompressor.decompress(data, MAX_PACKAGE_BYTES + 1)
    except zlib.error as e:
        raise InvalidArgument(f"the pipeline package is not valid gzip: {e}") from None
    _check_size(len(raw), "the decompressed pipeline package")
    if not _is_tar(raw):
        return raw
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            members = {}
            for info in archive.getmembers():
                name = _safe_member_name(info.name)
                if info.issym() or info.islnk():
                    raise InvalidArgument(f"link {info.name!r} in the pipeline package")
                if info.isfile():
                    members[name] = info
            info = members[_choose(members)]
            member = archive.extractfile(info)
            if member is None:
                raise InvalidArgument(f"cannot read {info.name!r} in the pipeline package")
            with member:
                return member.read()
    except tarfile.TarError as e:
        raise InvalidArgument(f"the pipeline package is not a readable tar archive: {e}") from None


def _is_tar(raw: bytes) -> bool:
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:"):
            return True
    except tarfile.TarError:
        return False
