"""Two Ray nodes on one machine (Ray's own multi-node test utility, every node on
127.0.0.1): a scan of a lab population through both, the node of one shard killed mid-scan
(every process of it SIGKILLed) and its shard retried from the driver's checkpoint: nothing
lost, nothing duplicated, and the rate still the cluster's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mxcensus.engine.request import ScanRequest
from mxcensus.engine.run import Progress
from mxcensus.engine.session import scan
from mxcensus.lab.api import Lab
from mxcensus.store.db import Store
from tests.cluster.conftest import (
    FAST_HEALTH,
    OBJECT_STORE,
    RateProbe,
    assert_gone,
    descendants,
    loopback_only,
)

pytestmark = pytest.mark.slow

RATE = 80
NODE = {"node_ip_address": "127.0.0.1", "include_dashboard": False,
        "object_store_memory": OBJECT_STORE}  # fmt: skip


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[Any, Any, Any]]:
    from ray.cluster_utils import Cluster

    from mxcensus.engine.ray_executor import RayExecutor

    before = descendants()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={**NODE, "num_cpus": 1, "_system_config": FAST_HEALTH},
    )
    executor = None
    try:
        w1 = cluster.add_node(**NODE, num_cpus=1)
        cluster.wait_for_nodes()
        executor = RayExecutor(cluster.address)
        assert loopback_only(descendants() - before) == []
        yield cluster, w1, executor
    finally:
        ours = descendants() - before
        if executor is not None:
            executor.close()
        cluster.shutdown()
        assert_gone(ours)


def test_a_shards_node_killed_mid_scan_is_retried_with_nothing_lost_or_duplicated(
    two_nodes: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    cluster, w1, executor = two_nodes
    killed: list[Progress] = []
    with Lab(size=400, seed=9, hostile_fraction=0.0, ports=(25,)) as lab:
        a = lab.addresses
        rate = RateProbe(lab)

        def observe(event: Any) -> None:
            rate(event)
            if killed or not isinstance(event, Progress):
                return
            on_w1 = [s for s in event.shards if s.node == w1.node_id]
            if on_w1 and on_w1[0].done >= on_w1[0].total // 4:
                killed.append(event)
                cluster.remove_node(w1, allow_graceful=False)  # all of its processes

        request = ScanRequest(
            targets=(f"{a[0]}-{a[-1]}",), ports="25", allow_reserved=True, seed=3,
            rate=RATE, shards=2, exclude=(a[7],),
        )  # fmt: skip
        done = scan(request, db=tmp_path / "two.duckdb", executor=executor, on_event=observe)
        connections = lab.counters()["connections"]

    assert killed, "the scan ended before the shard on w1 could be killed"
    with Store.open(tmp_path / "two.duckdb", read_only=True) as store:
        rows = store.con.execute("SELECT ip, port, protocol FROM transcripts").fetchall()
        attempts = store.con.execute(
            "SELECT stream, attempt, node, status FROM shard_attempts ORDER BY stream, attempt"
        ).fetchall()
    size = done.plan.targets.addresses.size
    assert len(rows) == len(set(rows)) == size == done.result.done  # nothing lost nor twice
    assert connections.get(a[7], 0) == 0
    failed = [r for r in attempts if r[3] == "failed"]
    assert len(failed) == 1 and failed[0][2] == w1.node_id
    retried = [s for s in done.result.shards if s.attempts == 2]
    assert len(retried) == 1 and retried[0].key == failed[0][0]
    assert retried[0].node != w1.node_id and retried[0].status == "done"
    assert [r[3] for r in attempts].count("done") == 2
    assert rate.worst() <= RATE * 1.15 + 3, rate.samples
