"""The web tests' census and service: a store made once per session by importing two
generated Shodan files (``census_data``), copied for each module that needs it, and the
real service (uvicorn on a free loopback port, in a thread of the test process, which then
holds the store as ``mxcensus serve`` does) started once per module."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from mxcensus.enrich import GeoEnricher
from mxcensus.importers import import_files
from mxcensus.store.db import Store
from mxcensus.web import tokens as tf
from mxcensus.web.server import ServeOptions, announced, build
from tests.web.census_data import write_census

WEEK1, WEEK2 = "week1", "week2"


@pytest.fixture(scope="session")
def census_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("census")
    db = base / "census.duckdb"
    first = write_census(base / "w1.json", range(80), "2026-11-01T10:00:00.000000")
    second = write_census(base / "w2.json", range(10, 90), "2026-11-08T10:00:00.000000",
                          patched=True)  # fmt: skip
    with Store.open(db) as store:
        for name, path in ((WEEK1, first), (WEEK2, second)):
            import_files(store, "shodan", [path], name=name, enricher=GeoEnricher(()))
    return db


def copy_census(template: Path, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    db = where / "census.duckdb"
    shutil.copy(template, db)
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    db: Path
    store: Store
    app: object
    tokens: Path

    def client(self, token: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]

    def add_token(self, name: str, *scope: str) -> str:
        _, secret = tf.add(self.tokens, name, list(scope))
        return secret


@pytest.fixture(scope="module")
def service_db(census_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_census(census_template, tmp_path_factory.mktemp("served"))


def start_service(db: Path, *, watches: bool = False) -> Iterator[Running]:
    port = free_port()
    options = ServeOptions(db=db, port=port, watches=watches)
    store = Store.open(db)
    app = build(options, store)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        assert thread.is_alive(), "the service thread ended"
        time.sleep(0.05)
    try:
        with announced(db, f"http://127.0.0.1:{port}/"):
            yield Running(f"http://127.0.0.1:{port}", db, store, app, tf.default_path(db))
    finally:
        server.should_exit = True
        thread.join(30)
        store.close()


@pytest.fixture(scope="module")
def service(service_db: Path) -> Iterator[Running]:
    yield from start_service(service_db)
