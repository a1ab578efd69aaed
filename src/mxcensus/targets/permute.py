"""A keyed pseudo-random permutation of ``[0, n)`` that is never materialised.

A balanced Feistel network over the smallest even bit width that holds ``n`` (so the domain
is less than 4n), with cycle-walking: encrypt again until the value falls inside ``[0, n)``.
A Feistel network is a bijection on its domain whatever its round function, and
cycle-walking restricts a bijection to a subset, so every index appears exactly once
(Black & Rogaway, "Ciphers with arbitrary finite domains", 2002). Round keys come from the
seed through BLAKE2b; the round function is a 64-bit multiply-xorshift mixer.

Sharding takes every ``shards``-th position of the permuted order, and each worker of a
shard every ``workers``-th position of that, so N shards × W workers cover each index once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

ROUNDS = 4  # Luby-Rackoff: four rounds make a strong pseudo-random permutation
_M64 = (1 << 64) - 1
MAX_DOMAIN = 1 << 64


class Permutation:
    def __init__(self, n: int, seed: int) -> None:
        if n <= 0:
            raise ValueError("empty domain")
        if n > MAX_DOMAIN:
            raise ValueError("domain larger than 2**64")
        self.n = n
        bits = max(2, (n - 1).bit_length())
        bits += bits & 1
        self.half = bits // 2
        self.mask = (1 << self.half) - 1
        digest = hashlib.blake2b(
            seed.to_bytes(16, "little", signed=True), digest_size=8 * ROUNDS, person=b"mxcensus"
        ).digest()
        self.keys = tuple(
            int.from_bytes(digest[8 * r : 8 * r + 8], "little") for r in range(ROUNDS)
        )

    def _encrypt(self, x: int) -> int:
        half, mask = self.half, self.mask
        left, right = x >> half, x & mask
        for key in self.keys:  # round function inlined: this runs per target
            z = ((right ^ key) * 0xBF58476D1CE4E5B9) & _M64
            z ^= z >> 31
            z = (z * 0x94D049BB133111EB) & _M64
            left, right = right, left ^ ((z ^ (z >> 29)) & mask)
        return (left << half) | right

    def __call__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        x = self._encrypt(i)
        while x >= self.n:
            x = self._encrypt(x)
        return x


def stream_length(n: int, step: int, offset: int) -> int:
    """How many positions ``offset, offset+step, …`` lie below ``n``."""
    return 0 if offset >= n else (n - offset + step - 1) // step


def walk(
    perm: Permutation, *, shards: int, shard: int, workers: int, worker: int, start: int = 0
) -> Iterator[tuple[int, int]]:
    """(stream position j, target index) for one worker of one shard, from ``start`` on."""
    step = shards * workers
    offset = shard + shards * worker
    p = offset + step * start
    j = start
    while p < perm.n:
        yield j, perm(p)
        j += 1
        p += step
