"""What a scan is: the plan every worker receives, and the parameters a resume reloads."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from mxcensus.engine.request import (
    CONCURRENCY,
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_NET,
    DEFAULT_RATE,
    PER_NET,
    RATE,
    SHARDS,
)
from mxcensus.errors import UsageError
from mxcensus.probes.interface import Probe, ProbeConfig
from mxcensus.targets import Targets, TargetSpace

DEFAULT_PROBES = "mxcensus.probes:PROBES"


@dataclass(frozen=True)
class ScanPlan:
    targets: Targets
    ports: tuple[tuple[int, str], ...]  # (port, probe name)
    seed: int
    shards: int = 1
    shard: int | None = 0  # None: every shard, each a stream of its own (a cluster's scan)
    workers: int = 1  # streams per shard
    rate: float = DEFAULT_RATE  # new connections per second, all workers together
    concurrency: int = DEFAULT_CONCURRENCY  # open connections at most, all workers together
    per_net: int = DEFAULT_PER_NET  # open connections per /24 (IPv6: /56), all workers
    probe_config: ProbeConfig = field(default_factory=ProbeConfig)
    probe_table: str = DEFAULT_PROBES  # "module:attribute" the workers import

    def __post_init__(self) -> None:
        SHARDS.check(self.shards, "--shards")
        if self.shard is not None and not 0 <= self.shard < self.shards:
            raise UsageError(f"--shard {self.shard}: must be in 0..{self.shards - 1}")
        if self.workers < 1:  # its upper bound is the machine's: a stored plan may exceed it
            raise UsageError(f"--workers {self.workers}: must be at least 1")
        RATE.check(self.rate, "--rate")
        CONCURRENCY.check(self.concurrency, "--concurrency")
        PER_NET.check(self.per_net, "--per-net")

    def space(self) -> TargetSpace:
        return TargetSpace(self.targets, self.ports)

    @property
    def index(self) -> int:
        """This plan's shard; a cluster's plan (``shard`` None) has none of its own."""
        if self.shard is None:
            raise ValueError("the plan of every shard has no single shard index")
        return self.shard

    def stream_key(self, worker: int) -> str:
        """The progress key of one worker's stream: shard and worker, with their counts."""
        return f"shard{self.index}of{self.shards}-worker{worker}of{self.workers}"

    def streams(self, *, shards_share: bool = False) -> tuple[Stream, ...]:
        """Every stream of the walk this scan owns, each with its share of the pace.

        Position p of the seeded order belongs to shard ``p mod shards`` and, within it, to
        worker ``(p div shards) mod workers`` (:func:`mxcensus.targets.walk`): one shard's
        ``workers`` streams, or for a cluster's plan every shard's. ``rate``,
        ``concurrency`` and ``per_net`` are this scan's totals, divided among its streams;
        ``shards_share``: they are every shard's together, though this plan walks one (a
        pod of a Kubernetes Job), so its streams take their 1/(shards x workers).
        """
        shards = range(self.shards) if self.shard is None else (self.shard,)
        whole = self.shard is None or shards_share
        count = (self.shards if whole else 1) * self.workers
        first = self.shard * self.workers if self.shard is not None and whole else 0
        out: list[Stream] = []
        for s in shards:
            one = self if self.shard == s else dataclasses.replace(self, shard=s)
            for w in range(self.workers):
                i = first + len(out)
                pace = Pace(
                    rate=self.rate / count,
                    concurrency=share(self.concurrency, count, i),
                    per_net=share(self.per_net, count, i),
                )
                out.append(Stream(one, w, one.stream_key(w), pace))
        return tuple(out)

    def fingerprint(self) -> str:
        """What every shard of one scan must agree on: the targets (the addresses left after
        the blocklist and exclusions), ports and probes, seed, shard count and probe
        settings. Not the shard, the workers nor the pace, which may differ between the
        processes that walk it. sha256 of their canonical JSON."""
        params = self.to_params()
        for key in ("shard", "workers", "rate", "concurrency", "per_net"):
            del params[key]
        params["targets"] = {k: params["targets"][k] for k in ("addresses", "hostnames")}
        return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def to_params(self) -> dict[str, Any]:
        return {
            "targets": self.targets.to_params(),
            "ports": [list(p) for p in self.ports],
            "seed": self.seed,
            "shards": self.shards,
            "shard": self.shard,
            "workers": self.workers,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "per_net": self.per_net,
            "probe_config": dataclasses.asdict(self.probe_config),
            "probe_table": self.probe_table,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ScanPlan:
        return cls(
            targets=Targets.from_params(params["targets"]),
            ports=tuple((int(p), str(n)) for p, n in params["ports"]),
            seed=int(params["seed"]),
            shards=int(params["shards"]),
            shard=None if params["shard"] is None else int(params["shard"]),
            workers=int(params["workers"]),
            rate=float(params["rate"]),
            concurrency=int(params["concurrency"]),
            per_net=int(params["per_net"]),
            probe_config=ProbeConfig(**params["probe_config"]),
            probe_table=str(params["probe_table"]),
        )


@dataclass(slots=True)
class Pace:
    """One stream's share of a scan's limits. A cluster lease changes it while the stream
    runs (from another thread: each field is replaced whole); past ``until``, a
    ``time.monotonic()`` instant, the stream opens no new connection."""

    rate: float  # new connections per second
    concurrency: int  # open connections at most
    per_net: int  # open connections per /24 (IPv6: /56) at most
    until: float = math.inf


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream of a scan's walk: its shard's plan, the worker index within the shard,
    its progress key and its share of the pace."""

    plan: ScanPlan
    worker: int
    key: str
    pace: Pace


def share(total: int, parts: int, part: int) -> int:
    """Part ``part`` of ``total`` split into ``parts`` nearly equal shares (at least 1)."""
    return max(1, total // parts + (1 if part < total % parts else 0))


def _registry_module(table: str) -> tuple[Any, str]:
    module_name, _, attr = table.partition(":")
    try:
        return importlib.import_module(module_name), attr or "PROBES"
    except ImportError as exc:
        raise UsageError(f"probe registry {table}: cannot be loaded ({exc})") from exc


def load_probes(table: str = DEFAULT_PROBES) -> dict[str, Probe]:
    """The probe registry named ``module:attribute``, keyed by probe name.

    The registry may be keyed by name or by port; either way each probe says its name.
    """
    module, attr = _registry_module(table)
    registry = getattr(module, attr, None)
    if registry is None:
        raise UsageError(f"probe registry {table}: {module.__name__} has no {attr}")
    out: dict[str, Probe] = {}
    for probe in registry.values():
        out.setdefault(probe.name, probe)
    return out


def load_port_table(table: str = DEFAULT_PROBES) -> dict[int, str]:
    """Well-known port -> probe name: the registry module's ``PORTS`` when it has one
    (``{25: ("smtp", False), …}``), else each probe's own default ports."""
    module, _ = _registry_module(table)
    ports = getattr(module, "PORTS", None)
    if ports is not None:
        return {int(p): (v[0] if isinstance(v, tuple) else str(v)) for p, v in ports.items()}
    out: dict[int, str] = {}
    for probe in load_probes(table).values():
        for port in probe.ports:
            out.setdefault(port, probe.name)
    return out


def port_plan(
    probes: Mapping[str, Probe],
    well_known: Mapping[int, str],
    ports: tuple[int, ...] | None,
    selected: list[str] | None,
    config: ProbeConfig | None = None,
) -> tuple[tuple[int, str], ...]:
    """(port, probe) pairs to scan.

    ``--probes`` alone: the chosen probes' default ports as :func:`mxcensus.probes.
    default_ports` declares them (each probe's ``ports``, plus HTTP 80 for owa when
    ``config.http``), each on the probe that declares it (80: its well-known probe, owa).
    ``-p``: each well-known port gets its own probe (and is skipped when that probe is not
    chosen); any other port gets the SMTP dialogue, mail servers listen on odd ports (2525,
    26, 1025), or the first chosen probe when SMTP is not chosen.
    """
    from mxcensus.probes import default_ports

    names = selected or list(probes)
    for n in names:
        if n not in probes:
            raise UsageError(f"--probes {n}: no such probe (known: {', '.join(sorted(probes))})")
    if ports is None:
        pairs: set[tuple[int, str]] = set()
        for port in default_ports(names, config or ProbeConfig(), probes):
            owners = [n for n in names if port in probes[n].ports]
            if not owners and well_known.get(port) in names:
                owners = [well_known[port]]
            pairs.update((port, n) for n in owners)
        return tuple(sorted(pairs))
    fallback = "smtp" if "smtp" in names else names[0]
    out = []
    for port in ports:
        owner = well_known.get(port, fallback)
        if owner in names:
            out.append((port, owner))
    if not out:
        raise UsageError(
            f"-p {','.join(map(str, ports))}: none of these ports is served by the chosen "
            f"probes ({', '.join(names)})"
        )
    return tuple(out)
