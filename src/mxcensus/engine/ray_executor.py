"""The Ray executor: one scan's shards as tasks on a Ray cluster (``scan --executor ray``).

Every line of mxcensus that knows Ray is in this module, and ``ray`` is imported only when a
:class:`RayExecutor` is made (``pip install 'mxcensus[ray]'``; without it the CLI exits 2
with that line).

How a scan runs on Ray:

- The driver (this process) fixes the plan and alone writes the store, as with local
  workers. Each stream of the plan (:meth:`ScanPlan.streams`: one per shard) runs the
  engine's own :class:`~mxcensus.engine.worker.StreamRunner` on uvloop inside one Ray
  streaming-generator task of one CPU, which yields the engine's batches (rows and the
  stream's checkpoint); the driver writes each batch with its checkpoint in one
  transaction (:class:`~mxcensus.engine.run.StoreSink`).
- Ray never retries a shard (``max_retries=0``): Ray re-runs a generator from its original
  arguments and drops the first k yields by index, which with time-based batching
  duplicates or silently loses targets. The driver resubmits a failed attempt (its task
  raised, its worker or node died) itself, from the checkpoint it has committed, under
  the next attempt number, and reads only the current attempt's generator: a target has
  one stored result whatever fails. A shard is tried :data:`ATTEMPTS` times in a run.
- Politeness: the plan's rate, concurrency and per-/24 cap are the cluster's totals, lent
  to the running shards as leases by one :class:`~mxcensus.engine.lease.LeaseBook` actor
  on the driver's node, renewed every second; a shard whose lease lapses (or is fenced,
  when the driver gave up on its attempt) opens no new connection.
- Ray itself: ``--ray-address``/``RAY_ADDRESS`` joins a running cluster (checked to be
  reachable first: Ray would retry for minutes); without one, a private Ray for this run
  only (``address="local"``), on 127.0.0.1 alone, with no dashboard, a bounded object
  store, its own short temporary directory and token, and no usage statistics.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mxcensus.engine.executor import Executor
from mxcensus.engine.lease import RENEW_EVERY, TTL, LeaseBook
from mxcensus.engine.plan import Pace, ScanPlan, Stream
from mxcensus.engine.run import EngineError, ShardState, StoreSink, Tally, stream_total
from mxcensus.engine.worker import OUT_QUEUE, Batch, StreamState
from mxcensus.errors import UsageError

if TYPE_CHECKING:
    from mxcensus.engine.request import ScanRequest
    from mxcensus.engine.run import ProgressCallback, ScanResult
    from mxcensus.model import ScanId
    from mxcensus.store.db import Store

INSTALL = "pip install 'mxcensus[ray]'"
OBJECT_STORE = 256 * 2**20
"""Bytes of Ray's object store when mxcensus starts Ray (its default is 30% of memory in
/dev/shm); a shard holds at most :data:`BACKPRESSURE` batches there."""
BACKPRESSURE = 8
ATTEMPTS = 4
"""Attempts of one shard in one run before the scan fails (resumable)."""
CONNECT_TIMEOUT = 5.0
HEAD = "node:__internal_head__"
"""The resource Ray puts on its head node only."""
_LOCAL_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Without it Ray replaces 127.0.0.1 by the address of the default route and binds every
    # server on 0.0.0.0; with it every Ray process of a local start binds loopback only.
    # Read when ray is imported.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}


def check_request(request: ScanRequest) -> None:
    """What the Ray executor refuses, judged before Ray starts."""
    if request.shard is not None:
        raise UsageError(
            "--shard: the Ray executor runs every shard of the scan (--shard I is one process "
            "of a Kubernetes Job: scan --shards N --shard I --parts URI)"
        )
    if request.workers is not None:
        raise UsageError("--workers: on Ray each shard is one task of one CPU; set --shards")


@dataclass(frozen=True, slots=True)
class Hello:
    """A shard task's first yield: where it runs."""

    node: str
    host: str
    pid: int


class RayExecutor(Executor):
    """The streams of a scan as Ray tasks; see the module's text."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        object_store_memory: int = OBJECT_STORE,
        interval: float = 0.2,
    ) -> None:
        """Join the cluster at ``address`` (else ``RAY_ADDRESS``), or start a private local
        Ray with ``num_cpus`` (default: this machine's) for this executor's lifetime."""
        wanted = address or os.environ.get("RAY_ADDRESS") or None
        if wanted == "local":
            wanted = None
        self.interval = interval
        self._env: dict[str, str | None] = {}
        self._tmp: str | None = None
        self._started = False
        self._book: Any = None
        self._ray = self._import(local=wanted is None)
        if wanted is None:
            self.address = self._start_local(num_cpus, object_store_memory)
        else:
            self.address = self._connect(wanted)

    # -- Ray itself ------------------------------------------------------------------------

    def _setenv(self, key: str, value: str) -> None:
        self._env.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def _import(self, *, local: bool) -> ModuleType:
        """``import ray``, the environment of a local start set first (Ray reads it then)."""
        if local:
            for key, value in _LOCAL_ENV.items():
                self._setenv(key, value)
            self._private_dirs()
        else:
            self._setenv("RAY_USAGE_STATS_ENABLED", os.environ.get("RAY_USAGE_STATS_ENABLED", "0"))
        imported = "ray" in sys.modules
        try:
            import ray
        except ImportError as exc:
            self._restore_env()
            raise UsageError(f"--executor ray: Ray is not installed ({INSTALL})") from exc
        if imported and "RAY_AUTH_MODE" in self._env:
            # Ray read its settings when first imported: have it read the token mode again
            # (as Ray itself does when it turns token auth on)
            with contextlib.suppress(Exception):
                importlib.import_module("ray._raylet").Config.initialize("")
        return ray

    def _private_dirs(self) -> None:
        """Ray's temporary directory and token of this run's own, unless the user set them."""
        if "RAY_TMPDIR" not in os.environ:
            # short: Ray's Unix socket paths live under it (107 bytes at most)
            base = "/tmp" if os.path.isdir("/tmp") else None
            self._tmp = tempfile.mkdtemp(prefix="mxray-", dir=base)
            os.mkdir(os.path.join(self._tmp, "ray"))
            self._setenv("RAY_TMPDIR", self._tmp)
        if "RAY_AUTH_MODE" not in os.environ:
            # Ray would write ~/.ray/auth_token; a token of this run's own instead
            home = self._tmp or tempfile.mkdtemp(prefix="mxray-")
            self._tmp = home
            token = os.path.join(home, "auth_token")
            fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
            self._setenv("RAY_AUTH_MODE", "token")
            self._setenv("RAY_AUTH_TOKEN_PATH", token)

    def _start_local(self, num_cpus: int | None, object_store_memory: int) -> str:
        ray = self._ray
        try:
            ctx = ray.init(
                address="local",
                num_cpus=num_cpus,
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                object_store_memory=object_store_memory,
                log_to_driver=False,
                configure_logging=False,
            )
        except Exception as exc:
            self.close()
            raise EngineError(f"--executor ray: cannot start a local Ray ({_line(exc)})") from exc
        self._started = True
        gcs = str(ctx.address_info.get("gcs_address", ""))
        if not gcs.startswith("127.0.0.1:"):
            self.close()
            raise EngineError(
                f"--executor ray: the local Ray listens on {gcs or 'an unknown address'}, not "
                "127.0.0.1 only; refusing to scan (Ray was imported before mxcensus could set "
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)"
            )
        return gcs

    def _connect(self, address: str) -> str:
        ray = self._ray
        _reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:
            self.close()
            raise EngineError(f"--ray-address {address}: cannot join ({_line(exc)})") from exc
        return address

    def close(self) -> None:
        """Leave the cluster; a Ray started for this executor stops (idempotent)."""
        ray = getattr(self, "_ray", None)
        if ray is not None and ray.is_initialized():
            with contextlib.suppress(Exception):
                ray.shutdown()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._restore_env()

    def _restore_env(self) -> None:
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._env.clear()

    def lease_book(self) -> Any:
        """The :class:`LeaseBook` actor of this executor's scans, on the head node (whose
        loss ends the cluster anyway; a worker node may die mid-scan), or else on the
        driver's."""
        if self._book is None:
            ray = self._ray
            options: dict[str, Any] = {"num_cpus": 0, "max_restarts": 0}
            if HEAD in ray.cluster_resources():
                options["resources"] = {HEAD: 0.001}  # as Ray's own state actors do
            else:
                with contextlib.suppress(Exception):
                    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                    here = ray.get_runtime_context().get_node_id()
                    options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(here, soft=True)
            self._book = ray.remote(LeaseBook).options(**options).remote(0.0, 0, 0, 1)
        return self._book

    def cpus(self) -> int:
        """CPUs of the cluster now (the default shard count); a cluster without any could
        never run a shard."""
        cpus = int(self._ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise EngineError(f"the Ray cluster at {self.address} has no CPU to run a shard on")
        return cpus

    # -- the Executor protocol -------------------------------------------------------------

    def shape(
        self, request: ScanRequest, workers: int | None = None
    ) -> tuple[int, int | None, int]:
        """Shards, shard and workers of a new plan: every shard (None), one stream each;
        as many shards as the cluster has CPUs unless ``--shards`` says."""
        check_request(request)
        return request.shards or self.cpus(), None, 1

    def concurrency_cap(self, wanted: int) -> int:
        return wanted  # each shard raises its own node's open-file limit to its share

    def run(
        self, store: Store, scan: ScanId, plan: ScanPlan, progress: ProgressCallback | None
    ) -> ScanResult:
        self.cpus()
        try:
            with StoreSink(store, scan) as sink:
                return _Driver(self, store, scan, plan, sink, progress).run()
        except self._ray.exceptions.RayError as exc:  # the lease book's node, the head …
            self._book = None
            raise EngineError(
                f"the Ray cluster failed under the scan ({_line(exc)}); the results kept so far "
                "stay: resume the scan"
            ) from exc


def _reachable(address: str) -> None:
    """Fail fast when nothing listens at ``address`` (Ray itself retries for minutes)."""
    target = address.split("://", 1)[-1]
    if target in ("auto", "") or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else _line(exc)
        raise EngineError(f"--ray-address {address}: no Ray cluster there ({why})") from exc


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# -- the driver ------------------------------------------------------------------------------


@dataclass
class _Shard:
    """One stream as the driver follows it."""

    stream: Stream
    total: int
    state: StreamState  # the checkpoint committed to the store
    attempt: int  # the number of its current (or next) attempt
    tries: int = 0  # attempts in this run
    gen: Any = None  # the current attempt's ObjectRefGenerator
    status: str = "waiting"
    node: str = ""
    probed: int = 0  # results of the current attempt the store kept
    t0: float | None = None
    done: int = field(init=False)

    def __post_init__(self) -> None:
        self.done = self.state.next - len(self.state.pending)

    def view(self) -> ShardState:
        seconds = time.monotonic() - self.t0 if self.t0 is not None else 0.0
        return ShardState(
            self.stream.key, self.total, self.done, self.tries, self.status, self.node, seconds
        )


class _Driver:
    def __init__(
        self,
        executor: RayExecutor,
        store: Store,
        scan: ScanId,
        plan: ScanPlan,
        sink: StoreSink,
        progress: ProgressCallback | None,
    ) -> None:
        from mxcensus.store import cluster

        self.ray = executor._ray
        self.executor = executor
        self.ledger = cluster
        self.store = store
        self.scan = scan
        self.plan = plan
        self.sink = sink
        cluster.close_attempts(store, scan)
        numbers = cluster.next_attempts(store, scan)
        saved = sink.saved()
        self.shards = []
        for stream in plan.streams():
            nxt, pending = saved.get(stream.key, (0, ()))
            self.shards.append(
                _Shard(stream, stream_total(stream), StreamState(nxt, pending),
                       numbers.get(stream.key, 1))
            )  # fmt: skip
        self.tally = Tally(
            sum(s.total for s in self.shards), sink.kept(), progress, executor.interval
        )
        self.interval = executor.interval
        self.book: Any = None
        self.task = self.ray.remote(
            num_returns="streaming",
            _generator_backpressure_num_objects=BACKPRESSURE,
            max_retries=0,
            num_cpus=1,
        )(_shard_task)

    def run(self) -> ScanResult:
        ray = self.ray
        self.book = self._coordinator()
        try:
            for sh in self.shards:
                if sh.done == sh.total:
                    sh.status = "done"
                else:
                    self._submit(sh)
            while live := {sh.gen: sh for sh in self.shards if sh.gen is not None}:
                ready, _ = ray.wait(list(live), num_returns=1, timeout=self.interval)
                for gen in ready:
                    self._take(live[gen])
                self.tally.report(shards=self._views())
            self.tally.report(finished=True, shards=self._views())
        finally:
            self._stop_all()
        return self.tally.result(self.scan, self._views())

    def _lease_key(self, sh: _Shard) -> str:
        """A stream's key in the lease book: the scan's and the stream's (the book serves
        the executor's every scan, and a zombie of an earlier one must not renew)."""
        return f"{self.scan}/{sh.stream.key}"

    def _views(self) -> tuple[ShardState, ...]:
        return tuple(sh.view() for sh in self.shards)

    def _coordinator(self) -> Any:
        """The executor's lease book, reset to this scan's totals (one actor for all the
        executor's scans: a fresh worker process costs a good part of a second)."""
        p = self.plan
        slots = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        book = self.executor.lease_book()
        self.ray.get(book.reset.remote(p.rate, p.concurrency, p.per_net, slots))
        return book

    def _submit(self, sh: _Shard) -> None:
        ray = self.ray
        sh.tries += 1
        sh.probed = 0
        sh.status = "waiting"
        sh.node = ""
        if sh.t0 is None:
            sh.t0 = time.monotonic()
        self.ledger.attempt_started(self.store, self.scan, sh.stream.key, sh.attempt)
        lease = self._lease_key(sh)
        ray.get(self.book.admit.remote(lease, sh.attempt))  # before it can renew
        sh.gen = self.task.remote(sh.stream, lease, sh.attempt, sh.state, self.book)

    def _take(self, sh: _Shard) -> None:
        """The next item of a shard whose generator has one ready."""
        ray = self.ray
        try:
            ref = next(sh.gen)
            item = ray.get(ref)
        except StopIteration:
            self._failed(sh, "its task ended before its last batch")
            return
        except ray.exceptions.RayError as exc:
            self._failed(sh, _line(exc))
            return
        if isinstance(item, Hello):
            sh.node, sh.status = item.node, "running"
            self.ledger.attempt_node(self.store, self.scan, sh.stream.key, sh.attempt, item.node)
            return
        batch: Batch = item
        if batch.error:
            self._failed(sh, batch.error)
            return
        self.sink.write(batch.rows, [(sh.stream.key, batch.next, batch.pending)])
        sh.state = StreamState(batch.next, batch.pending)
        sh.done += len(batch.rows)
        sh.probed += len(batch.rows)
        self.tally.add(batch.rows)
        if batch.done:
            sh.gen, sh.status = None, "done"
            self.ledger.attempt_ended(
                self.store, self.scan, sh.stream.key, sh.attempt, status="done", probed=sh.probed
            )

    def _failed(self, sh: _Shard, why: str) -> None:
        """Fence the attempt, drop what it had not delivered, and try again from the
        committed checkpoint (the dropped results' targets are still ahead of it)."""
        ray = self.ray
        self.ledger.attempt_ended(
            self.store, self.scan, sh.stream.key, sh.attempt,
            status="failed", probed=sh.probed, error=why[:500],
        )  # fmt: skip
        self.book.fence.remote(self._lease_key(sh), sh.attempt)
        with contextlib.suppress(Exception):
            ray.cancel(sh.gen, force=True)
        sh.gen, sh.status = None, "failed"
        sh.attempt += 1
        with contextlib.suppress(Exception):  # a node gone: fewer shards run at once
            self.book.set_slots.remote(max(1, int(ray.cluster_resources().get("CPU", 1))))
        if sh.tries >= ATTEMPTS:
            raise EngineError(
                f"shard {sh.stream.key} failed {sh.tries} times (last: {why}); the results "
                "kept so far stay: resume the scan"
            )
        self._submit(sh)

    def _stop_all(self) -> None:
        """The run ends (done, failed or interrupted): no task of it goes on."""
        ray = self.ray
        for sh in self.shards:
            if sh.gen is not None:
                with contextlib.suppress(Exception):
                    ray.cancel(sh.gen, force=True)
                with contextlib.suppress(Exception):
                    self.ledger.attempt_ended(
                        self.store, self.scan, sh.stream.key, sh.attempt,
                        status="stopped", probed=sh.probed,
                    )  # fmt: skip
                sh.gen = None
        if self.book is not None:  # no lease of this run is renewed any more
            with contextlib.suppress(Exception):
                ray.get(self.book.reset.remote(0.0, 0, 0, 1), timeout=10)


# -- the shard task (runs on a cluster node) --------------------------------------------------


def _shard_task(
    stream: Stream, lease: str, attempt: int, state: StreamState, book: Any
) -> Iterator[Hello | Batch]:
    """One attempt at one stream: where it runs, then the engine's batches until the
    stream is done, the runner fails (a batch with ``error``) or the attempt is fenced."""
    import ray

    yield Hello(ray.get_runtime_context().get_node_id(), socket.gethostname(), os.getpid())
    run = _ShardRun(stream, lease, attempt, state, book)
    try:
        yield from run.batches()
    finally:
        run.stop()


class _ShardRun:
    """A StreamRunner on its own uvloop thread, fed by a lease renewed by another."""

    def __init__(
        self, stream: Stream, lease: str, attempt: int, state: StreamState, book: Any
    ) -> None:
        import uvloop

        from mxcensus.engine.worker import StreamRunner, raise_nofile

        self.stream = stream
        self.lease = lease
        self.attempt = attempt
        self.book = book
        self.pace = Pace(rate=0.0, concurrency=0, per_net=0, until=0.0)  # until a lease
        self.out: queue.Queue[Batch] = queue.Queue(OUT_QUEUE)
        self.stopping = threading.Event()
        self.fenced = False
        self.finished = False
        raise_nofile(stream.plan.concurrency + 256)
        runner = StreamRunner(stream.plan, stream.worker, state, self.out, self.pace)
        self.loop = uvloop.new_event_loop()
        self.main = self.loop.create_task(runner.run())
        self.thread = threading.Thread(target=self._loop, name="mxcensus-shard", daemon=True)
        self.leases = threading.Thread(target=self._renew, name="mxcensus-lease", daemon=True)

    def batches(self) -> Iterator[Batch]:
        self.leases.start()
        self.thread.start()
        while True:
            try:
                batch = self.out.get(timeout=0.5)
            except queue.Empty:
                if self.fenced:  # the driver gave up on this attempt: nobody reads on
                    return
                continue
            yield batch
            if batch.done or batch.error:
                self.finished = batch.done
                return

    def _loop(self) -> None:
        loop = self.loop
        try:
            loop.run_until_complete(self.main)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - the driver is told, and retries
            w = self.stream.worker
            self.out.put(Batch(worker=w, next=-1, pending=(), rows=(), error=repr(exc)))
        finally:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.close()

    def _renew(self) -> None:
        import ray

        key, pace = self.lease, self.pace
        while not self.stopping.is_set():
            sent = time.monotonic()
            try:
                lease = ray.get(self.book.renew.remote(key, self.attempt), timeout=TTL)
            except Exception:  # noqa: BLE001 - out of reach: the lease runs out by itself
                lease = False
            if lease is None:
                self.fenced = True
                pace.until = 0.0
                return
            if lease:
                pace.rate = lease.rate
                pace.concurrency = lease.concurrency
                pace.per_net = lease.per_net
                pace.until = sent + lease.seconds
            self.stopping.wait(RENEW_EVERY)

    def stop(self) -> None:
        self.stopping.set()
        self.pace.until = 0.0
        if self.thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.main.cancel)
            self.thread.join(timeout=30)
        if not self.thread.is_alive() and not self.loop.is_closed():  # never started
            self.main.cancel()
            with contextlib.suppress(BaseException):
                self.loop.run_until_complete(self.main)
            self.loop.close()
        if self.leases.is_alive():
            self.leases.join(timeout=TTL + 1)
        if self.finished:
            with contextlib.suppress(Exception):
                self.book.release.remote(self.lease, self.attempt)
