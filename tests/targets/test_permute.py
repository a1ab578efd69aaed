from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.targets import IntervalSet, Permutation, Targets, TargetSpace, walk


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3000),
    seed=st.integers(-(2**63), 2**63 - 1),
    shards=st.integers(1, 5),
    workers=st.integers(1, 4),
)
def test_shards_and_workers_cover_every_index_exactly_once(
    n: int, seed: int, shards: int, workers: int
) -> None:
    perm = Permutation(n, seed)
    seen: list[int] = []
    for shard in range(shards):
        for worker in range(workers):
            seen.extend(
                i for _, i in walk(perm, shards=shards, shard=shard, workers=workers, worker=worker)
            )
    assert sorted(seen) == list(range(n))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 2000), seed=st.integers(0, 2**32), start=st.integers(0, 500))
def test_resuming_a_walk_continues_where_it_stopped(n: int, seed: int, start: int) -> None:
    perm = Permutation(n, seed)
    full = list(walk(perm, shards=1, shard=0, workers=2, worker=1))
    assert list(walk(perm, shards=1, shard=0, workers=2, worker=1, start=start)) == full[start:]


def test_seed_changes_order_and_order_is_scrambled() -> None:
    n = 1 << 16
    a = [Permutation(n, 1)(i) for i in range(100)]
    b = [Permutation(n, 2)(i) for i in range(100)]
    assert a != b
    assert a != sorted(a)
    assert Permutation(n, 1)(5) == Permutation(n, 1)(5)


def test_huge_domains_are_not_materialised() -> None:
    perm = Permutation(2**32 * 7, 42)
    xs = {perm(i) for i in range(1000)}
    assert len(xs) == 1000
    assert all(0 <= x < perm.n for x in xs)


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.tuples(st.integers(0, 500), st.integers(0, 40)), max_size=8),
    b=st.lists(st.tuples(st.integers(0, 500), st.integers(0, 40)), max_size=8),
)
def test_interval_algebra_matches_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    sa = IntervalSet.of((s, s + w) for s, w in a)
    sb = IntervalSet.of((s, s + w) for s, w in b)
    set_a = {x for s, w in a for x in range(s, s + w + 1)}
    set_b = {x for s, w in b for x in range(s, s + w + 1)}
    diff = sa.subtract(sb)
    assert [diff.nth(i) for i in range(diff.size)] == sorted(set_a - set_b)
    assert sa.union(sb).size == len(set_a | set_b)
    assert all((x in sa) == (x in set_a) for x in range(0, 560))


@settings(max_examples=40, deadline=None)
@given(
    blocks=st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 20)), min_size=1, max_size=5),
    ports=st.lists(st.integers(1, 65535), min_size=1, max_size=4, unique=True),
    shards=st.integers(1, 4),
    seed=st.integers(0, 2**40),
)
def test_sharded_walk_of_a_target_space_hits_every_endpoint_once(
    blocks: list[tuple[int, int]], ports: list[int], shards: int, seed: int
) -> None:

    base = 0x7F100000  # 127.16.0.0
    addrs = IntervalSet.of((base + s, base + s + w) for s, w in blocks)
    space = TargetSpace(Targets(addresses=addrs), tuple((p, "smtp") for p in ports))
    perm = Permutation(space.size, seed)
    got = [
        (e.ip, e.port)
        for shard in range(shards)
        for _, i in walk(perm, shards=shards, shard=shard, workers=2, worker=0)
        for e in [space[i]]
    ] + [
        (e.ip, e.port)
        for shard in range(shards)
        for _, i in walk(perm, shards=shards, shard=shard, workers=2, worker=1)
        for e in [space[i]]
    ]
    want = {(str(ipaddress.ip_address(addrs.nth(a))), p) for a in range(addrs.size) for p in ports}
    assert len(got) == len(want) and set(got) == want
