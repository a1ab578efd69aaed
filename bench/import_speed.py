"""Import speed: Shodan JSON lines of realistic size, one core.

Builds a file of N Shodan banners cycling through the seven records of
``tests/importers/fixtures/shodan-mail.json`` (SMTP with EHLO and a certificate, Exchange
SMTP, OWA over HTTPS with headers and a body, IMAP, POP3, submission, one SSH banner that is
skipped; 0.4-3 KB each, 1.3 KB on average, as ``shodan download`` mail records), then times
the stages separately, each the median of ``--repeat`` runs in this process:

0. baseline: read the lines and ``orjson.loads`` each — the floor any JSON-lines import pays;
1. parse: the importer alone, nothing written — ``read_docs`` (bytes -> the transcripts'
   stored JSON form, what the import writes) where the importer has it, else ``read``;
2. import: parse + transcript build + store write (``import_files(analyze=False)``);
3. the same on the gzip-compressed file;
4. import + analysis (identify, assess, enrich: ``import_files`` as ``mxcensus import`` runs it).

Prints records/s and MB/s of input (wall clock and CPU time of this process) and each stage's
ratio to the baseline measured in the same run, which stays meaningful on a shared, loaded
machine. The process is pinned to one core and DuckDB to one thread.
Target: >= 50,000 records/s for the whole import (stage 4); bench/data.py prints the
same three headline figures (baseline, import phase, whole import).
Usage: python bench/import_speed.py [--records N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mxcensus.importers import import_files  # noqa: E402
from mxcensus.importers.interface import DocImporter  # noqa: E402
from mxcensus.importers.registry import IMPORTERS  # noqa: E402
from mxcensus.store.db import Store  # noqa: E402

FIXTURE = ROOT / "tests" / "importers" / "fixtures" / "shodan-mail.json"


def build(path: Path, n: int) -> int:
    templates = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines() if line]
    base = int(ipaddress.IPv4Address("100.64.0.0"))
    with path.open("wb") as f:
        for i in range(n):
            rec = dict(templates[i % len(templates)])
            rec["ip_str"] = str(ipaddress.IPv4Address(base + i))
            rec["ip"] = base + i
            f.write(orjson.dumps(rec) + b"\n")
    return path.stat().st_size


def median_time(fn: Callable[[], None], repeat: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process)."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    try:  # one core: the figure is per core, and DuckDB gets one thread too
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        pinned = f"pinned to CPU {min(os.sched_getaffinity(0))}"
    except (AttributeError, OSError):
        pinned = "unpinned"
    tmp = Path(tempfile.mkdtemp(prefix="mxcensus-bench-"))
    src = tmp / "shodan.json"
    size = build(src, args.records)
    gz = tmp / "shodan.json.gz"
    with src.open("rb") as fi, gzip.open(gz, "wb", compresslevel=6) as fo:
        fo.write(fi.read())
    mb = size / 1e6
    print(
        f"input: {args.records:,} Shodan banners, {mb:.1f} MB "
        f"({size / args.records:.0f} B/record), gzip {gz.stat().st_size / 1e6:.1f} MB; "
        f"one core ({pinned}), DuckDB threads=1"
    )

    importer = IMPORTERS["shodan"]

    def baseline() -> None:
        with src.open("rb") as f:
            for line in f:
                orjson.loads(line)

    read = importer.read_docs if isinstance(importer, DocImporter) else importer.read

    def parse_only() -> None:
        with src.open("rb") as f:
            for _ in read(f, str(src)):
                pass

    runs = iter(range(10_000))

    def full(path: Path, analyze: bool = False) -> None:
        store = Store.open(tmp / f"bench-{next(runs)}.duckdb")
        store.con.execute("SET threads = 1")  # one core, as the process is pinned
        try:
            r = import_files(store, "shodan", [path], analyze=analyze)
            assert r.transcripts > 0 and r.malformed == 0
        finally:
            store.close()

    base_wall, base_cpu = median_time(baseline, args.repeat)
    print(
        f"{'baseline: lines + orjson.loads':32s} {args.records / base_wall:>10,.0f} records/s "
        f"{mb / base_wall:>8.1f} MB/s (CPU {args.records / base_cpu:,.0f} records/s)"
    )
    for label, fn in (
        ("parse + transcript build", parse_only),
        ("parse + build + store write", lambda: full(src)),
        ("same, from .gz", lambda: full(gz)),
        ("import + analysis", lambda: full(src, analyze=True)),
    ):
        wall, cpu = median_time(fn, args.repeat)
        print(
            f"{label:32s} {args.records / wall:>10,.0f} records/s {mb / wall:>8.1f} MB/s "
            f"(CPU {args.records / cpu:,.0f} records/s; {cpu / base_cpu:.1f}x the baseline's "
            f"CPU; median of {args.repeat}: {wall:.2f} s)"
        )


if __name__ == "__main__":
    main()
