"""The cluster's limits lent as leases: never more than the totals, whatever happens."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.engine.lease import LeaseBook


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_shards_starting_together_get_their_shares_at_once() -> None:
    clock = Clock()
    book = LeaseBook(1000, 100, 64, slots=2, clock=clock)
    book.admit("a", 1)
    book.admit("b", 1)
    la, lb = book.renew("a", 1), book.renew("b", 1)
    assert la is not None and lb is not None
    assert (la.rate, la.concurrency, la.per_net) == (500, 50, 32)
    assert (lb.rate, lb.concurrency, lb.per_net) == (500, 50, 32)


def test_a_finished_shard_leaves_its_budget_to_the_others() -> None:
    clock = Clock()
    book = LeaseBook(1000, 100, 64, slots=2, clock=clock)
    for k in "ab":
        book.admit(k, 1)
        book.renew(k, 1)
    book.release("a", 1)
    lb = book.renew("b", 1)
    assert lb is not None and (lb.rate, lb.concurrency, lb.per_net) == (1000, 100, 64)


def test_more_shards_than_slots_run_at_the_slots_share() -> None:
    """Eight shards on two CPUs: the two running take half each, not an eighth."""
    clock = Clock()
    book = LeaseBook(800, 80, 64, slots=2, clock=clock)
    for k in "abcdefgh":
        book.admit(k, 1)
    la = book.renew("a", 1)
    assert la is not None and la.rate == 400


def test_a_fenced_attempt_is_refused_and_its_budget_held_until_it_expires() -> None:
    """The driver gave up on b's attempt 1 (its node went): a zombie of it renews no more,
    and its retry gets b's share only once attempt 1's lease has run out."""
    clock = Clock()
    book = LeaseBook(1000, 100, 64, slots=2, ttl=2.0, clock=clock)
    for k in "ab":
        book.admit(k, 1)
        book.renew(k, 1)
    book.fence("b", 1)
    book.admit("b", 2)
    assert book.renew("b", 1) is None  # the zombie stops within its lease
    retry = book.renew("b", 2)
    assert retry is not None and retry.rate == 0 and retry.concurrency == 0  # waits
    clock.now += 2.0  # attempt 1's lease expired; a renewed in between
    book.renew("a", 1)
    retry = book.renew("b", 2)
    assert retry is not None and retry.rate == 500 and retry.concurrency == 50
    assert book.renew("b", 1) is None


def test_per_net_with_more_shards_than_the_cap_keeps_one_each() -> None:
    clock = Clock()
    book = LeaseBook(1000, 1000, 4, slots=8, clock=clock)
    leases = []
    for k in "abcdefgh":
        book.admit(k, 1)
    for k in "abcdefgh":
        lease = book.renew(k, 1)
        assert lease is not None
        leases.append(lease.per_net)
    assert leases == [1] * 8  # at most 8 per /24: the documented bound when shards > cap


OPS = st.lists(
    st.tuples(
        st.sampled_from(["admit", "renew", "renew", "renew", "release", "fence", "tick"]),
        st.integers(0, 4),  # shard
        st.integers(1, 3),  # attempt
        st.floats(0.0, 1.5),  # seconds
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(1, 6), st.integers(5, 64))
def test_the_leases_never_add_up_to_more_than_the_totals(ops, slots, per_net) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    rate, conc = 1000.0, 50
    book = LeaseBook(rate, conc, per_net, slots=slots, ttl=2.0, clock=clock)
    for op, shard, attempt, seconds in ops:
        key = f"s{shard}"
        if op == "admit":
            book.admit(key, attempt)
        elif op == "renew":
            book.renew(key, attempt)
        elif op == "release":
            book.release(key, attempt)
        elif op == "fence":
            book.fence(key, attempt)
        else:
            clock.now += seconds
        held_rate, held_conc, held_per_net = book.totals()
        assert held_rate <= rate * (1 + 1e-9)
        assert held_conc <= conc
        assert held_per_net <= max(per_net, len(book.held))
