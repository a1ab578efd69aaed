"""The key does its job inside DuckDB: ORDER BY and range filters agree with the scheme."""

from __future__ import annotations

import duckdb

from mxcensus import kb
from mxcensus.versions import EXIM, version_key


def test_duckdb_orders_and_filters_exim_versions_like_the_scheme() -> None:
    versions = [r.version for r in kb.load_shipped().releases["exim"]]
    versions += ["4.89_1", "4.90_RC3", "4.90_1", "4.100", "4.92 #2", "hidden"]
    con = duckdb.connect()
    con.execute("CREATE TABLE services (version VARCHAR, version_key VARCHAR)")
    con.executemany(
        "INSERT INTO services VALUES (?, ?)", [(v, version_key("exim", v)) for v in versions]
    )
    rows = con.execute("SELECT version FROM services ORDER BY version_key, version").fetchall()
    ordered = [r[0] for r in rows]
    assert ordered == sorted(versions, key=lambda v: (EXIM.sort_key(v), v))
    # CVE-2019-10149: 4.87 <= v < 4.92, as one SQL range
    lo, hi = version_key("exim", "4.87"), version_key("exim", "4.92")
    hits = {
        r[0]
        for r in con.execute(
            "SELECT version FROM services WHERE version_key >= ? AND version_key < ?", [lo, hi]
        ).fetchall()
    }
    assert hits == {
        v
        for v in versions
        if EXIM.parses(v) and EXIM.compare(v, "4.87") >= 0 and EXIM.compare(v, "4.92") < 0
    }
    assert {"4.89_1", "4.90_RC3", "4.90_1", "4.91", "4.87"} <= hits
    assert "4.92 #2" not in hits and "4.100" not in hits and "hidden" not in hits
