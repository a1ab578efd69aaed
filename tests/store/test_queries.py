"""The store's read side (``store/queries.py``, ``store/filters.py``, ``store/sql.py``):
filters select what they say, values never enter the SQL, a scope holds in every query,
pages walk every service once, threads share a reader, a snapshot is one view.

Expected counts are worked out by hand from tests/report/fixture_store.py."""

from __future__ import annotations

import ipaddress
import shutil
import threading
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

import duckdb
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.errors import UsageError
from mxcensus.export.notify import safe_token
from mxcensus.export.shadowserver import APPS
from mxcensus.model import NO_FINDINGS, VERDICTS, ScanId, Status, hostname_source
from mxcensus.report import trend
from mxcensus.store import sql
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter, Scope, parse_network, severity_sql
from mxcensus.store.queries import Reader, service_key
from mxcensus.store.sql import HEXTETS, owner_sql, safe_token_sql
from tests.report import fixture_store

APRIL, NOVEMBER = ScanId("april-id"), ScanId("november-id")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture_store.build(tmp_path_factory.mktemp("q") / "census.duckdb")


@pytest.fixture(scope="module")
def reader(store_path: Path) -> Reader:
    return Store.open(store_path, read_only=True).reader()


def _addresses(reader: Reader, f: Filter) -> list[tuple[str, int]]:
    return [(r.ip, r.port) for r in chain.from_iterable(reader.flat_rows(f))]


CASES = [
    (Filter(scans=(APRIL,)), 8),
    (Filter(scans=(APRIL,), exposed=False), 9),
    (Filter(scans=(APRIL,), countries=("DE",)), 3),
    (Filter(scans=(APRIL,), continents=("NA",)), 2),
    (Filter(scans=(APRIL,), asns=(7018,)), 2),
    (Filter(scans=(APRIL,), orgs=("Free SAS",)), 1),
    (Filter(scans=(APRIL,), networks=(parse_network("192.0.2.0/24"),)), 4),
    (Filter(scans=(APRIL,), networks=(parse_network("192.0.2.2"),)), 1),
    (Filter(scans=(NOVEMBER,), networks=(parse_network("2001:db8::/32"),)), 1),
    (Filter(scans=(NOVEMBER,), networks=(parse_network("2001:db8::25/128"),)), 1),
    (Filter(scans=(NOVEMBER,), networks=(parse_network("2001:db8:1::/48"),)), 0),
    (Filter(scans=(APRIL,), ports=(443,)), 3),
    (Filter(scans=(APRIL,), protocols=("pop3",)), 1),
    (Filter(scans=(APRIL,), products=("exim",)), 2),
    (Filter(scans=(APRIL,), product_lines=("Exim 4",)), 2),
    (Filter(scans=(APRIL,), versions=("4.87",)), 1),
    (Filter(scans=(APRIL,), cves=("CVE-2019-10149",)), 2),
    (Filter(scans=(APRIL,), verdicts=("vulnerable",)), 2),
    (Filter(scans=(APRIL,), verdicts=(NO_FINDINGS,)), 2),
    (Filter(scans=(APRIL,), kev=True), 4),
    (Filter(scans=(APRIL,), eol=True), 3),
    (Filter(scans=(APRIL,), eol=False), 4),
    (Filter(scans=(APRIL,), at_risk=True), 5),
    (Filter(scans=(APRIL,), at_risk=False), 3),
    (Filter(scans=(APRIL,), countries=("DE",), ports=(25,)), 1),
    (Filter(seen_from=datetime(2026, 6, 1, tzinfo=UTC)), 7),
    (Filter(seen_to=datetime(2026, 6, 1, tzinfo=UTC)), 8),
    (Filter(scans=(APRIL, NOVEMBER)), 15),
]


@pytest.mark.parametrize(("f", "count"), CASES)
def test_filters_select_what_they_say(reader: Reader, f: Filter, count: int) -> None:
    assert len(_addresses(reader, f)) == count
    assert reader.totals(f).services == count


def test_values_travel_as_parameters(reader: Reader) -> None:
    hostile = "DE') OR true OR ('"
    f = Filter(scans=(APRIL,), countries=(hostile,), orgs=("x'; DROP TABLE services; --",))
    w = f.where()
    assert hostile not in w.sql and "DROP" not in w.sql
    assert hostile in w.params.values()
    assert _addresses(reader, f) == []
    with pytest.raises(UsageError, match="verdict 'bad'"):
        Filter(verdicts=("bad",))


def test_a_scope_holds_in_every_query(reader: Reader) -> None:
    de = reader.scoped(Scope(countries=("DE",)))
    f = Filter(scans=(APRIL,))
    assert {ip for ip, _ in _addresses(de, f)} == {"192.0.2.1", "192.0.2.3"}
    tot = de.totals(f, geo=True)
    assert (tot.hosts, tot.services) == (2, 3)
    assert [p.place for p in tot.places["country"]] == ["DE"]
    assert {g.keys for g in chain.from_iterable(de.groups(["country"], f))} == {("DE",)}
    assert [c.cve for c in de.cve_counts(f)] == ["CVE-2021-26855"]
    assert {r.ip for r in de.at_risk(f, 100)} == {"192.0.2.1", "192.0.2.3"}
    assert len(list(chain.from_iterable(de.record_texts(f)))) == 3
    rows = list(chain.from_iterable(de.shadow_rows(f, APPS, per="asn")))
    assert {r.ip for r in rows} == {"192.0.2.1", "192.0.2.3"}
    assert {o.owner for o in de.owner_files(f, APPS, "asn")} == {"as3320"}
    assert {t.scan for t in de.scan_totals(Filter(scans=(APRIL, NOVEMBER)))} == {
        APRIL,
        NOVEMBER,
    }
    assert sum(c.hosts for c in de.churn(APRIL, NOVEMBER, Filter())) == 2
    assert de.services(f, limit=100)[-1].ip == "192.0.2.3"
    # scopes only narrow: a filter asking outside sees nothing
    assert _addresses(de, Filter(scans=(APRIL,), countries=("US",))) == []
    assert _addresses(de.scoped(Scope(asns=(7018,))), f) == []
    assert _addresses(reader.scoped(Scope()), f) == []  # an empty scope sees nothing
    nets = reader.scoped(Scope(networks=(parse_network("198.51.100.0/25"),), asns=(2516,)))
    assert sorted(_addresses(nets, f)) == [
        ("198.51.100.1", 25),
        ("198.51.100.2", 25),
        ("203.0.113.5", 25),
    ]


def test_a_scope_hides_hosts_outside_it(store_path: Path, tmp_path: Path) -> None:
    from tests.factories import smtp_transcript

    db = tmp_path / "t.duckdb"
    shutil.copy(store_path, db)
    with Store.open(db) as store:
        store.con.execute("UPDATE scans SET status = 'running' WHERE id = $s", {"s": APRIL})
        store.write_transcripts(
            APRIL, [smtp_transcript(ip="192.0.2.1"), smtp_transcript(ip="198.51.100.1")]
        )
        store.finish_scan(APRIL)
        de = store.reader(Scope(countries=("DE",)))
        assert de.newest_scan_with("192.0.2.1") == APRIL
        assert len(de.host_transcripts(APRIL, "192.0.2.1")) == 1
        assert de.newest_scan_with("198.51.100.1") is None
        assert de.host_transcripts(APRIL, "198.51.100.1") == []
        assert store.reader().newest_scan_with("198.51.100.1") == APRIL


def test_pages_walk_every_service_once(reader: Reader) -> None:
    f = Filter(exposed=False)
    seen, after = [], None
    for _ in range(20):
        page = reader.services(f, after=after, limit=4)
        if not page:
            break
        seen.extend(service_key(r) for r in page)
        after = service_key(page[-1])
    assert len(seen) == len(set(seen)) == 16
    assert seen == sorted(seen)


def test_threads_share_one_reader(reader: Reader) -> None:
    f = Filter(scans=(APRIL, NOVEMBER))
    want = (reader.totals(f, geo=True), _addresses(reader, f), reader.cve_counts(f))
    got: list[object] = []

    def work() -> None:
        for _ in range(5):
            got.append((reader.totals(f, geo=True), _addresses(reader, f), reader.cve_counts(f)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert got == [want] * 20


def test_a_snapshot_is_one_view_while_a_writer_goes_on(store_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    shutil.copy(store_path, db)
    with Store.open(db) as store:
        reader, f = store.reader(), Filter(scans=(APRIL,))
        with reader.snapshot() as snap:
            before = snap.totals(f).services
            store.con.execute(
                "INSERT INTO service_rows SELECT * REPLACE ('192.0.2.99' AS ip)"
                " FROM service_rows WHERE scan = $s AND ip = '192.0.2.2'",
                {"s": APRIL},
            )
            assert snap.totals(f).services == before
        assert reader.totals(f).services == before + 1


def test_only_readable_scans_are_read(store_path: Path, tmp_path: Path) -> None:
    """``filters.READABLE``, store-write's rule: an import being written (or killed, or
    failed) is not picked by default, not read by name, not counted over every scan."""
    db = tmp_path / "r.duckdb"
    shutil.copy(store_path, db)
    with Store.open(db) as store:
        reader = store.reader()
        every = reader.totals(Filter()).services
        assert every == reader.totals(Filter(scans=(APRIL, NOVEMBER))).services == 8 + 7
        sid = store.create_scan(name="may", kind="import", source="shodan")
        store.write_services(sid, fixture_store.november(sid))  # visible rows, were it read
        assert reader.resolve_scan(None) == NOVEMBER
        with pytest.raises(UsageError, match=f"'may': the import {sid} did not finish"):
            reader.resolve_scan("may")
        assert store.resolve_scan("may") == sid  # the process writing it may
        assert reader.totals(Filter()).services == every
        assert [(s.name, s.readable) for s in reader.scans()] == [
            ("april", True), ("november", True), ("may", False),
        ]  # fmt: skip
        with pytest.raises(UsageError, match="--to 'may': the import"):
            trend.series(reader, None, "may")
        store.finish_scan(sid, "failed")
        with pytest.raises(UsageError, match="did not finish"):
            store.resolve_scan("may")
        assert reader.totals(Filter()).services == every
        store.finish_scan(sid)
        assert reader.resolve_scan(None) == sid
        assert reader.totals(Filter()).services == every + 7
        assert [s.id for s in trend.series(reader, None, None)] == [APRIL, NOVEMBER, sid]


def test_rows_say_where_a_host_name_came_from(store_path: Path, tmp_path: Path) -> None:
    """Shadowserver rows and JSONL records carry ``hostname_source``: a watched domain's MX
    as ``scan_names`` has it, else how the scan got the name (``target``)."""
    db = tmp_path / "n.duckdb"
    shutil.copy(store_path, db)
    with Store.open(db) as store:
        store.con.execute(
            "INSERT INTO scan_names VALUES ($s, '192.0.2.1', 'mail.de.example', 'mx:de.example',"
            " 'de.example')",
            {"s": APRIL},
        )
        store.con.execute(
            "UPDATE service_rows SET hostname = NULL WHERE scan = $s AND ip = '192.0.2.2'",
            {"s": APRIL},
        )
        reader, f = store.reader(), Filter(scans=(APRIL,), ips=("192.0.2.1", "192.0.2.2"))
        rows = list(chain.from_iterable(reader.shadow_rows(f, APPS)))
        records = [orjson.loads(t) for t in chain.from_iterable(reader.record_texts(f))]
        flat = list(chain.from_iterable(reader.flat_rows(f)))
        table = reader.arrow_batches(f)
        assert table is not None
        typed = table.read_all().to_pylist()
    want = {"192.0.2.1": ("mail.de.example", "mx:de.example"), "192.0.2.2": (None, None)}
    assert {r.ip: (r.hostname, r.hostname_source) for r in rows} == want
    assert {r["ip"]: (r.get("hostname"), r.get("hostname_source")) for r in records} == want
    assert {r.ip: (r.hostname, r.hostname_source) for r in flat} == want  # CSV
    assert {r["ip"]: (r["hostname"], r["hostname_source"]) for r in typed} == want  # Parquet
    with Store.open(store_path, read_only=True) as store:
        (row, *_) = chain.from_iterable(
            store.reader().shadow_rows(Filter(scans=(APRIL,), ips=("192.0.2.1",)), APPS)
        )
    assert (row.hostname, row.hostname_source) == ("mail.de.example", "target")


PLACED = [
    ("verdict",),
    ("country", "verdict"),
    ("verdict", "asn"),
    ("continent", "country", "verdict"),
]


def _window_groups(reader: Reader, keys: tuple[str, ...], f: Filter) -> list[tuple[object, ...]]:
    """The counts by :func:`sql.group_sql`, the window over every service."""
    w = reader._where(f)
    return sorted(tuple(r) for r in reader._all(sql.group_sql(keys, w), w.params))


@pytest.mark.parametrize("keys", PLACED)
def test_verdicts_by_place_count_as_the_window_does(reader: Reader, keys: tuple[str, ...]) -> None:
    """Grouped by verdict and where hosts are, the reader takes the window-free path
    (``sql.placed_group_sql``) and counts what the window counts, per scan and over both."""
    n = len(keys)
    for scans in ((APRIL,), (NOVEMBER,), (APRIL, NOVEMBER)):
        f = Filter(scans=scans)
        w = reader._where(f)
        placed = reader._all(sql.placed_group_sql(keys, w) or "", w.params)
        assert placed and all(r[-1] for r in placed)  # taken, and exact
        got = sorted((*g.keys, *g[1:]) for g in chain.from_iterable(reader.groups(keys, f)))
        assert got == _window_groups(reader, keys, f)
        window = reader._all(sql.group_sql(keys, w, per_scan=True), w.params)
        assert sorted(reader.scan_groups(keys, f)) == sorted(
            (r[0], tuple(r[1 : 1 + n]), r[1 + n], r[2 + n]) for r in window
        )


def test_verdicts_by_country_hand_counted(reader: Reader) -> None:
    groups = chain.from_iterable(reader.groups(("country", "verdict"), Filter(scans=(APRIL,))))
    assert {g.keys: (g.hosts, g.services) for g in groups} == {
        ("DE", "vulnerable"): (2, 2),  # 192.0.2.1 (also a "none" service) and .3
        ("DE", "none"): (0, 1),  # 192.0.2.1's port 25: its host counts under vulnerable
        ("FR", "potentially-vulnerable"): (1, 1),
        ("US", "potentially-vulnerable"): (1, 1),
        ("US", "none"): (1, 1),
        ("JP", "not-vulnerable"): (1, 1),
        ("BR", "unknown"): (1, 1),
    }


def test_a_host_in_two_places_is_counted_by_the_window(store_path: Path, tmp_path: Path) -> None:
    """A store where one host's services disagree on its country: the window-free answer
    says it is not exact, and the reader gives the window's counts instead."""
    db = tmp_path / "p.duckdb"
    shutil.copy(store_path, db)
    with Store.open(db) as store:
        store.con.execute(
            "UPDATE service_rows SET country = 'FR'"
            " WHERE scan = $s AND ip = '192.0.2.1' AND port = 25",
            {"s": APRIL},
        )
        reader, f = store.reader(), Filter(scans=(APRIL,))
        keys = ("country", "verdict")
        w = reader._where(f)
        placed = reader._all(sql.placed_group_sql(keys, w) or "", w.params)
        assert placed and not placed[0][-1]  # not exact
        groups = list(chain.from_iterable(reader.groups(keys, f)))
        assert sorted((*g.keys, *g[1:]) for g in groups) == _window_groups(reader, keys, f)
        by = {g.keys: (g.hosts, g.services) for g in groups}
        assert by[("DE", "vulnerable")] == (2, 2) and by[("FR", "none")] == (0, 1)


@pytest.mark.parametrize("source", ["scan", "shodan", "censys", "nmap-xml", "shadowserver"])
def test_hostname_source_is_the_same_in_sql(source: str) -> None:
    con = duckdb.connect()
    (got,) = con.execute(
        f"SELECT {sql.HOSTNAME_SOURCE_SQL}"
        " FROM (SELECT 'mx.example' AS hostname, $src AS source) s,"
        " (SELECT NULL::VARCHAR AS source) n",
        {"src": source},
    ).fetchone() or (None,)
    assert got == hostname_source(source)
    for none in ("''", "NULL"):  # no name, no source of it (as the records say)
        row = con.execute(
            f"SELECT {sql.HOSTNAME_SOURCE_SQL} FROM (SELECT {none}::VARCHAR AS hostname,"
            " $src AS source) s, (SELECT NULL::VARCHAR AS source) n",
            {"src": source},
        ).fetchone()
        assert row == (None,)


def test_severity_is_defined_once_on_status() -> None:
    assert [s.value for s in sorted(Status, key=lambda s: -s.severity)] == list(VERDICTS[:-1])
    assert Status.worst([Status.NOT_VULNERABLE, Status.UNKNOWN]) is Status.UNKNOWN
    con = duckdb.connect()
    for verdict in (*VERDICTS, "anything else"):
        (got,) = con.execute(f"SELECT {severity_sql('$v')}", {"v": verdict}).fetchone() or (None,)
        want = Status(verdict).severity if verdict in set(Status) else 0
        assert got == want, verdict


SQL = duckdb.connect()


@settings(deadline=None)
@given(st.ip_addresses())
def test_the_prefix_owner_is_pythons_network(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return  # written with a dotted tail by some Pythons; the store holds none
    bits = 24 if ip.version == 4 else 48
    want = safe_token(str(ipaddress.ip_network(f"{ip}/{bits}", strict=False)).replace("/", "_"))
    con = duckdb.connect()
    (got,) = con.execute(
        f"SELECT {owner_sql('prefix')} FROM (SELECT *, {HEXTETS} FROM (SELECT $ip AS ip) s) s",
        {"ip": str(ip)},
    ).fetchone() or ("",)
    assert got == want


@settings(deadline=None)
@given(st.text(max_size=120))
def test_owner_tokens_are_the_same_in_sql(text: str) -> None:
    if "\x00" in text:
        text = text.replace("\x00", "")
    (got,) = SQL.execute(f"SELECT {safe_token_sql('$t')}", {"t": text}).fetchone() or ("",)
    assert got == safe_token(text)


def test_a_failed_read_is_one_line(tmp_path: Path) -> None:
    from bench.census import build_census

    from mxcensus.errors import StoreError

    db = tmp_path / "c.duckdb"
    build_census(db, 20_000, locations=200)
    with Store.open(db, read_only=True) as store:
        reader = store.reader()
        with reader.bounded_memory("2MB"), pytest.raises(StoreError) as caught:
            list(reader.flat_rows(Filter(exposed=False)))
        assert str(caught.value).startswith(f"{db}: reading the store failed: Out of Memory")
        assert "\n" not in str(caught.value)
        assert len(list(chain.from_iterable(reader.flat_rows(Filter())))) > 19_000  # restored


def test_unjudged_counts_come_with_the_totals(tmp_path: Path) -> None:
    """The services that could not be judged are counted in the totals' one pass over the
    services; they are what a query of their own counts, with and without places, under a
    narrower filter too, and both kinds occur in the census."""
    from bench.census import build_census

    db = tmp_path / "u.duckdb"
    build_census(db, 20_000, locations=200)
    with Store.open(db, read_only=True) as store:
        reader = store.reader()
        for f in (Filter(), Filter(countries=("DE", "FR")), Filter(products=("exim",))):
            w = reader._where(f)
            known = "s.product <> 'unknown' AND s.worst_status = 'unknown'"
            (own,) = reader._all(
                f"""SELECT count(*) FILTER (WHERE s.product = 'unknown'),
                           count(DISTINCT s.ip) FILTER (WHERE s.product = 'unknown'),
                           count(*) FILTER (WHERE {known}),
                           count(DISTINCT s.ip) FILTER (WHERE {known})
                    FROM services s WHERE {w.sql}""",
                w.params,
            )
            for geo in (False, True):
                assert tuple(reader.totals(f, geo=geo).unjudged) == own
        everything = reader.totals(Filter()).unjudged
        assert everything.unidentified > 0 and everything.product_known > 0
