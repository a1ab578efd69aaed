"""A plan's streams: every target in exactly one, each with its share of the pace, and the
fingerprint every shard of one scan must share."""

from __future__ import annotations

from mxcensus.engine.plan import ScanPlan
from mxcensus.engine.run import shard_total, stream_total
from mxcensus.targets import Permutation, load_targets, walk


def _plan(**over: object) -> ScanPlan:
    args: dict[str, object] = {
        "targets": load_targets(["127.0.0.0/26"], allow_reserved=True),
        "ports": ((25, "smtp"), (587, "smtp")),
        "seed": 5,
        "shards": 3,
        "shard": None,
        "workers": 2,
        "rate": 1000,
        "concurrency": 100,
        "per_net": 64,
    }
    args.update(over)
    return ScanPlan(**args)  # type: ignore[arg-type]


def test_a_clusters_streams_cover_every_target_once_with_the_pace_shared() -> None:
    plan = _plan()
    streams = plan.streams()
    assert len(streams) == 6 and len({s.key for s in streams}) == 6
    seen: list[int] = []
    perm = Permutation(plan.space().size, plan.seed)
    for s in streams:
        p = s.plan
        got = [i for _, i in walk(perm, shards=p.shards, shard=p.index, workers=p.workers,
                                  worker=s.worker)]  # fmt: skip
        assert len(got) == stream_total(s)
        seen.extend(got)
    assert sorted(seen) == list(range(plan.space().size)) == list(range(128))
    assert shard_total(plan) == 128 == sum(stream_total(s) for s in streams)
    assert abs(sum(s.pace.rate for s in streams) - 1000) < 1e-9
    assert sum(s.pace.concurrency for s in streams) == 100
    assert sum(s.pace.per_net for s in streams) == 64


def test_one_shard_of_a_job_takes_its_part_of_the_jobs_pace() -> None:
    pod = _plan(shard=1)
    own = pod.streams()
    job = pod.streams(shards_share=True)
    assert [s.key for s in own] == [s.key for s in job] == [
        "shard1of3-worker0of2", "shard1of3-worker1of2"
    ]  # fmt: skip
    assert sum(s.pace.rate for s in own) == 1000  # a local shard: the process's own rate
    assert abs(sum(s.pace.rate for s in job) - 1000 / 3) < 1e-9  # a pod: 1/3 of the Job's


def test_the_fingerprint_is_what_shards_must_agree_on() -> None:
    base = _plan().fingerprint()
    assert _plan(shard=2, workers=4, rate=5, concurrency=7, per_net=3).fingerprint() == base
    assert _plan(seed=6).fingerprint() != base
    assert _plan(shards=4).fingerprint() != base
    excluded = load_targets(["127.0.0.0/26"], exclude=["127.0.0.9"], allow_reserved=True)
    assert _plan(targets=excluded).fingerprint() != base
    # the same addresses however they were asked for: the same walk
    other = load_targets(["127.0.0.0/25"], exclude=["127.0.0.64/26"], allow_reserved=True)
    assert _plan(targets=other).fingerprint() == base


def test_a_clusters_plan_is_stored_and_read_back() -> None:
    plan = _plan()
    back = ScanPlan.from_params(plan.to_params())
    assert back == plan and back.shard is None
    assert back.targets.excluded == plan.targets.excluded
