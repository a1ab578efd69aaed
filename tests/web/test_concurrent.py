"""One store, many readers: the service imports 100,000 records as a background job while
clients ask it questions without pause; no request fails, and the new scan appears when
the import is done — without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web.census_data import write_many
from tests.web.conftest import WEEK2, Running, copy_census, start_service

RECORDS = 100_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def busy_service(
    census_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    db = copy_census(census_template, tmp_path_factory.mktemp("busy"))
    yield from start_service(db)


def test_an_import_while_readers_read(busy_service: Running, tmp_path: Path) -> None:
    upload = write_many(tmp_path / "many.json", RECORDS, "2026-11-15T10:00:00.000000")
    paths = ["/api/v1/overview", "/api/v1/scans", "/services", "/",
             f"/api/v1/aggregate?group_by=country&scan={WEEK2}",
             "/api/v1/services?limit=50", "/hosts/192.0.2.3", "/scans"]  # fmt: skip
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def reader(k: int) -> None:
        with busy_service.client() as http:
            n = k
            while not stop.is_set():
                path = paths[n % len(paths)]
                n += 1
                try:
                    r = http.get(path)
                except httpx.HTTPError as exc:  # a failed request is what this test counts
                    failures.append(f"{path}: {exc!r}")
                    continue
                answered[0] += 1
                if r.status_code != 200:
                    failures.append(f"{path}: {r.status_code} {r.text[:200]}")
                stop.wait(0.02)  # continuously, as people do, not a load test

    readers = [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(2)]
    for t in readers:
        t.start()
    try:
        with busy_service.client() as http:
            before = {s["id"] for s in http.get("/api/v1/scans").json()}
            job = http.post(
                "/api/v1/imports", params={"format": "shodan", "name": "many"},
                content=upload.read_bytes(),
            ).json()  # fmt: skip
            state = job
            deadline = time.monotonic() + 600
            while state["state"] in ("queued", "running"):
                assert time.monotonic() < deadline, state
                time.sleep(0.5)
                state = next(j for j in http.get("/api/v1/jobs").json() if j["id"] == job["id"])
            answered_during = answered[0]
            assert state["state"] == "done", state
            scans = http.get("/api/v1/scans").json()
            new = [s for s in scans if s["name"] == "many"]
            overview = http.get("/api/v1/overview").json()  # the newest finished scan
    finally:
        stop.set()
        for t in readers:
            t.join(60)
    assert failures == []
    assert answered_during > 20
    assert len(new) == 1 and new[0]["status"] == "finished" and new[0]["id"] not in before
    assert overview["scan"]["name"] == "many"
    assert overview["services"] == RECORDS
