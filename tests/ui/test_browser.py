"""The UI in a real browser: Debian's Chromium driven by Playwright against the real
standalone Sluice. Upload a pipeline, start a run from the form and watch its graph turn
green without a reload, read a task's logs and its confusion matrix and ROC curve,
compare two runs, create and disable a recurring run. The main pages are written to
docs/screenshots/ for the README.

The browser may reach the server under test only: any other request fails the test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from kfp import compiler

from tests.e2e.kfp_control_flow import live_log
from tests.ui.conftest import UiServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1400, 900

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
    pytest.mark.timeout(120),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, expect, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


class PageProblems:
    """Requests that left the server under test, and errors in the browser console (CSP
    violations among them)."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []

    def check(self) -> None:
        assert self.outside == [], f"the page tried to reach {self.outside}"
        assert self.errors == [], f"browser errors: {self.errors}"


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, ui_server: UiServer, problems: PageProblems) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
        base_url=ui_server.url,
        service_workers="block",
    )
    allowed = urlsplit(ui_server.url).netloc

    def guard(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc == allowed:
            route.continue_()
        else:
            problems.outside.append(request.url)
            route.abort()

    context.route("**/*", guard)
    opened = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.errors.append(message.text)

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: problems.errors.append(str(error)))
    opened.set_default_timeout(20_000)
    try:
        yield opened
        problems.check()
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def demo_version(ui_server: UiServer) -> dict[str, str]:
    """The test pipeline uploaded through the REST API (for the tests that do not test upload)."""
    with (
        httpx.Client(base_url=ui_server.url, timeout=30, trust_env=False) as http,
        ui_server.package.open("rb") as f,
    ):
        uploaded = http.post(
            "/apis/v2beta1/pipelines/upload",
            params={"name": "browser-fixture-demo"},
            files={"uploadfile": ("ui_demo.yaml", f)},
        )
        uploaded.raise_for_status()
        pipeline_id = uploaded.json()["pipeline_id"]
        versions = http.get(f"/apis/v2beta1/pipelines/{pipeline_id}/versions").json()
    return {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": versions["pipeline_versions"][0]["pipeline_version_id"],
    }


def start_run(ui_server: UiServer, version: dict[str, str], *, name: str, parameters: dict[str, Any]) -> str:
    with httpx.Client(base_url=ui_server.url, timeout=30, trust_env=False) as http:
        created = http.post(
            "/apis/v2beta1/runs",
            json={
                "display_name": name,
                "pipeline_version_reference": version,
                "runtime_config": {"parameters": parameters},
            },
        )
        created.raise_for_status()
        run_id: str = created.json()["run_id"]
    return run_id


def node(page: Page, label: str) -> Any:
    return page.locator(f'svg.dag g.node[aria-label^="{label}:"]')


def test_upload_start_a_run_and_watch_it_turn_green_live(page: Page, ui_server: UiServer) -> None:
    page.goto("/pipelines")
    page.eval_on_selector("details.create-card", "details => { details.open = true; }")
    page.set_input_files("#package", str(ui_server.package))
    page.fill("#pipeline-name", "browser-demo")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/pipelines/[^/]+/versions/[^/]+$"))
    expect(node(page, "prepare")).to_be_visible()
    expect(page.locator("svg.dag")).to_contain_text("2 iterations")
    shot(page, "pipeline-version")

    page.click("#create-run")
    expect(page.locator("#f-seconds")).to_have_value("3.0")
    page.fill("#f-seconds", "2.5")
    page.fill("#display_name", "watched live")
    page.click("#submit-run")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    page.evaluate("window.__sameDocument = true")

    evaluate_state = node(page, "evaluate").locator(".node-state")
    # The evaluation waits for the slow first step: it has not succeeded when the page opens.
    assert evaluate_state.text_content() != "Succeeded"
    expect(page.locator("#live-indicator")).to_have_text("● Live")
    expect(node(page, "prepare").locator(".node-state")).to_have_text("Running", timeout=10_000)
    expect(evaluate_state).to_have_text("Succeeded", timeout=30_000)
    expect(page.locator("#run-status .badge-text")).to_have_text("Succeeded", timeout=10_000)
    expect(node(page, "prepare")).to_have_class(re.compile(r"\bstate-succeeded\b"))
    expect(node(page, "prepare").locator(".icon")).to_have_text("✓")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    expect(page.locator("#run-artifacts")).to_contain_text("classification")
    shot(page, "run-detail")

    # The loop folds into one box that counts its iterations, and unfolds again.
    loop_toggle = page.locator("svg.dag .toggle[aria-label='Collapse for-loop-2']")
    loop_toggle.click()
    expect(page.locator("svg.dag g.group-folded")).to_contain_text("2 iterations")
    expect(node(page, "shard")).to_have_count(0)
    page.locator("svg.dag .toggle[aria-label='Expand for-loop-2']").press("Enter")
    expect(node(page, "shard")).to_have_count(2)

    node(page, "evaluate").click()
    panel = page.locator("#task-panel")
    expect(panel.locator("h2")).to_have_text("evaluate")
    matrix = panel.locator("table.confusion-matrix")
    expect(matrix).to_be_visible()
    expect(matrix.locator("td").first).to_have_text("9")
    expect(panel.locator("svg.roc polyline")).to_have_count(1)
    expect(panel.locator("table.metrics")).to_contain_text("accuracy")
    expect(panel.locator("pre.log")).to_contain_text("evaluating 3 rows at threshold 0.5")
    expect(panel.locator(".markdown h1")).to_have_text("Evaluation")
    assert panel.locator(".markdown script").count() == 0
    shot(page, "task-panel")

    # By keyboard: focus the first task and press Enter.
    node(page, "prepare").focus()
    page.keyboard.press("Enter")
    expect(panel.locator("h2")).to_have_text("prepare")
    expect(panel.locator("pre.log")).to_contain_text("prepared")


def test_compare_two_runs(page: Page, ui_server: UiServer, demo_version: dict[str, str]) -> None:
    stamp = str(time.time_ns())
    first = start_run(
        ui_server, demo_version, name=f"cmp-{stamp}-a", parameters={"seconds": 0, "threshold": 0.2}
    )
    second = start_run(
        ui_server, demo_version, name=f"cmp-{stamp}-b", parameters={"seconds": 0, "threshold": 0.8}
    )
    for run_id in (first, second):
        assert ui_server.wait_for_run(run_id)["state"] == "SUCCEEDED"

    page.goto("/runs")
    shot(page, "runs")
    page.goto(f"/runs?q=cmp-{stamp}")
    rows = page.locator("table.runs tbody tr[data-run-id]")
    expect(rows).to_have_count(2)
    expect(page.locator("table.runs thead")).to_contain_text("accuracy")
    page.check(f"#pick-{first}")
    page.check(f"#pick-{second}")
    page.click("#compare-selected")
    page.wait_for_url(re.compile(r"/compare\?"))
    differing = page.locator("#compare-params tr.differs")
    expect(differing).to_have_count(1)
    expect(differing).to_contain_text("threshold")
    expect(page.locator("#compare-metrics")).to_contain_text("accuracy")
    expect(page.locator("#compare-roc svg polyline")).to_have_count(2)
    shot(page, "compare")


def test_filter_the_run_list_without_a_reload(
    page: Page, ui_server: UiServer, demo_version: dict[str, str]
) -> None:
    name = f"filter-{time.time_ns()}"
    ui_server.wait_for_run(start_run(ui_server, demo_version, name=name, parameters={"seconds": 0}))
    page.goto("/runs")
    page.evaluate("window.__sameDocument = true")
    page.fill("#run-q", name)
    expect(page.locator("table.runs tbody tr[data-run-id]")).to_have_count(1)
    expect(page.locator("table.runs tbody")).to_contain_text(name)
    page.select_option("#run-state", "FAILED")
    expect(page.locator("table.runs tbody tr[data-run-id]")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    assert "state=FAILED" in page.url


def test_create_and_disable_a_recurring_run(page: Page, demo_version: dict[str, str]) -> None:
    page.goto(
        f"/recurring-runs/new?pipeline_id={demo_version['pipeline_id']}"
        f"&version_id={demo_version['pipeline_version_id']}"
    )
    page.fill("#display_name", "every six hours")
    page.check("input[name=trigger_type][value=interval]")
    page.fill("#interval_value", "6")
    page.select_option("#interval_unit", "hours")
    page.fill("#max_concurrency", "2")
    page.fill("#f-threshold", "0.7")
    page.click("#submit-run")
    page.wait_for_url(re.compile(r"/recurring-runs/[0-9a-f-]{36}$"))
    expect(page.locator("#recurring-status")).to_contain_text("Enabled")
    expect(page.locator("dl.facts")).to_contain_text("every 6 hours")
    page.click("button:text-is('Disable')")
    expect(page.locator("#recurring-status")).to_contain_text("Disabled")
    shot(page, "recurring-run")
    page.goto("/recurring-runs")
    row = page.locator("table.recurring tr", has_text="every six hours")
    expect(row).to_contain_text("Disabled")
    expect(row.locator("button")).to_have_text("Enable")


def test_experiments_and_pipelines_pages(page: Page) -> None:
    page.goto("/experiments")
    page.eval_on_selector("details.create-card", "details => { details.open = true; }")
    page.fill("#exp-name", "browser experiment")
    page.fill("#exp-desc", "made in a browser test")
    page.click("details.create-card button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/[0-9a-f-]{36}$"))
    expect(page.locator("h1")).to_contain_text("browser experiment")
    page.goto("/experiments")
    expect(page.locator("table.list")).to_contain_text("browser experiment")
    shot(page, "experiments")
    page.goto("/pipelines")
    expect(page.locator("table.list")).to_contain_text("browser-fixture-demo")
    shot(page, "pipelines")


def test_a_running_tasks_log_streams_into_the_task_panel(
    page: Page, ui_server: UiServer, tmp_path: Path
) -> None:
    package = tmp_path / "live_log.yaml"
    compiler.Compiler().compile(live_log, str(package))
    release = tmp_path / "release"
    with httpx.Client(base_url=ui_server.url, timeout=30, trust_env=False) as http:
        created = http.post(
            "/apis/v2beta1/runs",
            json={
                "display_name": "live log",
                "pipeline_spec": yaml.safe_load(package.read_text()),
                "runtime_config": {"parameters": {"release": str(release)}},
            },
        )
        created.raise_for_status()
    try:
        page.goto(f"/runs/{created.json()['run_id']}")
        talker = node(page, "talk-until-released")
        expect(talker.locator(".node-state")).to_have_text("Running", timeout=30_000)
        talker.click()
        panel = page.locator("#task-panel")
        log = panel.locator("pre.log")
        # The line the task printed, while it still runs (it waits for the release file).
        expect(log).to_contain_text("halfway there", timeout=20_000)
        expect(panel.locator(".log-status")).to_contain_text("Live")
        log.evaluate("pre => { pre.scrollIntoView({block: 'end'}); pre.scrollTop = pre.scrollHeight; }")
        shot(page, "task-log-live")
        assert "released, done" not in (log.text_content() or "")
        expect(talker.locator(".node-state")).to_have_text("Running")
        release.touch()
        expect(talker.locator(".node-state")).to_have_text("Succeeded", timeout=30_000)
        expect(panel.locator("pre.log")).to_contain_text("released, done", timeout=20_000)
        expect(panel.locator("pre.log")).to_contain_text("halfway there")
    finally:
        release.touch()
