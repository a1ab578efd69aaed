"""The lab and the demo: ``lab``, ``demo``."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxcensus.bounds import Range
from mxcensus.cli.app import app, command
from mxcensus.cli.options import bounded, grouped
from mxcensus.engine.request import SEED, WORKERS

if TYPE_CHECKING:
    from mxcensus.lab.population import LabConfig

SIZE = Range(1, 100_000)
"""Up to nine listening sockets per host: 100,000 hosts is the most one machine serves."""
DURATION = Range(0.01, 7 * 86_400.0, float)
FRACTION = Range(0.0, 1.0, float)
INTERVAL = Range(0.001, 600.0, float)
EPOCH = Range(0, 1000)

LabSeed = Annotated[int, bounded("--seed", bounds=SEED, help="Seed of the lab population.")]


@dataclass(frozen=True, slots=True)
class Population:
    """The options that say which population the lab serves: the fields of its
    :class:`~mxcensus.lab.population.LabConfig` (by the same names), as the user gives them."""

    size: Annotated[int, bounded("--size", bounds=SIZE, help="Simulated hosts.")] = 200
    seed: LabSeed = 1
    base: Annotated[
        str,
        typer.Option(
            help="Hosts get the loopback addresses after this one; 'auto' picks a free range."
        ),
    ] = "127.64.0.0"
    hostile_fraction: Annotated[
        float,
        bounded(
            "--hostile-fraction",
            bounds=FRACTION,
            help="Share of hostile hosts (tarpit, reset, giant banner, …).",
        ),
    ] = 0.05
    hidden_fraction: Annotated[
        float,
        bounded(
            "--hidden-fraction",
            bounds=FRACTION,
            help="Fraction of well-behaved hosts whose greetings name no product.",
        ),
    ] = 0.0
    ports: Annotated[
        str | None,
        typer.Option(
            help="Ports to serve, a subset of {lab_ports} (default: all).", show_default=False
        ),
    ] = None
    tarpit_interval: Annotated[
        float,
        bounded(
            "--tarpit-interval",
            bounds=INTERVAL,
            help="Seconds between the bytes of a tarpit greeting.",
        ),
    ] = 2.0
    epoch: Annotated[
        int,
        bounded(
            "--epoch",
            bounds=EPOCH,
            help="Serve the population this many epochs later: some hosts patched, "
            "some new, some gone (the truth lists what changed).",
        ),
    ] = 0

    def config(self) -> LabConfig:
        """The lab's configuration: the ports parsed, ``--base auto`` resolved to a free
        range for them."""
        from mxcensus.lab.population import ALL_PORTS, LabConfig, free_base, parse_ports

        served = ALL_PORTS if self.ports is None else parse_ports(self.ports)
        base = free_base(self.size, served) if self.base == "auto" else self.base
        return LabConfig(**{**asdict(self), "ports": served, "base": base})


@command(app)
@grouped
def lab(
    *,
    population: Population,
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth JSON here.")] = None,
    duration: Annotated[
        float, bounded("--duration", bounds=DURATION, help="Stop after this many seconds.")
    ] = 600.0,
    counters: Annotated[
        Path | None,
        typer.Option(help="Write connection counts here on SIGUSR1 and at the end."),
    ] = None,
    workers: Annotated[
        int | None,
        bounded("--workers", bounds=WORKERS, help="Server processes (default: up to 2)."),
    ] = None,
    mmdb: Annotated[
        Path | None,
        typer.Option(
            help="Write the hosts' simulated countries, ASNs and owners here as an "
            "MMDB file (read it with --geo-db)."
        ),
    ] = None,
    die_with_parent: Annotated[
        bool, typer.Option(help="Stop when the process that started the lab is gone.")
    ] = False,
) -> None:
    """Serve a simulated population of mail servers on loopback addresses.

    Exim, Exchange (builds below and at the ProxyLogon/ProxyShell/ProxyNotShell fixes, with
    varying exposure of the build), Postfix, Sendmail, OpenSMTPD, Dovecot, Courier,
    hMailServer, MDaemon, Zimbra and hostile servers, deterministic by --seed. The truth file
    appears once every address listens. Stops after --duration, on SIGTERM or Ctrl-C;
    SIGUSR1 writes the counters.
    """
    from mxcensus.lab.runner import run_lab

    config = population.config()
    if mmdb is not None:
        from mxcensus.lab.geography import write_geo_db

        write_geo_db(config, mmdb)  # before the truth file: a ready lab has its MMDB

    def ready(hosts: int, sockets: int) -> None:
        print(
            f"mxcensus lab: {hosts} hosts, {sockets} listening sockets after {config.base}"
            f" (seed {config.seed}{f', epoch {config.epoch}' if config.epoch else ''});"
            f" stops in {duration:g} s",
            file=sys.stderr,
            flush=True,
        )

    result = run_lab(
        config,
        duration=duration,
        truth=truth,
        counters=counters,
        workers=workers,
        on_ready=ready,
        die_with_parent=die_with_parent,
    )
    total = sum(result.counters.values())
    print(f"mxcensus lab: stopped ({result.reason}); {total} connections", file=sys.stderr)


@command(app)
def demo(
    db: Annotated[
        Path, typer.Option("--db", help="DuckDB file the demo's scans are stored in (replaced).")
    ] = Path("mxcensus-demo.duckdb"),
    size: Annotated[int, bounded("--size", bounds=SIZE, help="Simulated hosts in the lab.")] = 300,
    seed: LabSeed = 1,
) -> None:
    """The whole story in under a minute: a lab on loopback, two scans 30 simulated days
    apart, a short summary.

    The lab's hosts sit in simulated networks on six continents (an MMDB it writes, read as
    --geo-db); some are patched, some gone and some new by the second scan. Everything
    stays on 127.0.0.0/8; the scans are kept in --db for report, trend, explain and notify.
    """
    from mxcensus.cli.render import ScanDisplay, demo_summary
    from mxcensus.demo import run_demo

    with ScanDisplay(sys.stdout.isatty()) as display:

        def say(line: str) -> None:
            display.stop()
            typer.echo(line)

        res = run_demo(db, size=size, seed=seed, say=say, on_event=display)
    typer.echo("\n".join(demo_summary(res)))
