"""The lab population later on: epoch *e* is epoch *e-1* after some owners patched, some
hosts vanished and some new ones appeared — deterministic in (seed, size, epoch).

Between epochs *e-1* and *e*, each host present draws from its own
``random.Random(f"mxcensus-lab-epoch:{seed}:{index}:{e}")``: it vanishes with probability
:data:`VANISH`, or is patched with probability :data:`PATCH` (it stays patched; only Exim
and Exchange hosts change when patched: the newest Exim release, the newest build of their
Exchange line); :func:`appeared_per_epoch` new hosts take the next indices (and
addresses) after the previous epoch's. A vanished host never returns. Epoch 0 is the
population as it always was (hosts 0..size-1), so nothing changes for a lab without
``--epoch``. The truth of an epoch (``lab --epoch N --truth F``) lists its hosts and what
changed since the epoch before (:func:`changes`).
"""

from __future__ import annotations

import random
from typing import Any

VANISH = 0.08
PATCH = 0.25
APPEAR = 0.08


def appeared_per_epoch(size: int) -> int:
    return max(1, round(size * APPEAR))


def present(seed: int, size: int, epoch: int) -> list[tuple[int, bool]]:
    """(index, patched) of the hosts present at ``epoch``, by index."""
    alive = dict.fromkeys(range(size), False)
    step = appeared_per_epoch(size)
    for e in range(1, epoch + 1):
        for i in list(alive):
            roll = random.Random(f"mxcensus-lab-epoch:{seed}:{i}:{e}").random()
            if roll < VANISH:
                del alive[i]
            elif roll < VANISH + PATCH:
                alive[i] = True
        alive.update(dict.fromkeys(range(size + (e - 1) * step, size + e * step), False))
    return sorted(alive.items())


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[str]]:
    """What changed between two epochs' truth ``hosts`` maps (address → host truth):
    addresses that appeared, vanished, and whose served software changed (patched)."""
    gone = sorted(set(before) - set(after), key=_key)
    new = sorted(set(after) - set(before), key=_key)
    patched = sorted((a for a in set(before) & set(after) if before[a] != after[a]), key=_key)
    return {"appeared": new, "vanished": gone, "patched": patched}


def _key(address: str) -> tuple[int, ...]:
    return tuple(int(p) for p in address.split("."))
