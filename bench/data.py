"""Data benchmark: a report over N stored services against bare DuckDB GROUP BYs, in one run;
and import speed (Shodan JSON lines, one core) through ``mxcensus.importers.import_files``.

The N services (default 10 million, ~3 per host) are generated inside DuckDB SQL straight
into a store file created with the real schema (``Store.open`` runs the migrations), with
one finding per judged service. Then, each the median of ``--repeat`` runs in this process:

- bare count: ``SELECT product_line, count(*) … GROUP BY product_line`` — the floor;
- bare same counts: the very aggregation the report runs (hosts, services, verdicts, EoL),
  written as one hand-made GROUP BY;
- report: ``render_report(--by product_line, --format table)`` end to end (scan lookup,
  totals, the breakdown, hosts by verdict, rendering), and the same with ``--format json``;
- full HTML report: every section (EoL per line, per CVE, per continent, per country with
  the map, services at risk) — shown for information.

Then import speed on one generated file of Shodan banners (--import-records, ~1.3 KB each),
the process pinned to one core and DuckDB to one thread: read + orjson.loads (the floor),
the import phase alone (``import_files(analyze=False)``) and the whole import with analysis;
and (3d) the whole import of a second file where every banner's text is its own (host name
and dates made from the record, as in census data), which no memo of repeated text helps.
Last, the peak RSS of ``mxcensus import shodan`` run as its own process on N and 4N
records: an import streams, so it must not grow with the file.

Last, the output paths' memory: a census of 1 and 10 million services written straight in
SQL in the analysis' form (``bench/census.py``), then each ``mxcensus export`` format,
``notify`` and a few reports run as their own processes: peak RSS and CPU seconds each. An
output streams from the store, so its peak must not grow with the census (goal: under
400 MB at 10 million).

Targets: report ≤ 2 × the bare query computing the same counts; import ≥ 50,000 records/s;
output peak RSS < 400 MB at 10 million services.
Usage: python bench/data.py [--services N] [--repeat R] [--keep PATH] [--import-records N]
       [--no-html] [--import-only] [--report-only] [--output-sizes N,N | --no-output]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mxcensus.enrich.geo import GeoEnricher  # noqa: E402
from mxcensus.report.render import render_report  # noqa: E402
from mxcensus.store.db import Store  # noqa: E402
from mxcensus.store.filters import Filter  # noqa: E402
from mxcensus.store.sql import group_sql  # noqa: E402

COUNTRIES = [
    ("US", "NA"), ("DE", "EU"), ("FR", "EU"), ("GB", "EU"), ("NL", "EU"), ("RU", "EU"),
    ("CN", "AS"), ("JP", "AS"), ("IN", "AS"), ("KR", "AS"), ("BR", "SA"), ("AR", "SA"),
    ("CA", "NA"), ("MX", "NA"), ("AU", "OC"), ("NZ", "OC"), ("ZA", "AF"), ("NG", "AF"),
    ("EG", "AF"), ("IT", "EU"),
]  # fmt: skip

GENERATE = """
INSERT INTO service_rows BY NAME
WITH g AS (
    SELECT i, i // 3 AS host, hash(i) AS h, hash(i // 3) AS hh FROM range($n) t(i)
), p AS (
    SELECT *, (h % 10)::BIGINT AS pk, ((h // 10) % 5)::BIGINT AS lk,
           ((h // 50) % 7)::BIGINT AS vk, (hh % 20)::BIGINT AS ck FROM g
)
SELECT 'bench' AS scan, (SELECT gen FROM scans WHERE id = 'bench') AS gen,
       printf('%d.%d.%d.%d', 1 + (host // 16777216) % 223, (host // 65536) % 256,
              (host // 256) % 256, host % 256) AS ip,
       [25, 587, 443][1 + i % 3]::INTEGER AS port,
       ['smtp', 'submission', 'https'][1 + i % 3] AS protocol,
       ['plain', 'starttls', 'tls'][1 + i % 3] AS transport,
       TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(i % 86400) AS observed_at,
       CASE WHEN h % 97 = 0 THEN 'timeout' ELSE 'ok' END AS outcome,
       'scan' AS source,
       NULL AS hostname,
       CASE WHEN pk < 3 THEN 'microsoft' WHEN pk < 6 THEN 'exim' WHEN pk < 8 THEN 'postfix'
            WHEN pk < 9 THEN 'dovecot' END AS vendor,
       CASE WHEN pk < 3 THEN 'ms-exchange' WHEN pk < 6 THEN 'exim' WHEN pk < 8 THEN 'postfix'
            WHEN pk < 9 THEN 'dovecot' ELSE 'unknown' END AS product,
       CASE WHEN pk < 3 THEN ['Exchange Server 2010', 'Exchange Server 2013',
                              'Exchange Server 2016', 'Exchange Server 2019',
                              'Exchange Server SE'][1 + lk]
            WHEN pk < 6 THEN 'Exim 4' WHEN pk < 8 THEN 'Postfix 3'
            WHEN pk < 9 THEN 'Dovecot 2' END AS product_line,
       CASE WHEN pk < 9 THEN printf('4.%d', 80 + lk * 3 + vk) END AS version,
       NULL AS version_key,
       CASE WHEN pk < 3 THEN 'build4' WHEN pk < 9 THEN 'version' ELSE 'none' END AS precision,
       NULL AS release, NULL AS confidence, NULL AS distro,
       []::VARCHAR[] AS evidence,
       CASE WHEN pk < 3 THEN lk < 4 WHEN pk < 9 THEN false END AS eol,
       NULL AS eol_line, NULL AS eol_date,
       pk < 6 AND vk < 2 AS kev,
       CASE WHEN pk = 9 THEN 'unknown'
            ELSE ['vulnerable', 'potentially-vulnerable', 'not-vulnerable', 'not-vulnerable',
                  'none', 'none', 'potentially-vulnerable'][1 + vk] END AS worst_status,
       c.cc AS country, c.continent, NULL AS region,
       (hh % 5000)::INTEGER AS asn, NULL AS org, NULL AS city, NULL AS geo_source,
       '220 mail.example ESMTP' AS banner,
       '{"schema":1}' AS record
FROM p JOIN countries c ON c.k = p.ck
"""

FINDINGS = """
INSERT INTO finding_rows BY NAME
SELECT scan, (SELECT gen FROM scans WHERE id = 'bench') AS gen, ip, port,
       CASE WHEN product = 'ms-exchange' THEN 'CVE-2021-26855'
            WHEN product = 'exim' THEN 'CVE-2019-10149'
            ELSE 'CVE-2023-51764' END AS cve,
       worst_status AS status, kev, false AS ransomware, 9.8 AS cvss, 'bench' AS reason,
       NULL AS fixed_in, []::VARCHAR[] AS tags
FROM services
WHERE scan = 'bench' AND worst_status IN ('vulnerable', 'potentially-vulnerable',
                                           'not-vulnerable')
"""


def build(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    with Store.open(path) as store:
        store.create_scan(name="bench", kind="scan", source="scan", scan_id="bench")  # type: ignore[arg-type]
        con = store.con
        con.execute(
            "CREATE TEMP TABLE countries AS SELECT * FROM (VALUES "
            + ", ".join(f"({k}, '{cc}', '{ct}')" for k, (cc, ct) in enumerate(COUNTRIES))
            + ") t(k, cc, continent)"
        )
        con.execute(GENERATE, {"n": n})
        con.execute(FINDINGS)
        store.finish_scan("bench")  # type: ignore[arg-type]
        con.execute("CHECKPOINT")
    return time.perf_counter() - t0


def interleaved_medians(variants: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds per variant; runs go round-robin (A B C … A B C …) so that load from
    other processes on the machine falls on every variant alike. One warm-up round first:
    every variant then reads from memory, not from the first disk pass."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeat):
        for label, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_report(path: Path, repeat: int, *, full_html: bool) -> None:
    Store.open(path).close()  # a kept store from an older schema: migrate it once
    with Store.open(path, read_only=True) as store:
        con = store.con
        n = con.execute("SELECT count(*) FROM services").fetchone()
        f = con.execute("SELECT count(*) FROM findings").fetchone()
        print(f"store: {n[0] if n else 0:,} services, {f[0] if f else 0:,} findings, "
              f"{path.stat().st_size / 1e6:.0f} MB on disk")  # fmt: skip
        floor_sql = (
            "SELECT product_line, count(*) FROM services WHERE scan = $scan GROUP BY product_line"
        )
        where = Filter(scans=("bench",)).where()  # type: ignore[arg-type]
        same_sql = group_sql(["product_line"], where)
        variants: dict[str, Callable[[], object]] = {
            "bare count(*) GROUP BY product_line": lambda: con.execute(
                floor_sql, {"scan": "bench"}
            ).fetchall(),
            "bare GROUP BY, the report's counts": lambda: con.execute(
                same_sql, where.params
            ).fetchall(),
            "report --by product_line (table)": lambda: render_report(
                store, "bench", "product_line", "table"
            ),
            "report --by product_line (json)": lambda: render_report(
                store, "bench", "product_line", "json"
            ),
            "report --by country,verdict (table)": lambda: render_report(
                store, "bench", "country,verdict", "table"
            ),
        }
        if full_html:
            variants["full HTML report (all sections, map)"] = lambda: render_report(
                store, "bench", "product_line", "html"
            )
        results = interleaved_medians(variants, repeat)
    same = results["bare GROUP BY, the report's counts"]
    floor = results["bare count(*) GROUP BY product_line"]
    print(f"\nmedian of {repeat} runs each (threads: {os.cpu_count()} cores shared)")
    for label, secs in results.items():
        print(f"  {label:40s} {secs:8.3f} s   {secs / same:5.2f}× same-counts   "
              f"{secs / floor:6.2f}× count(*)")  # fmt: skip
    ratio = results["report --by product_line (table)"] / same
    verdict = "meets" if ratio <= 2.0 else "MISSES"
    print(f"\nreport / bare query with the same counts: {ratio:.2f}× ({verdict} the ≤ 2× target)")


# -- import speed ----------------------------------------------------------------------

SHODAN_FIXTURE = ROOT / "tests" / "importers" / "fixtures" / "shodan-mail.json"


def shodan_file(path: Path, n: int) -> int:
    if SHODAN_FIXTURE.exists():
        templates = [orjson.loads(x) for x in SHODAN_FIXTURE.read_bytes().splitlines() if x]
    else:
        templates = [
            {
                "ip_str": "", "port": 25, "transport": "tcp", "timestamp": "2026-11-01T00:00:00",
                "data": "220 mail.example.org ESMTP Exim 4.92 Mon, 01 Nov 2026 00:00:00 +0000\r\n",
                "_shodan": {"module": "smtp"}, "location": {"country_code": "DE"}, "asn": "AS3320",
            }
        ]  # fmt: skip
    base = int(ipaddress.IPv4Address("100.64.0.0"))
    with path.open("wb") as fh:
        for i in range(n):
            rec = dict(templates[i % len(templates)])
            rec["ip_str"] = str(ipaddress.IPv4Address(base + i))
            rec["ip"] = base + i
            fh.write(orjson.dumps(rec) + b"\n")
    return path.stat().st_size


_GREETING_HOST = re.compile(r"^(?:220|\* OK|\+OK) ([A-Za-z0-9-]+\.[A-Za-z0-9.-]+)")
_MAIL_DATE = re.compile(r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def shodan_file_distinct(path: Path, n: int) -> int:
    """:func:`shodan_file`, but every record's banner text is its own, as in real data: the
    host name in the greeting, EHLO reply, HTTP Host and ``hostnames`` is made from the
    record's address, the times (``timestamp``, greeting and HTTP ``Date``) advance by a
    second per record, and ids (``request-id``, ``_shodan.id``) differ. No two records share
    a greeting, so no memo of banner text helps: the import's cost on census data."""
    templates = [orjson.loads(x) for x in SHODAN_FIXTURE.read_bytes().splitlines() if x]
    base = int(ipaddress.IPv4Address("100.64.0.0"))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("wb") as fh:
        for i in range(n):
            t = templates[i % len(templates)]
            ip = str(ipaddress.IPv4Address(base + i))
            rec = dict(t, ip=base + i, ip_str=t["ip_str"])
            when = start + timedelta(seconds=i)
            rec["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f")
            names = set(t.get("hostnames") or ())
            m = _GREETING_HOST.match(str(t.get("data") or ""))
            if m:
                names.add(m.group(1))
            text = orjson.dumps(rec).decode()
            dashed = ip.replace(".", "-")
            for name in sorted(names, key=len, reverse=True):
                first, _, rest = name.partition(".")
                text = text.replace(name, f"{first}-{dashed}.{rest}")
            text = text.replace(t["ip_str"], ip)
            text = _MAIL_DATE.sub(when.strftime("%a, %d %b %Y %H:%M:%S"), text)
            text = _UUID.sub(str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % 2**128)), text)
            fh.write(text.encode() + b"\n")
    return path.stat().st_size


def _one_core() -> str:
    """Pin this process to one CPU (the import's figure is per core) and say which."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):  # not Linux: unpinned, and the output says so
        return "unpinned"
    return f"pinned to CPU {cpu}"


def bench_import(tmp: Path, records: int, repeat: int) -> None:
    """Three figures on the same generated file, each the median of ``repeat`` runs, run
    round-robin so that load from others falls on each alike: (1) reading the lines and
    orjson.loads of each, the floor of any JSON-lines import; (2) the import phase alone,
    transcripts parsed, built and stored (``import_files(analyze=False)``); (3) the whole
    ``mxcensus import shodan`` (``import_files``: the import, then identify, assess, enrich and
    write services and findings). Rates are records per CPU-second of this process, pinned to
    one core, with DuckDB limited to one thread."""
    try:
        from mxcensus.importers import import_files
    except ImportError:
        print("\nimport speed: skipped — mxcensus.importers.import_files is not on this branch")
        return
    pinned = _one_core()
    src = tmp / "shodan.json"
    size = shodan_file(src, records)
    distinct = tmp / "shodan-distinct.json"
    distinct_size = shodan_file_distinct(distinct, records)
    runs = iter(range(1_000_000))

    def timed(fn: Callable[[], object]) -> tuple[float, float]:
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        return time.process_time() - c0, time.perf_counter() - w0

    def baseline() -> tuple[float, float]:
        def read() -> None:
            with src.open("rb") as fh:
                for line in fh:
                    orjson.loads(line)

        return timed(read)

    def imported(
        analyze: bool, src: Path = src, columnar: bool = True
    ) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            db = tmp / f"import-{next(runs)}.duckdb"
            with Store.open(db) as store:  # opening (migrations) is not timed
                store.con.execute("SET threads = 1")
                res = None

                def go() -> None:
                    nonlocal res
                    # enriched as `mxcensus import` does it (iptocc, no MMDB file given)
                    enricher = GeoEnricher(())
                    res = import_files(
                        store, "shodan", [src], analyze=analyze, enricher=enricher,
                        columnar=columnar,
                    )  # fmt: skip

                spent = timed(go)
                assert res is not None and res.records == records and res.malformed == 0, res
            db.unlink()
            return spent

        return run

    variants: dict[str, Callable[[], tuple[float, float]]] = {
        "(1) read + orjson.loads (baseline)": baseline,
        "(2) import phase (analyze=False)": imported(False),
        "(3) mxcensus import (analyze=True)": imported(True),
        "(3d) the same, distinct banners": imported(True, distinct),
        "(3p) (3), record by record": imported(True, columnar=False),
        "(3pd) (3d), record by record": imported(True, distinct, columnar=False),
    }
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeat):
        for label, fn in variants.items():
            c, w = fn()
            cpu[label].append(c)
            wall[label].append(w)
    base = statistics.median(cpu["(1) read + orjson.loads (baseline)"])
    print(f"\nimport speed: Shodan JSON lines, {records:,} records, {size / 1e6:.1f} MB "
          f"({size / records:,.0f} B/record); one core ({pinned}), DuckDB threads=1; "
          f"median of {repeat} runs each, in CPU time of this process (wall in brackets); "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for label in variants:
        c, w = statistics.median(cpu[label]), statistics.median(wall[label])
        target = "   (target >= 50,000 records/s)" if label.startswith("(3") else ""
        mb = (distinct_size if label.split(")")[0].endswith("d") else size) / c / 1e6
        print(f"  {label:36s} {records / c:>9,.0f} records/s {mb:>7.1f} MB/s  "
              f"{c / base:5.1f}x the baseline  [wall {records / w:,.0f}/s]{target}")  # fmt: skip
    print(
        "  (1)-(3): the fixture's 7 banners cycled (their text repeats); (3d): every record's "
        "greeting, EHLO, HTTP Host and dates its own, as in census data "
        f"({distinct_size / records:,.0f} B/record). (3), (3d): the columnar import, what "
        "`mxcensus import shodan` runs; (3p), (3pd): the record-by-record path it falls back "
        "to for a chunk it cannot take (import_files(columnar=False))"
    )


_PEAK_RSS = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
code = os.waitstatus_to_exitcode(status)
print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
sys.exit(code)
"""
"""Run argv[1:] and print its CPU seconds and peak RSS (KiB) from a process too small to
lend it its own."""


def bench_import_memory(tmp: Path, records: int) -> None:
    """Peak RSS of ``mxcensus import shodan`` (a child process, as a user runs it) on the
    generated file at two sizes: an import streams, so the peak must not grow with the file
    (a batch at a time, a transaction every few batches)."""
    print("\nimport memory: peak RSS of `mxcensus import shodan` (its own process, iptocc)")
    for n in (records, 4 * records):
        src = tmp / f"shodan-{n}.json"
        size = shodan_file(src, n)
        env = {**os.environ, "MXCENSUS_DB": str(tmp / f"memory-{n}.duckdb")}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])
        )
        # through a small Python that starts the import and reports its child's ru_maxrss:
        # Linux carries the high-water RSS of the memory a process had before exec into its
        # ru_maxrss, and a child started from this process (by now ~1 GB from the imports
        # above) would report this process's peak, not its own
        out = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, sys.executable, "-m", "mxcensus", "import",
             "shodan", str(src)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            print(f"  {n:>9,} records: the import failed (exit {out.returncode})")
            continue
        peak_kb = int(out.stdout.split()[-1])
        print(f"  {n:>9,} records ({size / 1e6:,.0f} MB): peak RSS {peak_kb / 1024:,.0f} MB")
        src.unlink()
        (tmp / f"memory-{n}.duckdb").unlink()


OUTPUTS = {
    "export jsonl": ("export", "--format", "jsonl", "-o", "{out}/x.jsonl"),
    "export csv": ("export", "--format", "csv", "-o", "{out}/x.csv"),
    "export parquet": ("export", "--format", "parquet", "-o", "{out}/x.parquet"),
    "export shadowserver": ("export", "--format", "shadowserver", "-o", "{out}/reports"),
    "notify --per prefix": ("notify", "--per", "prefix", "--out", "{out}/notices"),
    "report (table)": ("report", "--format", "table"),
    "report --by cve,verdict": ("report", "--by", "cve,verdict", "--format", "csv"),
    "report --by version,country,asn": ("report", "--by", "version,country,asn"),
    "report --format html": ("report", "--format", "html"),
}


def bench_output_memory(tmp: Path, sizes: list[int]) -> None:
    """Peak RSS and CPU seconds of each output path (its own process, as a user runs it) on
    censuses of ``sizes`` services (``bench/census.py``: the analysis' normalised form)."""
    sys.path.insert(0, str(ROOT))
    from bench.census import build_census

    print(f"\noutput memory: peak RSS of each command as its own process; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for n in sizes:
        db = tmp / f"census-{n}.duckdb"
        secs = build_census(db, n)
        print(f"  {n:,} services ({db.stat().st_size / 1e6:,.0f} MB, written in {secs:.0f} s)")
        for label, args in OUTPUTS.items():
            out = tmp / f"out-{n}"
            out.mkdir(exist_ok=True)
            cmd = [sys.executable, "-m", "mxcensus", *(a.format(out=out) for a in args)]
            res = subprocess.run(
                [sys.executable, "-c", _PEAK_RSS, *cmd, "--db", str(db)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if res.returncode != 0:
                print(f"    {label:32s} failed (exit {res.returncode})")
                continue
            cpu, peak_kb = res.stdout.split()
            print(f"    {label:32s} peak {int(peak_kb) / 1024:6,.0f} MB   {float(cpu):7.1f} CPU-s")
            shutil.rmtree(out)
        db.unlink()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="Reuse/keep the generated store at PATH.")
    # 400,000 records (~0.5 GB): two of the import's transactions (run.COMMIT_CHUNKS chunks
    # each), so the figure is the pace of a large file, not of one that fits in one chunk
    ap.add_argument("--import-records", type=int, default=400_000)
    ap.add_argument("--no-html", action="store_true", help="Skip the full HTML report.")
    ap.add_argument("--import-only", action="store_true", help="Only the import speed part.")
    ap.add_argument("--report-only", action="store_true", help="Only the report part.")
    ap.add_argument(
        "--output-sizes",
        default="1000000,10000000",
        help="Census sizes for the output memory part (comma-separated).",
    )
    ap.add_argument("--no-output", action="store_true", help="Skip the output memory part.")
    args = ap.parse_args()  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="mxcensus-bench-data-"))
    sizes = [int(x) for x in args.output_sizes.split(",") if x]
    if args.import_only:
        bench_import(tmp, args.import_records, args.repeat)
        bench_import_memory(tmp, args.import_records)
        return
    path = args.keep or tmp / "bench.duckdb"
    if not path.exists():
        secs = build(path, args.services)
        print(f"generated {args.services:,} services in DuckDB SQL in {secs:.1f} s")
    bench_report(path, args.repeat, full_html=not args.no_html)
    if args.keep is None:
        path.unlink()
    if not args.report_only:
        bench_import(tmp, args.import_records, args.repeat)
        bench_import_memory(tmp, args.import_records)
        if not args.no_output:
            bench_output_memory(tmp, sizes)


if __name__ == "__main__":
    main()
