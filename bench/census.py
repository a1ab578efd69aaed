"""A large census written straight into a store in DuckDB SQL, in the form the analysis
writes (services with ``pid``/``gid``; ``profiles``, ``verdicts`` and ``locations`` once per
distinct value), not through the pipeline: a million services in seconds.

Used by ``bench/data.py`` (export and notify memory at 1 and 10 million services) and by
``tests/output/test_memory.py`` (peak RSS of each output path on a million services).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson

from mxcensus.model import NO_FINDINGS, ScanId, Status
from mxcensus.store.db import Store

PRODUCTS = (
    # product, vendor, lines, versions per line, CVEs (id, kev, tags)
    ("ms-exchange", "microsoft", ("Exchange Server 2013", "Exchange Server 2016",
     "Exchange Server 2019"), 12, [("CVE-2021-26855", True, ["proxylogon"]),
     ("CVE-2021-34473", True, ["proxyshell"]), ("CVE-2022-41082", True, ["proxynotshell"]),
     ("CVE-2023-21529", False, []), ("CVE-2024-21410", True, [])]),
    ("exim", "exim", ("Exim 4",), 20, [("CVE-2019-10149", True, []),
     ("CVE-2020-28017", False, ["21nails"]), ("CVE-2023-42115", False, [])]),
    ("postfix", "postfix", ("Postfix 3",), 10, [("CVE-2023-51764", False, [])]),
    ("dovecot", "dovecot", ("Dovecot 2",), 8, [("CVE-2020-12100", False, [])]),
    ("unknown", None, (None,), 1, []),
)  # fmt: skip
STATUSES = ("vulnerable", "potentially-vulnerable", "not-vulnerable", "unknown")
COUNTRIES = (
    ("US", "NA"), ("DE", "EU"), ("FR", "EU"), ("GB", "EU"), ("NL", "EU"), ("RU", "EU"),
    ("CN", "AS"), ("JP", "AS"), ("IN", "AS"), ("BR", "SA"), ("AU", "OC"), ("ZA", "AF"),
)  # fmt: skip
BANNER = "220 mail-{host}.example.net ESMTP ready"
HOSTILE = "220 mail-{host}.example.net ESMTP \u202e\x1b[31m{host}"
"""One banner in 1,000 carries a bidi override and an ANSI escape, as hostile data does."""


def _profiles(rng: random.Random) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    prof: dict[str, list[Any]] = {k: [] for k in ("pid", "product", "vendor", "product_line",
                                                   "version", "precision", "worst_status",
                                                   "kev", "eol", "part")}  # fmt: skip
    verd: dict[str, list[Any]] = {k: [] for k in ("pid", "cve", "status", "kev", "tags")}
    pid = 0
    for product, vendor, lines, versions, cves in PRODUCTS:
        for line in lines:
            for v in range(versions):
                statuses = [rng.choice(STATUSES) for _ in cves]
                worst = (Status.worst(map(Status, statuses)).value if statuses
                         else ("unknown" if product == "unknown" else NO_FINDINGS))  # fmt: skip
                version = None if product == "unknown" else f"{v // 5 + 4}.{v}.{rng.randrange(99)}"
                eol = None if product == "unknown" else v < versions // 3
                kev = any(
                    k and s in STATUSES[:2] for (_, k, _), s in zip(cves, statuses, strict=True)
                )
                findings = [
                    {"id": c, "status": s, "kev": k, "cvss": 9.8,
                     "reason": f"{version} in the affected range; fixed in a later build " * 2,
                     "fixed_in": "later"}
                    for (c, k, _), s in zip(cves, statuses, strict=True)
                ]  # fmt: skip
                part = {
                    "vendor": vendor, "product": product, "product_line": line,
                    "version": version, "precision": "version", "release": None,
                    "confidence": "high", "distro": None, "evidence": ["smtp.banner"],
                    "cves": findings,
                    "eol": {"eol": eol, "line": line, "date": None},
                    "remediation": ["install the latest update of the line"],
                }  # fmt: skip
                for key, value in (("pid", pid), ("product", product), ("vendor", vendor),
                                   ("product_line", line), ("version", version),
                                   ("precision", "version"), ("worst_status", worst),
                                   ("kev", kev), ("eol", eol),
                                   ("part", orjson.dumps(part)[1:-1].decode())):  # fmt: skip
                    prof[key].append(value)
                for (c, k, tags), s in zip(cves, statuses, strict=True):
                    for key, value in (("pid", pid), ("cve", c), ("status", s), ("kev", k),
                                       ("tags", tags)):  # fmt: skip
                        verd[key].append(value)
                pid += 1
    return prof, verd


def _locations(n: int) -> dict[str, list[Any]]:
    loc: dict[str, list[Any]] = {k: [] for k in ("gid", "country", "continent", "asn", "org",
                                                  "part")}  # fmt: skip
    for gid in range(n):
        cc, continent = COUNTRIES[gid % len(COUNTRIES)]
        asn, org = 1000 + gid, f"Example Networks {gid} Ltd."
        part = {"country": cc, "continent": continent, "asn": asn, "org": org}
        for key, value in (("gid", gid), ("country", cc), ("continent", continent),
                           ("asn", asn), ("org", org),
                           ("part", orjson.dumps(part)[1:-1].decode())):  # fmt: skip
            loc[key].append(value)
    return loc


SERVICES = """
INSERT INTO service_rows BY NAME
WITH g AS (SELECT i, i // 3 AS host, hash(i) AS h FROM range($n) t(i))
SELECT $scan AS scan, $gen AS gen,
       printf('%d.%d.%d.%d', 1 + (host // 16777216) % 223, (host // 65536) % 256,
              (host // 256) % 256, host % 256) AS ip,
       [25, 587, 443][1 + i % 3]::INTEGER AS port,
       ['smtp', 'submission', 'https'][1 + i % 3] AS protocol,
       ['plain', 'starttls', 'tls'][1 + i % 3] AS transport,
       TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(i % 86400) AS observed_at,
       CASE WHEN h % 97 = 0 THEN 'refused' ELSE 'ok' END AS outcome,
       'scan' AS source, NULL AS hostname,
       p.vendor, p.product, p.product_line, p.version, NULL AS version_key, p.precision,
       NULL AS release, 'high' AS confidence, NULL AS distro, ['smtp.banner'] AS evidence,
       p.eol, p.product_line AS eol_line, NULL AS eol_date, p.kev, p.worst_status,
       l.country, l.continent, NULL AS region, l.asn, l.org, NULL AS city,
       'bench' AS geo_source,
       replace(CASE WHEN host % 1000 = 7 THEN $hostile ELSE $banner END, '{host}',
               host::VARCHAR) AS banner,
       p.pid, l.gid
FROM g JOIN _prof p ON p.pid = g.h % $profiles
       JOIN _loc l ON l.gid = (g.host * 7919) % $locations
"""


def build_census(path: Path, n: int, *, locations: int = 5000, seed: int = 1) -> float:
    """Write a finished scan ``census`` of ``n`` services into a new store at ``path``;
    returns the seconds it took."""
    import pyarrow as pa

    t0 = time.perf_counter()
    prof, verd = _profiles(random.Random(seed))
    loc = _locations(locations)
    with Store.open(path) as store:
        scan = store.create_scan(name="census", kind="scan", source="scan",
                                 scan_id=ScanId("census"))  # fmt: skip
        con = store.con
        con.register("_prof", pa.table(prof))
        con.register("_loc", pa.table(loc))
        con.register("_verd", pa.table(verd))
        # the scan's live generation (``scans.gen``): readers see its rows through the views
        (gen,) = con.execute("SELECT gen FROM scans WHERE id = $s", {"s": scan}).fetchall()[0]
        params = {"n": n, "scan": scan, "gen": gen, "banner": BANNER, "hostile": HOSTILE,
                  "profiles": len(prof["pid"]), "locations": locations}  # fmt: skip
        con.execute(SERVICES, params)
        key = {"scan": scan, "gen": gen}
        for table, rows, id_ in (
            ("profile_rows", "_prof", "pid"),
            ("location_rows", "_loc", "gid"),
        ):
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT $scan AS scan, $gen AS gen, {id_}, part"
                f" FROM {rows}",
                key,
            )
        con.execute(
            "INSERT INTO verdict_rows BY NAME SELECT $scan AS scan, $gen AS gen, pid, cve,"
            " status, kev, false AS ransomware, 9.8 AS cvss, 'in the affected range' AS reason,"
            " 'later' AS fixed_in, tags FROM _verd",
            key,
        )
        for name in ("_prof", "_loc", "_verd"):
            con.unregister(name)
        store.finish_scan(scan)
        con.execute("CHECKPOINT")
    return time.perf_counter() - t0
