"""What a user asks of a scan, before anything runs: options, their defaults and ranges.

A :class:`ScanRequest` holds the options as given (None: not given); :func:`mxcensus.
engine.session.scan` turns it into a stored, finished scan. This module imports nothing
heavy: the CLI builds and checks a request before the worker processes start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mxcensus.bounds import Range
from mxcensus.errors import UsageError

if TYPE_CHECKING:
    from mxcensus.probes.interface import ProbeConfig

DEFAULT_RATE = 1000
"""New connections per second, all workers (and all shards' nodes) together."""
DEFAULT_CONCURRENCY = 1000
"""Open connections at most, all workers together (fewer when the open-file limit is lower)."""
DEFAULT_PER_NET = 64
"""Open connections per /24 (IPv6: /56) at most, all workers together."""

CORES = os.cpu_count() or 1
WORKERS_PER_CORE = 4

RATE = Range(1, 10_000_000)
"""Far above what one machine opens; the top end is a whole cluster's rate."""
CONCURRENCY = Range(1, 1_000_000)
"""Each open connection is a file descriptor; the executor also checks its own limit."""
PER_NET = Range(1, 1_000_000)
WORKERS = Range(1, WORKERS_PER_CORE * CORES)
"""A worker is a fresh interpreter of 30-40 MB that keeps one core busy: more than a few
per core add memory and no speed (``--workers 100000`` once exhausted a machine's memory)."""
SHARDS = Range(1, 100_000)
"""As many as a Kubernetes Indexed Job has completions at most."""
SHARD = Range(0, SHARDS.hi - 1)
SEED = Range(0, 2**63 - 1)
"""The seed is stored as a signed 64-bit integer; one is drawn at random when not given."""

RESUMABLE = ("rate", "concurrency", "per_net")
"""What may change when a scan resumes: the pace, not which targets nor their order."""

_FLAGS = {
    "ports": "-p/--ports",
    "probes": "--probes",
    "http": "--http",
    "exclude": "--exclude",
    "exclude_file": "--exclude-file",
    "allow_reserved": "--allow-reserved",
    "workers": "--workers",
    "shards": "--shards",
    "shard": "--shard",
    "seed": "--seed",
    "name": "--name",
    "hostnames": "the targets' hostnames",
}
"""The options fixed once a scan has started, by field, as the CLI spells them."""

_RANGES = {
    "rate": (RATE, "--rate"),
    "concurrency": (CONCURRENCY, "--concurrency"),
    "per_net": (PER_NET, "--per-net"),
    "workers": (WORKERS, "--workers"),
    "shards": (SHARDS, "--shards"),
    "shard": (SHARD, "--shard"),
    "seed": (SEED, "--seed"),
}


@dataclass(frozen=True)
class ScanRequest:
    """A new scan (``targets`` and the options below) or the resumption of ``resume``."""

    targets: tuple[str, ...] = ()
    ports: str | None = None
    probes: str | None = None
    http: bool = False
    input_list: Path | None = None
    exclude: tuple[str, ...] = ()
    exclude_file: Path | None = None
    allow_reserved: bool = False
    rate: int | None = None
    concurrency: int | None = None
    per_net: int | None = None
    workers: int | None = None
    shards: int | None = None
    shard: int | None = None
    seed: int | None = None
    name: str | None = None
    resume: str | None = None  # a scan's id or name
    hostnames: tuple[tuple[str, str], ...] = ()  # (address, name): SNI and Host for it
    probe_config: ProbeConfig | None = None  # timeouts, EHLO name … (the library's callers)

    def check(self) -> None:
        """Everything that can be judged without the store: ranges, and on resume that
        only :data:`RESUMABLE` options are given."""
        for key, (bounds, flag) in _RANGES.items():
            value = getattr(self, key)
            if value is not None:
                bounds.check(value, flag)
        if self.resume is None:
            return
        if self.targets or self.input_list is not None:
            raise UsageError("--resume SCAN takes no targets: the scan's own are used")
        fixed = [flag for key, flag in _FLAGS.items() if _given(getattr(self, key))]
        if fixed or self.probe_config is not None:
            raise UsageError(
                f"--resume SCAN: {', '.join(fixed) or 'the probe settings'} cannot change on "
                "resume, the scan's targets and their order are fixed (only --rate, "
                "--concurrency and --per-net may)"
            )


def _given(value: object) -> bool:
    return value not in (None, False, ())
