"""Choose the metadata store from its URL (`SLUICE_STORE_URL`)."""

from __future__ import annotations

from pathlib import Path

from services.core.errors import InvalidArgument
from services.core.store.base import Store


def open_store(url: str) -> Store:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or `mongodb://…`; not started."""
    if url.startswith("sqlite:///"):
        from services.core.store.sqlite import SqliteStore

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        try:
            from services.core.store.mongo import MongoStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as error:
            raise InvalidArgument(
                "the MongoDB store is not part of this build yet; use sqlite:///PATH", field="store_url"
            ) from error
        store: Store = MongoStore(url)
        return store
    raise InvalidArgument(
        f"unsupported store URL {url!r}: use sqlite:///PATH or mongodb://…", field="store_url"
    )
