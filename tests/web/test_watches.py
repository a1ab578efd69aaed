"""Watches inside the service: the embedded scheduler runs a feed watch asked for through
the API while the service holds the store; the run is listed among the jobs and its
events appear on the scans page and in the API — no other process touches the store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus.store.db import Store
from mxcensus.store.watches import WatchStore
from mxcensus.watch.spec import Watch, Watched
from tests.watch.test_feed_webhook import feed_file
from tests.web.conftest import Running, copy_census, start_service


@pytest.fixture(scope="module")
def watching(census_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    where = tmp_path_factory.mktemp("watching")
    db = copy_census(census_template, where)
    feed = where / "feed"
    feed.mkdir()
    feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92", "203.0.113.11": "4.96"})
    spec = Watch(name="cert-feed", watched=Watched(feed=str(feed)), schedule="every 30d")
    spec.check()
    with Store.open(db) as store:
        WatchStore(store).add_watch(spec.name, spec.to_json(), _now(), replace=False)
    yield from start_service(db, watches=True)


def _now() -> object:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def wait_for_watch_job(http: object, name: str) -> dict[str, object]:
    for _ in range(600):  # bounded: 60 s
        jobs = http.get("/api/v1/jobs").json()  # type: ignore[attr-defined]
        done = [j for j in jobs if j["title"] == f"watch {name}"]
        if done:
            return done[0]  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError("the watch did not run")


def test_a_watch_runs_inside_the_service(watching: Running) -> None:
    with watching.client() as http:
        listed = http.get("/api/v1/watches").json()
        assert [w["watch"] for w in listed] == ["cert-feed"]
        job = wait_for_watch_job(http, "cert-feed")  # due at once: it never ran
        assert job["state"] == "done", job
        events = http.get("/api/v1/events").json()
        assert {e["ip"] for e in events if e["kind"] == "new"} >= {"203.0.113.10", "203.0.113.11"}
        page = http.get("/scans").text
        assert "cert-feed" in page and "203.0.113.10" in page
        # asked to run again: the same feed day is not imported twice, no new event
        assert http.post("/api/v1/watches/cert-feed/run").status_code == 202
        assert http.post("/api/v1/watches/nope/run").status_code == 404
        for _ in range(600):
            runs = [j for j in http.get("/api/v1/jobs").json() if j["title"] == "watch cert-feed"]
            if len(runs) == 2:
                break
            time.sleep(0.1)
        assert len(runs) == 2 and runs[0]["state"] == "done"
        assert len(http.get("/api/v1/events").json()) == len(events)
