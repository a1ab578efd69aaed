"""What a scan is: the plan every worker receives, and the parameters a resume reloads."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    shard: int = 0
    workers: int = 1
    rate: float = 1000.0  # new connections per second, all workers together
    concurrency: int = 1000  # open connections at most, all workers together
    per_net: int = 64  # open connections per /24 (IPv6: /56) at most, all workers together
    probe_config: ProbeConfig = field(default_factory=ProbeConfig)
    probe_table: str = DEFAULT_PROBES  # "module:attribute" the workers import

    def __post_init__(self) -> None:
        if self.shards < 1 or not 0 <= self.shard < self.shards:
            raise UsageError(f"--shard {self.shard}: must be in 0..{self.shards - 1}")
        for name, value in (
            ("--workers", self.workers),
            ("--rate", self.rate),
            ("--concurrency", self.concurrency),
            ("--per-net", self.per_net),
        ):
            if value < 1:
                raise UsageError(f"{name} {value}: must be at least 1")

    def space(self) -> TargetSpace:
        return TargetSpace(self.targets, self.ports)

    def stream_key(self, worker: int) -> str:
        """The progress key of one worker's stream: shard and worker, with their counts."""
        return f"shard{self.shard}of{self.shards}-worker{worker}of{self.workers}"

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
            shard=int(params["shard"]),
            workers=int(params["workers"]),
            rate=float(params["rate"]),
            concurrency=int(params["concurrency"]),
            per_net=int(params["per_net"]),
            probe_config=ProbeConfig(**params["probe_config"]),
            probe_table=str(params["probe_table"]),
        )


def load_probes(table: str = DEFAULT_PROBES) -> dict[str, Probe]:
    """The probe registry named ``module:attribute``, keyed by probe name.

    The registry may be keyed by name or by port; either way each probe says its name.
    """
    module_name, _, attr = table.partition(":")
    try:
        registry = getattr(importlib.import_module(module_name), attr or "PROBES")
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"probe registry {table}: cannot be loaded ({exc})") from exc
    out: dict[str, Probe] = {}
    for probe in registry.values():
        out.setdefault(probe.name, probe)
    return out


def port_plan(
    probes: Mapping[str, Probe], ports: tuple[int, ...] | None, selected: list[str] | None
) -> tuple[tuple[int, str], ...]:
    """(port, probe) pairs to scan.

    ``--probes`` alone: each chosen probe on its default ports. ``-p`` alone: each port's
    probe by the registry's default ports; a port no probe claims gets the SMTP dialogue
    (mail servers listen on odd ports: 2525, 26, 1025). Both: each port's probe among the
    chosen ones, else the first chosen probe.
    """
    names = selected or list(probes)
    for n in names:
        if n not in probes:
            raise UsageError(f"--probes {n}: no such probe (known: {', '.join(sorted(probes))})")
    chosen = [probes[n] for n in names]
    if ports is None:
        return tuple(sorted({(p, pr.name) for pr in chosen for p in pr.ports}))
    fallback = names[0] if selected else ("smtp" if "smtp" in probes else names[0])
    out = []
    for port in ports:
        owner = next((pr.name for pr in chosen if port in pr.ports), fallback)
        out.append((port, owner))
    return tuple(out)
