"""Every page over HTTP against the real standalone Sluice (no browser): forms post and
redirect, errors are HTML pages, static files stay in their folder, and the run list's
first page is fast with 10 000 runs in the store."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.core.store.records import ExperimentRecord, RunRecord, RuntimeState
from tests.ui.conftest import UiServer

SEEDED_RUNS = 10_000


def upload(http: httpx.Client, server: UiServer, name: str) -> tuple[str, str]:
    with server.package.open("rb") as package:
        response = http.post(
            "/pipelines/upload", files={"package": ("ui_demo.yaml", package)}, data={"name": name}
        )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/pipelines/([^/]+)/versions/([^/]+)", response.headers["location"])
    assert match is not None
    return match.group(1), match.group(2)


def test_pages_render_and_a_run_is_created_from_the_form(http: httpx.Client, ui_server: UiServer) -> None:
    pipeline_id, version_id = upload(http, ui_server, "pages-demo")
    version = http.get(f"/pipelines/{pipeline_id}/versions/{version_id}")
    assert version.status_code == 200
    assert "<svg" in version.text
    assert "prepare" in version.text
    assert version.headers["content-security-policy"].startswith("default-src 'self'")

    form = http.get("/runs/new", params={"pipeline_id": pipeline_id, "version_id": version_id})
    assert 'name="param.seconds"' in form.text
    assert 'value="3.0"' in form.text

    bad = http.post(
        "/runs/new",
        data={
            "pipeline_id": pipeline_id,
            "version_id": version_id,
            "display_name": "x",
            "param.seconds": "soon",
        },
    )
    assert bad.status_code == 400
    assert "seconds: could not convert" in bad.text

    created = http.post(
        "/runs/new",
        data={
            "pipeline_id": pipeline_id,
            "version_id": version_id,
            "display_name": "pages run",
            "param.seconds": "0",
            "param.threshold": "0.25",
            "param.label": "",
        },
    )
    assert created.status_code == 303
    run_id = created.headers["location"].rsplit("/", 1)[1]
    run = ui_server.wait_for_run(run_id)
    assert run["state"] == "SUCCEEDED"
    assert run["runtime_config"]["parameters"]["threshold"] == 0.25

    page = http.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert 'data-run-id="' in page.text
    task_ids = set(re.findall(r'data-task-id="([^"]+)"', page.text))
    assert task_ids
    panels = [http.get(f"/runs/{run_id}/tasks/{t}", headers={"HX-Request": "true"}) for t in task_ids]
    assert all(p.status_code == 200 for p in panels)
    assert any("confusion-matrix" in p.text for p in panels)
    listing = http.get("/runs", params={"q": "pages run"})
    assert "pages run" in listing.text
    assert "accuracy" in listing.text
    for path in ("/experiments", "/pipelines", f"/pipelines/{pipeline_id}", "/recurring-runs", "/compare"):
        assert http.get(path).status_code == 200, path
    clone = http.get("/runs/new", params={"clone": run_id})
    assert "Clone of pages run" in clone.text
    assert 'value="0.25"' in clone.text


def test_errors_are_html_pages_and_static_files_stay_in_their_folder(http: httpx.Client) -> None:
    missing = http.get("/runs/no-such-run")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Not found" in missing.text
    assert http.get("/static/sluice.css").status_code == 200
    assert http.get("/static/vendor/htmx/LICENSE").status_code == 200
    assert http.get("/static/%2e%2e/templates/base.html").status_code == 404
    redirect = http.post("/runs/no-such-run/archive", data={"next": "https://example.invalid/"})
    assert redirect.status_code == 404


def test_experiments_are_created_archived_and_restored(http: httpx.Client) -> None:
    created = http.post("/experiments", data={"display_name": "pages-exp", "description": "d"})
    assert created.status_code == 303
    path = created.headers["location"]
    experiment_id = path.rsplit("/", 1)[1]
    assert "pages-exp" in http.get(path).text
    assert http.post(f"{path}/archive", data={"next": "/experiments"}).headers["location"] == "/experiments"
    assert experiment_id in http.get("/experiments", params={"view": "archived"}).text
    assert experiment_id not in http.get("/experiments").text
    http.post(f"{path}/unarchive", data={"next": "//elsewhere.invalid/"})
    assert experiment_id in http.get("/experiments").text


@pytest.fixture(scope="module")
def crowded(ui_server: UiServer) -> str:
    """10 000 finished runs in the store, in an experiment of their own; its id."""
    store = ui_server.standalone.store

    async def seed() -> None:
        now = datetime.now(UTC) - timedelta(days=1)
        experiment = ExperimentRecord(experiment_id="exp-crowded", display_name="crowded", created_at=now)
        await store.create_experiment(experiment)
        for i in range(SEEDED_RUNS):
            moment = now + timedelta(seconds=i)
            await store.create_run(
                RunRecord(
                    run_id=f"run-{i:05d}",
                    experiment_id=experiment.experiment_id,
                    display_name=f"seeded run {i}",
                    created_at=moment,
                    pipeline_spec={"pipelineInfo": {"name": "seeded"}, "root": {"dag": {"tasks": {}}}},
                    state=RuntimeState.SUCCEEDED,
                    scheduled_at=moment,
                    finished_at=moment + timedelta(seconds=2),
                )
            )

    ui_server.call(seed)
    return "exp-crowded"


def timed_get(http: httpx.Client, url: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = http.get(url)
    return response, time.perf_counter() - started


def test_the_first_page_of_10000_runs_renders_fast(http: httpx.Client, crowded: str) -> None:
    http.get("/runs")  # warm the caches of names
    page, elapsed = timed_get(http, "/runs")
    assert page.status_code == 200
    assert page.text.count('<tr data-run-id="') == 20
    total = re.search("1\u201320 of (\\d+)", page.text)
    assert total is not None
    assert int(total.group(1)) >= SEEDED_RUNS
    assert elapsed < 0.5, f"the runs page took {elapsed:.3f} s"

    in_experiment, elapsed = timed_get(http, f"/experiments/{crowded}")
    assert elapsed < 0.5, f"the experiment page took {elapsed:.3f} s"
    assert f"1\u201320 of {SEEDED_RUNS}" in in_experiment.text
    assert in_experiment.text.index("seeded run 9999") < in_experiment.text.index("seeded run 9998")
    next_url = re.search(r'href="([^"]+)" rel="next"', in_experiment.text)
    assert next_url is not None
    second = http.get(next_url.group(1).replace("&amp;", "&"))
    assert "seeded run 9979" in second.text
    assert f"21\u201340 of {SEEDED_RUNS}" in second.text
    previous = re.search(r'href="([^"]+)" rel="prev"', second.text)
    assert previous is not None
    assert "seeded run 9999" in http.get(previous.group(1).replace("&amp;", "&")).text


def test_runs_are_archived_restored_terminated_and_retried(http: httpx.Client, ui_server: UiServer) -> None:
    pipeline_id, version_id = upload(http, ui_server, "pages-actions")
    created = http.post(
        "/runs/new",
        data={
            "pipeline_id": pipeline_id,
            "version_id": version_id,
            "display_name": "slow run",
            "param.seconds": "60",
        },
    )
    run_id = created.headers["location"].rsplit("/", 1)[1]
    detail = http.get(f"/runs/{run_id}")
    assert "Terminate" in detail.text
    terminated = http.post(f"/runs/{run_id}/terminate", data={"next": f"/runs/{run_id}"})
    assert terminated.status_code == 303
    assert ui_server.wait_for_run(run_id)["state"] == "CANCELED"
    assert "Retry" in http.get(f"/runs/{run_id}").text

    archived = http.post(f"/runs/{run_id}/archive", data={"next": "/runs?view=archived"})
    assert archived.headers["location"] == "/runs?view=archived"
    assert run_id in http.get("/runs", params={"view": "archived", "q": "slow run"}).text
    assert run_id not in http.get("/runs", params={"q": "slow run"}).text
    http.post(f"/runs/{run_id}/unarchive", data={})
    assert run_id in http.get("/runs", params={"q": "slow run"}).text
    assert http.post(f"/runs/{run_id}/explode", data={}).status_code == 404

    retried = http.post(f"/runs/{run_id}/retry", data={"next": f"/runs/{run_id}"})
    assert retried.status_code == 303
    again = http.get(f"/apis/v2beta1/runs/{run_id}").json()
    assert again["state"] in ("PENDING", "RUNNING")
    http.post(f"/runs/{run_id}/terminate", data={})
    assert ui_server.wait_for_run(run_id)["state"] == "CANCELED"


def test_runs_experiments_pipelines_and_versions_are_deleted(http: httpx.Client, ui_server: UiServer) -> None:
    pipeline_id, first_version = upload(http, ui_server, "pages-deletes")
    with ui_server.package.open("rb") as package:
        second = http.post(f"/pipelines/{pipeline_id}/upload", files={"package": ("v2.yaml", package)})
    second_version = second.headers["location"].rsplit("/", 1)[1]
    experiment = http.post("/experiments", data={"display_name": "pages-deletes-exp"}).headers["location"]
    experiment_id = experiment.rsplit("/", 1)[1]
    created = http.post(
        "/runs/new",
        data={
            "pipeline_id": pipeline_id,
            "version_id": first_version,
            "experiment_id": experiment_id,
            "display_name": "run to delete",
            "param.seconds": "0.1",
        },
    )
    run_id = created.headers["location"].rsplit("/", 1)[1]
    ui_server.wait_for_run(run_id)
    assert f'action="/runs/{run_id}/delete"' in http.get(f"/runs/{run_id}").text

    # A run: gone from the API and the lists; the redirect goes to the run list.
    deleted = http.post(f"/runs/{run_id}/delete", data={"next": "/runs"})
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/runs")
    assert http.get(f"/apis/v2beta1/runs/{run_id}").status_code == 404
    assert http.get(f"/runs/{run_id}").status_code == 404

    # An experiment.
    assert f'action="/experiments/{experiment_id}/delete"' in http.get(experiment).text
    assert http.post(f"{experiment}/delete", data={}).headers["location"] == "/experiments"
    assert http.get(f"/apis/v2beta1/experiments/{experiment_id}").status_code == 404
    assert experiment_id not in http.get("/experiments").text

    # One version, then the pipeline with the rest of its versions.
    version_page = f"/pipelines/{pipeline_id}/versions/{second_version}"
    assert f'action="{version_page}/delete"' in http.get(version_page).text
    assert http.post(f"{version_page}/delete").headers["location"] == f"/pipelines/{pipeline_id}"
    versions = http.get(f"/apis/v2beta1/pipelines/{pipeline_id}/versions").json()["pipeline_versions"]
    assert [v["pipeline_version_id"] for v in versions] == [first_version]
    assert "1 version(s)" in http.get(f"/pipelines/{pipeline_id}").text
    assert http.post(f"/pipelines/{pipeline_id}/delete").headers["location"] == "/pipelines"
    assert http.get(f"/apis/v2beta1/pipelines/{pipeline_id}").status_code == 404
    assert http.get(f"/apis/v2beta1/pipelines/{pipeline_id}/versions/{first_version}").status_code == 404

    # Unknown things are 404 pages, not errors.
    assert http.post("/pipelines/nope/delete").status_code == 404
    assert http.post("/runs/nope/delete", data={}).status_code == 404


def test_the_run_list_shows_the_metrics_of_a_run_made_of_cache_hits(
    http: httpx.Client, ui_server: UiServer
) -> None:
    pipeline_id, version_id = upload(http, ui_server, "pages-cached-metrics")
    name = f"cached metrics {time.time_ns()}"
    run_ids = []
    for _ in range(2):
        created = http.post(
            "/apis/v2beta1/runs",
            json={
                "display_name": name,
                "pipeline_version_reference": {"pipeline_id": pipeline_id, "pipeline_version_id": version_id},
                "runtime_config": {"parameters": {"seconds": 0.1, "threshold": 0.3}},
            },
        )
        run_ids.append(created.json()["run_id"])
        assert ui_server.wait_for_run(run_ids[-1])["state"] == "SUCCEEDED"
    second = http.get(f"/apis/v2beta1/runs/{run_ids[1]}").json()
    evaluate = next(t for t in second["run_details"]["task_details"] if t["display_name"] == "evaluate")
    assert evaluate.get("cached_from_task_id")  # every output of the second run was reused
    assert second["metrics"] == {"accuracy": 0.88, "loss": 0.31}

    page = http.get("/runs", params={"q": name}).text
    header = re.findall(r'<th scope="col" class="num metric-col">([^<]+)</th>', page)
    assert header == ["accuracy", "loss"]
    for run_id in run_ids:
        row = page[page.index(f'href="/runs/{run_id}"') :].split("</tr>", 1)[0]
        assert "0.88" in row
        assert "0.31" in row


def test_a_pipelines_display_name_and_description_are_edited(http: httpx.Client, ui_server: UiServer) -> None:
    pipeline_id, _ = upload(http, ui_server, "pages-edit")
    page = f"/pipelines/{pipeline_id}"
    assert f'action="{page}/edit"' in http.get(page).text

    saved = http.post(f"{page}/edit", data={"display_name": "Churn model", "description": "weekly"})
    assert (saved.status_code, saved.headers["location"]) == (303, page)
    stored = http.get(f"/apis/v2beta1/pipelines/{pipeline_id}").json()
    assert (stored["display_name"], stored["description"]) == ("Churn model", "weekly")
    assert stored["name"] == "pages-edit"
    assert "Churn model" in http.get("/pipelines").text

    # An emptied description is cleared; an empty display name is refused and changes nothing.
    http.post(f"{page}/edit", data={"display_name": "Churn model", "description": ""})
    assert "description" not in http.get(f"/apis/v2beta1/pipelines/{pipeline_id}").json()
    refused = http.post(f"{page}/edit", data={"display_name": " ", "description": "x"})
    assert refused.status_code == 400
    assert "display_name" in refused.text
    assert http.get(f"/apis/v2beta1/pipelines/{pipeline_id}").json()["display_name"] == "Churn model"
