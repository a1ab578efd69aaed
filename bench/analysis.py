"""Analysis speed: stored transcripts -> identify, combine, assess, enrich -> services and
findings, one core.

Generates N Shodan banners (``generate``: hosts of 1-3 services — Exim, Postfix, Sendmail,
MDaemon, OpenSMTPD, Exchange SMTP with OWA on 443 showing its build, IIS SMTP, Zimbra,
Dovecot IMAP/POP3, unknown banners — each with its own host name, date, Shodan location and
a TLS certificate on some), imports them without analysis (``import_files(analyze=False)``),
then times, each the median of ``--repeat`` runs in this process:

0. baseline: ``SELECT data … ORDER BY ip, port`` and ``orjson.loads`` each row — the floor
   of any analysis that reads the stored transcripts back;
1. read: ``Store.iter_transcripts`` (read + loads + Transcript objects, the old path's read);
2. identify: ``identify_doc`` per stored transcript (docs in memory);
3. enrich: ``GeoEnricher.lookup`` with the importer's hint, once per host (fresh cache);
4. analysis without the store write: ``analyze_scan`` with ``DerivedWriter.write`` a no-op
   (read, identify, combine, assess, enrich, rows and record parts built);
5. ``analyze_scan``: the whole analysis phase as ``mxcensus import`` runs it (iptocc
   enrichment), written to the store (the scan's earlier rows are deleted before each run,
   untimed: an import has none; ``reassess`` pays that DELETE as well);
6. the same through the reference path (``pipeline.analyze_scan_reference``: per-record
   ``ServiceRecord``s, Python findings rows, ``Store.write_services``), for the ratio.

Prints services/s (CPU time of this process, wall clock beside it) and each stage's ratio to
the baseline measured in the same run. DuckDB runs on one thread (``SET threads = 1``) so
the figures are one core's. Target: >= 100,000 services/s for stage 4.
Usage: python bench/analysis.py [--records N] [--repeat R] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mxcensus import pipeline  # noqa: E402
from mxcensus.enrich.geo import GeoEnricher, hint_from_extra  # noqa: E402
from mxcensus.identify.engine import identify_doc  # noqa: E402
from mxcensus.importers import import_files  # noqa: E402
from mxcensus.model import ScanId  # noqa: E402
from mxcensus.store.db import Store  # noqa: E402
from mxcensus.store.derived import DerivedWriter  # noqa: E402
from mxcensus.store.rows import AnalysisBatch  # noqa: E402

FIXTURE = ROOT / "tests" / "importers" / "fixtures" / "shodan-mail.json"

_EXIM = ["4.80", "4.84_2", "4.89", "4.90_1", "4.92", "4.92.3", "4.93", "4.94.2", "4.95",
         "4.96", "4.96.1", "4.97", "4.97.1", "4.98", "4.98.2"]  # fmt: skip
_OWA = ["15.0.1497.48", "15.1.2375.7", "15.1.2507.39", "15.2.1118.40", "15.2.1544.4",
        "15.1.2375", "15.2.986.42", "14.3.513.0", "15.2.1748.10"]  # fmt: skip
_DAYS = ["Tue, 05 Mar 2024", "Wed, 06 Mar 2024", "Thu, 07 Mar 2024"]
_GEO = [("DE", "Frankfurt am Main", "AS64500"), ("FR", "Paris", "AS64502"),
        ("US", "Ashburn", "AS64510"), ("JP", "Tokyo", "AS64520"), ("BR", "", "")]  # fmt: skip


def _smtp(rng: random.Random, host: str, kind: str) -> tuple[str, str, str]:
    """(greeting, product, version) for a kind of MTA."""
    day = rng.choice(_DAYS)
    t = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    if kind == "exim":
        v = rng.choice(_EXIM)
        tail = rng.choice(["", " #2", " (Debian)", " Ubuntu"])
        return f"220 {host} ESMTP Exim {v}{tail} {day} {t} +0100", "Exim smtpd", v
    if kind == "postfix":
        return f"220 {host} ESMTP {rng.choice(['Postfix', 'Postfix (Debian/GNU)'])}", "", ""
    if kind == "sendmail":
        v = rng.choice(["8.14.4", "8.15.2", "8.17.1"])
        return f"220 {host} ESMTP Sendmail {v}/{v}; {day} {t} +0100", "Sendmail", v
    if kind == "exchange":
        return f"220 {host} Microsoft ESMTP MAIL Service ready at {day} {t} +0100", "", ""
    if kind == "iis":
        v = rng.choice(["6.0.3790.4675", "10.0.17763.1"])
        return f"220 {host} Microsoft ESMTP MAIL Service, Version: {v} ready at  {day}", "", ""
    if kind == "zimbra":
        return f"220 {host} ESMTP Postfix (Zimbra)", "", ""
    if kind == "opensmtpd":
        return f"220 {host} ESMTP OpenSMTPD", "OpenSMTPD", ""
    if kind == "mdaemon":
        v = rng.choice(["21.5.2", "23.0.1", "24.5.1c"])
        return f"220 {host} ESMTP MDaemon {v}; {day} {t} +0100", "MDaemon", v
    return f"220 {host} ESMTP service ready {rng.randrange(10**6)}", "", ""


_KINDS = ["exim"] * 8 + ["postfix"] * 6 + ["exchange"] * 4 + ["sendmail", "iis", "zimbra",
          "opensmtpd", "mdaemon", "unknown", "unknown"]  # fmt: skip


def generate(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """N Shodan records (whole hosts, so a few more than N may be cut at the end)."""
    rng = random.Random(seed)
    templates = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines() if line]
    smtp_t, owa_t, imap_t, pop_t = templates[0], templates[2], templates[3], templates[4]
    made, host_no = 0, 0
    while made < n:
        host_no += 1
        ip = (
            f"{1 + host_no // 65536 % 200}.{host_no // 256 % 256}.{host_no % 256}.{7 + host_no % 3}"
        )
        name = f"mx{host_no % 97}.example{host_no}.net"
        kind = rng.choice(_KINDS)
        country, city, asn = rng.choice(_GEO)
        base: dict[str, Any] = {
            "ip_str": ip,
            "hostnames": [name],
            "domains": [name.split(".", 1)[1]],
            "org": f"Org {host_no % 50}",
            "isp": f"ISP {host_no % 30}",
            "asn": asn or None,
            "location": {"country_code": country, "city": city or None, "region_code": "1"},
            "timestamp": f"2024-03-0{5 + host_no % 3}T11:22:{host_no % 60:02d}.456789",
        }
        greeting, product, version = _smtp(rng, name, kind)
        ehlo = smtp_t["data"].split("\r\n", 1)[1].replace("mail.example.net", name)
        ports = [25] + ([587] if rng.random() < 0.3 else [])
        for port in ports:
            rec = dict(smtp_t) | base | {"port": port, "data": f"{greeting}\r\n{ehlo}"}
            rec["product"], rec["version"] = product or None, version or None
            if rng.random() < 0.5:
                rec.pop("ssl", None)
            yield rec
            made += 1
        if kind == "exchange" and rng.random() < 0.7:
            build = rng.choice(_OWA)
            rec = dict(owa_t) | base
            rec["data"] = owa_t["data"].replace("15.1.2375.7", build)
            rec["http"] = dict(owa_t["http"]) | {"host": ip}
            yield rec
            made += 1
        elif kind in ("exim", "postfix") and rng.random() < 0.4:
            rec = dict(imap_t if rng.random() < 0.6 else pop_t) | base
            yield rec
            made += 1


def median_time(
    fn: Callable[[], object], repeat: int, setup: Callable[[], object] = lambda: None
) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process); ``setup`` untimed."""
    walls, cpus = [], []
    for _ in range(repeat):
        setup()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile analyze_scan once")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference path")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mxcensus-bench-"))
    src = tmp / "shodan.json"
    with src.open("wb") as f:
        for rec in generate(args.records):
            f.write(orjson.dumps(rec) + b"\n")
    store = Store.open(tmp / "bench.duckdb")
    store.con.execute("SET threads = 1")
    result = import_files(store, "shodan", [src], analyze=False)
    scan = ScanId(result.scan)
    n = store.count("transcripts", scan)
    print(
        f"input: {n:,} transcripts ({result.records:,} Shodan records, "
        f"{src.stat().st_size / 1e6:.1f} MB); load {os.getloadavg()[0]:.2f}"
    )
    store.con.execute("UPDATE scans SET status = 'running' WHERE id = ?", [scan])

    def baseline() -> None:
        cur = store.con.cursor()
        cur.execute("SELECT data FROM transcript_docs WHERE scan = ? ORDER BY ip, port", [scan])
        loads = orjson.loads
        while rows := cur.fetchmany(10_000):
            for (data,) in rows:
                loads(data)

    def read() -> None:
        for _ in store.iter_transcripts(scan):
            pass

    docs = list(store.iter_transcript_docs(scan))

    def ident() -> None:
        for d in docs:
            identify_doc(d)

    firsts = [d for i, d in enumerate(docs) if i == 0 or docs[i - 1]["ip"] != d["ip"]]

    def enrich() -> None:
        enricher = GeoEnricher()
        for d in firsts:
            enricher.lookup(d["ip"], hint_from_extra(d["extra"], d["source"]))

    def no_write() -> None:
        def skip(self: DerivedWriter, batch: AnalysisBatch, **kw: object) -> int:
            return len(batch.rows)

        write = DerivedWriter.write
        DerivedWriter.write = skip  # type: ignore[method-assign,assignment]
        try:
            pipeline.analyze_scan_with_geo(store, scan)
        finally:
            DerivedWriter.write = write  # type: ignore[method-assign]

    def full() -> None:
        pipeline.analyze_scan_with_geo(store, scan)

    def reference() -> None:
        enricher = GeoEnricher()
        pipeline.analyze_scan_reference(store, scan, enricher)

    stages: list[tuple[str, Callable[[], object]]] = [
        ("read + Transcript objects", read),
        ("identify_doc (in memory)", ident),
        ("enrich, per host", enrich),
        ("analysis, no store write", no_write),
        ("analyze_scan", full),
    ]
    if not args.no_reference:
        stages.append(("reference analyze_scan", reference))
    base_wall, base_cpu = median_time(baseline, args.repeat)
    print(
        f"{'baseline: SELECT data + loads':28s} CPU {n / base_cpu:>9,.0f} services/s "
        f"{base_cpu / n * 1e6:6.1f} us/service (wall {n / base_wall:,.0f}/s)"
    )
    for label, fn in stages:
        # as after an import: no earlier rows to replace (reassess also pays that DELETE)
        wall, cpu = median_time(fn, args.repeat, setup=lambda: store.reopen_scan(scan))
        print(
            f"{label:28s} CPU {n / cpu:>9,.0f} services/s {cpu / n * 1e6:6.1f} us/service "
            f"(wall {n / wall:,.0f}/s; {cpu / base_cpu:.1f}x the baseline's CPU; "
            f"median of {args.repeat}: {cpu:.2f} s)"
        )
    products = store.con.execute(
        "SELECT product, count(*) FROM services WHERE scan = ? GROUP BY ALL ORDER BY 2 DESC",
        [scan],
    ).fetchall()
    findings = store.count("findings", scan)
    print(f"services by product: {dict(products)}; {findings:,} findings rows")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(full)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    store.close()
    shutil.rmtree(tmp)  # ~2 KB a record: the input file and the store


if __name__ == "__main__":
    main()
