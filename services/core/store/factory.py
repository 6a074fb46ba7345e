"""Choose the metadata store from its URL (`SLUICE_STORE_URL`)."""

from __future__ import annotations

from pathlib import Path

from services.core.errors import InvalidArgument
from services.core.store.base import Store


def open_store(url: str) -> Store:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or `mongodb://…`; not started.

    A MongoDB URL may name the database (`mongodb://host/mydb`, default `sluice`) and carry
    driver options, e.g. `?w=majority` to acknowledge writes once a majority has them.
    """
    if url.startswith("sqlite:///"):
        from services.core.store.sqlite import SqliteStore

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        # Imported here: the embedded default must not need the MongoDB driver.
        from services.core.store.mongo import MongoStore

        return MongoStore(url, database=_mongo_database(url) or "sluice")
    raise InvalidArgument(
        f"unsupported store URL {url!r}: use sqlite:///PATH or mongodb://…", field="store_url"
    )


def _mongo_database(url: str) -> str:
    """The database a MongoDB URL names (its path), or ""."""
    after_hosts = url.split("://", 1)[1].partition("/")[2]
    return after_hosts.partition("?")[0]
