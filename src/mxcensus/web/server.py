"""``mxcensus serve``: hold the store, answer on HTTP with uvicorn, run jobs and watches.

The service is the store's only process while it runs (DuckDB admits one writer): it opens
the store read-write once, reads on a cursor per request and writes background jobs on
cursors of their own (:mod:`~mxcensus.web.jobs`). Beside the store it leaves
``<store>.serve.json`` (its pid and address) for as long as it runs, so that a command that
finds the store locked names the service and how to hand it the work
(:func:`mxcensus.store.busy.held_by`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from mxcensus.errors import MxcensusError, UsageError
from mxcensus.store.busy import service_file
from mxcensus.store.db import Store
from mxcensus.web import tokens as tokenfile

if TYPE_CHECKING:
    from mxcensus.watch.schedule import Listener, Outcome
    from mxcensus.web.app import Service

log = logging.getLogger("mxcensus.web")
MEMORY_LIMIT = "1GB"
"""DuckDB's memory for the service's database instance (readers and jobs together; an
import sets its own limit while it runs and restores this one)."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    db: Path
    host: str = "127.0.0.1"
    port: int = 8080
    tokens: Path | None = None
    geo_db: tuple[Path, ...] = ()
    watches: bool = True
    log_level: str = "info"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(options: ServeOptions, token_path: Path) -> None:
    """Without tokens the service answers on loopback only."""
    if is_loopback(options.host):
        return
    if not tokenfile.read(token_path):
        raise UsageError(
            f"--host {options.host}: binding beyond loopback needs tokens; add one with "
            f"`mxcensus token add NAME --db {options.db}` (token file {token_path})"
        )


def url_of(options: ServeOptions) -> str:
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"http://{host}:{options.port}/"


@contextlib.contextmanager
def announced(db: Path, url: str) -> Iterator[None]:
    """``<store>.serve.json`` while the block runs."""
    path = service_file(db)
    path.write_bytes(orjson.dumps({"pid": os.getpid(), "url": url}))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def build(options: ServeOptions, store: Store) -> object:
    """The ASGI app over an open store (tests call this with their own store)."""
    from mxcensus.web.app import Service, Settings, create_app
    from mxcensus.web.census import Census

    token_path = options.tokens or tokenfile.default_path(options.db)
    scheduler = None
    if options.watches:
        from mxcensus.watch.schedule import Scheduler, default_options

        scheduler = Scheduler(default_options(options.db))
    store.set_memory_limit(MEMORY_LIMIT)
    for stale in options.db.parent.glob(
        f".{options.db.name}.upload-*"
    ):  # uploads a stopped service
        with contextlib.suppress(OSError):  # left unimported (one service per store)
            stale.unlink()
    settings = Settings(db=options.db, tokens=token_path, geo_db=options.geo_db)
    svc = Service(Census(store), settings, scheduler=scheduler)
    if scheduler is not None:
        scheduler.on_run = _recorder(svc)
    return create_app(svc)


def _recorder(svc: Service) -> Listener:
    """The scheduler's listener: each watch run in the jobs list."""

    def on_run(name: str, outcome: Outcome) -> None:
        svc.changed()
        failed = isinstance(outcome, MxcensusError)
        job = svc.jobs.record("watch", f"watch {name}", by="scheduler",
                              state="failed" if failed else "done")  # fmt: skip
        job.result = str(outcome) if failed else _summary(outcome)

    return on_run


def _summary(report: object) -> str:
    runs = getattr(report, "runs", [])
    events = sum(n for _, _, n in runs)
    return f"{len(runs)} run(s), {events} event(s)"


def serve(options: ServeOptions) -> None:
    import uvicorn

    token_path = options.tokens or tokenfile.default_path(options.db)
    check_binding(options, token_path)
    with Store.open(options.db) as store:
        app = build(options, store)
        url = url_of(options)
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host=options.host,
            port=options.port,
            log_level=options.log_level,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        with announced(options.db, url):
            uvicorn.Server(config).run()
