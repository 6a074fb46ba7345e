"""The fork server's entry point, run by path: `python3 <this file> --socket PATH`.

Run by path rather than with `-m services.executor.launchers.forkserver.server`, because
`-m` would import `services.executor`'s public API (gRPC, protobuf messages, asyncio…)
into the server, and so into every task. Instead the packages above the server module are
registered as bare placeholders, so only the fork server's own standard-library modules
load; a child drops them all before its task starts.

The server returns here in each forked child, which then runs its task at this script's
top level: the interpreter ends the child as it would end `python3 -m …` (see `child`).
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.executor.launchers.forkserver.child import Child

_PACKAGE = "services.executor.launchers.forkserver"


def _start() -> Child | None:
    """Serve (returns None in the server), or return the child to run after a fork."""
    # The interpreter put this script's directory first; a `-m` run would have the cwd
    # there instead, which each child sets. Nothing may be imported from here by plain name.
    path_tail = tuple(sys.path if sys.flags.safe_path else sys.path[1:])
    sys.path[:] = path_tail
    name, directory = _PACKAGE, os.path.dirname(os.path.abspath(__file__))
    while name:
        package = types.ModuleType(name)
        package.__path__ = [directory]
        sys.modules[name] = package
        name, directory = name.rpartition(".")[0], os.path.dirname(directory)
    from services.executor.launchers.forkserver import server

    return server.main(path_tail=path_tail)


if __name__ == "__main__":
    child = _start()
    if child is not None:
        child.run()
