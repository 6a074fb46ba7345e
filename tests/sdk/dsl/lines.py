"""Finding the line of a marker comment, to check the `file:line` in error messages."""

from pathlib import Path


def line_of(path: str, marker: str) -> str:
    """`path:line` of the only line of `path` containing `# <marker>`."""
    lines = [
        number
        for number, text in enumerate(Path(path).read_text().splitlines(), 1)
        if text.endswith(f"# {marker}")
    ]
    assert len(lines) == 1, f"marker {marker!r} found {len(lines)} times"
    return f"{path}:{lines[0]}"
