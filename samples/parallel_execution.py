# mypy: disable-error-code="no-any-return"
"""Parallel execution: two downloads run side by side, then a join prints both texts.

KFP's classic *parallel execution* sample, rebuilt with Sluice's DSL. The downloads do not
depend on each other, so Sluice starts them at the same time; the join waits for both.

Run it on a local Sluice (`sluice up`)::

    sluice run samples/parallel_execution.py -p url1=http://127.0.0.1:8000/a.txt \\
        -p url2=http://127.0.0.1:8000/b.txt

or from Python::

    import sluice
    from samples.parallel_execution import parallel_execution

    client = sluice.Client()
    run = client.run_pipeline(parallel_execution, {"url1": ..., "url2": ...})
    print(client.wait(run.run_id).outputs["Output"])
"""

from __future__ import annotations

import urllib.request

from sluice import dsl


def fetch_text(url: str, *, timeout: float = 30.0) -> str:
    """The body of `url` as text (a module helper: Sluice ships it with the component)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        charset = response.headers.get_content_charset() or "utf-8"
        text: str = response.read().decode(charset)
    return text


@dsl.component
def download(url: str) -> str:
    """Download a text file."""
    text = fetch_text(url)
    print(f"downloaded {len(text)} characters from {url}")
    return text


@dsl.component
def echo(text1: str, text2: str) -> str:
    """Print both texts; return them joined."""
    print(text1)
    print(text2)
    return f"{text1}\n{text2}"


@dsl.pipeline(
    name="parallel-execution",
    description="Download two texts in parallel, then print both.",
)
def parallel_execution(url1: str, url2: str) -> str:
    first = download(url=url1).set_display_name("download 1")
    second = download(url=url2).set_display_name("download 2")
    return echo(text1=first.output, text2=second.output).output
