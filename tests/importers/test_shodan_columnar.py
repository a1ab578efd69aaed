"""The columnar Shodan import gives exactly what the per-record Python path gives.

Each case imports the same file twice, each into its own fresh store: once with
``columnar=True`` (DuckDB parses a chunk, SQL builds the transcripts; a chunk it cannot
reproduce falls back) and once with ``columnar=False`` (``shodan._convert`` per record, the
reference). Everything an import leaves behind is compared: the ImportResult's counts and
problems, the transcripts (their JSON documents as dicts), the services (all columns but the
profile and location ids), the ``findings`` view and the exported records; errors must be
the same exception with the same message, and leave no scan behind.

``run.CHUNK_BYTES`` is made small so a file spans many chunks, a host's ports fall into
different chunks, and each hostile record of the variant files sits in a chunk of its own
(or nearly): one that the columnar path wrongly accepts shows as a difference instead of
being hidden by a neighbour that sends the whole chunk to the fallback.

The input is generated, seeded: realistic files (hosts with several ports, adjacent and
scattered), and the fixture's records with one field at a time set to hostile values.
"""

from __future__ import annotations

import copy
import gzip
import inspect
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from mxcensus.enrich.geo import GeoEnricher
from mxcensus.importers import run, shodan
from mxcensus.store.db import Store
from tests.importers.conftest import fixture

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
FIXTURE = fixture("shodan-mail.json")
RECORDS: list[dict[str, Any]] = [
    orjson.loads(x) for x in FIXTURE.read_bytes().splitlines() if x.strip()
]
EXIM, EXCH_SMTP, EXCH_HTTPS, DOVECOT_IMAPS, DOVECOT_POP3, SSH, POSTFIX = RECORDS
MAIL = [EXIM, EXCH_SMTP, EXCH_HTTPS, DOVECOT_IMAPS, DOVECOT_POP3, POSTFIX]

HAVE_COLUMNAR = "columnar" in inspect.signature(run.import_files).parameters
"""On main (before the columnar path exists) both imports take the Python path: the
harness runs, the comparisons hold trivially, and the columnar_chunks assertions fail."""


# -- running both paths ---------------------------------------------------------------


class _FrozenDatetime(datetime):
    """``datetime`` whose now() is :data:`NOW`: a banner without a time is stamped with the
    import's "now", which would differ between the two imports."""

    @classmethod
    def now(cls, tz: Any = None) -> _FrozenDatetime:
        return cls.fromtimestamp(NOW.timestamp(), tz or UTC)


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shodan, "datetime", _FrozenDatetime)
    if hasattr(run, "datetime"):  # the columnar path takes its "now" in run
        monkeypatch.setattr(run, "datetime", _FrozenDatetime)


@dataclass
class Outcome:
    """What one import left behind (or the error it raised and the store after it)."""

    result: dict[str, Any] | None
    chunks: int | None
    transcripts: list[tuple[Any, ...]]
    services: list[tuple[Any, ...]]
    findings: list[tuple[Any, ...]]
    records: list[bytes]
    record_keys: list[tuple[Any, ...]]
    error: tuple[str, str] | None = None
    state: dict[str, int] | None = None  # after an error: the rows of every table


def _canon(value: Any) -> bytes:
    """A JSON value in one form: keys sorted, so two documents compare as dicts do, except
    that 1 and 1.0 (or True) are told apart."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _import(
    tmp_path: Path,
    tag: str,
    paths: list[Path],
    *,
    columnar: bool,
    enricher: bool,
    strict: bool = False,
    analyze: bool = True,
    geo_db: Path | None = None,
) -> Outcome:
    store = Store.open(tmp_path / f"{tag}-{'col' if columnar else 'py'}.duckdb")
    try:
        kw: dict[str, Any] = {
            "strict": strict,
            "enricher": GeoEnricher([geo_db] if geo_db else ()) if enricher else None,
            "analyze": analyze,
        }
        if HAVE_COLUMNAR:
            kw["columnar"] = columnar
        try:
            res = run.import_files(store, "shodan", [str(p) for p in paths], **kw)
        except Exception as exc:  # noqa: BLE001 - compared, type and message, below
            return Outcome(
                None, None, [], [], [], [], [], (type(exc).__name__, str(exc)), _rows(store)
            )
        return _snapshot(store, res)
    finally:
        store.close()


def _rows(store: Store) -> dict[str, int]:
    """Rows in each table of the store but meta: a failed import leaves nothing behind."""
    tables = store.con.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND table_name <> 'meta' ORDER BY table_name"
    ).fetchall()
    return {
        t: int(store.con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]) for (t,) in tables
    }


def _empty(state: dict[str, int] | None) -> bool:
    return state is not None and not any(state.values())


def _snapshot(store: Store, res: run.ImportResult) -> Outcome:
    con = store.con
    scan = res.scan
    # the whole documents: since migration 6 transcripts.data may hold a part of one
    docs = "transcripts"
    if con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'transcript_docs'"
    ).fetchall()[0][0]:
        docs = "transcript_docs"
    transcripts = sorted(
        (*row[:7], _canon(orjson.loads(row[7])))
        for row in con.execute(
            "SELECT ip, port, protocol, transport, observed_at, outcome, source, data"
            f" FROM {docs} WHERE scan = ?",
            [scan],
        ).fetchall()
    )
    cur = con.execute("SELECT * EXCLUDE (scan, pid, gid) FROM services WHERE scan = ?", [scan])
    names = [d[0] for d in cur.description]
    services = []
    for row in cur.fetchall():
        values = list(row)
        if "record" in names and values[names.index("record")] is not None:
            record = orjson.loads(values[names.index("record")])
            record.pop("scan", None)
            values[names.index("record")] = _canon(record)
        services.append(tuple(values))
    services.sort(key=repr)
    findings = sorted(
        con.execute("SELECT * EXCLUDE (scan) FROM findings WHERE scan = ?", [scan]).fetchall(),
        key=repr,
    )
    records = []
    for r in store.iter_records(scan):
        assert r.pop("scan") == scan
        records.append(r)
    return Outcome(
        result={
            "fmt": res.fmt,
            "files": res.files,
            "records": res.records,
            "transcripts": res.transcripts,
            "skipped": res.skipped,
            "malformed": res.malformed,
            "problems": [(p.path, p.line, p.message) for p in res.problems],
            "services": res.services,
            "analyzed": res.analyzed,
            "bytes_read": res.bytes_read,
        },
        chunks=getattr(res, "columnar_chunks", None),
        transcripts=transcripts,
        services=services,
        findings=findings,
        # the export's order is (ip, port, protocol); ties (a port seen twice) in any order
        records=sorted(_canon(r) for r in records),
        record_keys=[(r["ip"], r["port"], r["protocol"]) for r in records],
    )


def _first_difference(name: str, col: list[Any], py: list[Any], names: tuple[str, str]) -> str:
    one, two = names
    for i, (a, b) in enumerate(zip(col, py, strict=False)):
        if a != b:
            where = f"{name}[{i}] differs (row {a[:3] if isinstance(a, tuple) else ''})"
            if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
                cols = ", ".join(
                    f"column {j}: {one} {x!r:.600} {two} {y!r:.600}"
                    for j, (x, y) in enumerate(zip(a, b, strict=True))
                    if x != y
                )
                return f"{where}: {cols}"
            return f"{where}:\n  {one}: {a!r:.3000}\n  {two}: {b!r:.3000}"
    return f"{name}: {len(col)} rows ({one}) against {len(py)} ({two})"


def assert_same(col: Outcome, py: Outcome, names: tuple[str, str] = ("columnar", "python")) -> None:
    """The two outcomes are the same; else every table's first difference."""
    assert col.error == py.error, f"the two paths end differently ({names})"
    assert col.state == py.state
    if col.result != py.result:
        assert col.result is not None and py.result is not None
        wrong = {k: (v, py.result[k]) for k, v in col.result.items() if v != py.result[k]}
        raise AssertionError(f"ImportResult differs, {names}: {wrong!r:.5000}")
    differ = [
        _first_difference(name, getattr(col, name), getattr(py, name), names)
        for name in ("transcripts", "services", "findings", "records", "record_keys")
        if getattr(col, name) != getattr(py, name)
    ]
    assert not differ, "\n".join(differ)


def compare(
    tmp_path: Path,
    paths: list[Path],
    *,
    enrichers: tuple[bool, ...] = (True,),
    strict: bool = False,
    analyze: bool = True,
    geo_db: Path | None = None,
    columnar: int = 1,
) -> list[Outcome]:
    """Both paths on ``paths``, with each enricher setting (``geo_db``: an MMDB file the
    enricher reads too); the columnar outcomes. Unless the import fails, the columnar
    import must have taken the fast path for at least ``columnar`` chunks (0: a test of
    the fallback alone), so that "both agree" never means "both went record by record"."""
    got = []
    for enricher in enrichers:
        tag = f"{paths[0].name}-{'geo' if enricher else 'nogeo'}-{'strict' if strict else ''}"
        kw = {"enricher": enricher, "strict": strict, "analyze": analyze, "geo_db": geo_db}
        col = _import(tmp_path, tag, paths, columnar=True, **kw)
        py = _import(tmp_path, tag, paths, columnar=False, **kw)
        assert_same(col, py)
        assert py.chunks in (None, 0), "columnar=False must not take the columnar path"
        if col.error is None and HAVE_COLUMNAR:
            assert col.chunks is not None and col.chunks >= columnar, (
                f"the columnar path took {col.chunks} chunks, at least {columnar} expected"
            )
        got.append(col)
    return got


def write_lines(path: Path, lines: list[bytes], *, gz: bool = False, end: bytes = b"\n") -> Path:
    data = b"".join(line + end for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def dump(rec: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(rec)
    except TypeError:  # an integer beyond 64 bits: json writes it
        return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.fixture
def chunk_bytes(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    def set_to(n: int) -> None:
        monkeypatch.setattr(run, "CHUNK_BYTES", n, raising=HAVE_COLUMNAR)

    set_to(4_000)
    return set_to


# -- realistic input ------------------------------------------------------------------

_EXIM_VERSIONS = ("4.92", "4.94.2", "4.96", "4.97.1", "4.98", "4.87", "4.99.1")
_OWA_BUILDS = ("15.1.2375.7", "15.1.2507.6", "15.2.1118.7", "15.0.1497.2", "15.2.1544.4")
_PLACES: tuple[dict[str, str | None], ...] = (
    {"country_code": "DE", "city": "Frankfurt am Main", "region_code": "HE"},
    {"country_code": "AT", "city": "Vienna", "region_code": "9"},
    {"country_code": "FR", "city": "Paris", "region_code": None},
    {"country_code": "US", "city": "Ashburn", "region_code": "VA"},
    {"country_code": "JP"},
    {},
)
_NETS = (("AS64500", "Example Hosting GmbH"), ("AS64501", "Example Corp"), ("AS3320", "DTAG"))


def _host_records(rng: random.Random, ip: str) -> list[dict[str, Any]]:
    """One host's banners: an Exim, an Exchange, a Dovecot, a Postfix, or Exchange and Exim
    mixed on one address (ports 25, 465, 587, 993, 443)."""
    place = dict(rng.choice(_PLACES))
    asn, org = rng.choice(_NETS)
    name = f"mx{rng.randrange(1000)}.example.{rng.choice(['net', 'org', 'de'])}"
    exim_v = rng.choice(_EXIM_VERSIONS)
    owa = rng.choice(_OWA_BUILDS)

    def exim(port: int) -> dict[str, Any]:
        r = copy.deepcopy(EXIM)
        r["data"] = r["data"].replace("4.92", exim_v).replace("mail.example.net", name)
        r["version"] = exim_v
        r["cpe23"] = [f"cpe:2.3:a:exim:exim:{exim_v}"]
        if port == 587:
            r.pop("ssl")
        if port == 465:
            r["_shodan"]["module"] = "smtps"
        return dict(r, port=port)

    def exchange(port: int) -> dict[str, Any]:
        if port == 443:
            r = copy.deepcopy(EXCH_HTTPS)
            r["data"] = r["data"].replace("15.1.2375.7", owa)
            r["http"]["html"] = r["http"]["html"].replace("15.1.2375", owa.rsplit(".", 1)[0])
            return r
        return dict(copy.deepcopy(EXCH_SMTP), port=port)

    def dovecot(port: int) -> dict[str, Any]:
        if port in (110, 995):
            r = copy.deepcopy(DOVECOT_POP3)
            if port == 995:
                r["ssl"] = copy.deepcopy(DOVECOT_IMAPS["ssl"])
                r["_shodan"]["module"] = "pop3-ssl"
        else:
            r = copy.deepcopy(DOVECOT_IMAPS)
            if port == 143:
                r["_shodan"]["module"] = "imap"
                if rng.random() < 0.5:
                    r.pop("ssl")
        return dict(r, port=port)

    def postfix(port: int) -> dict[str, Any]:
        return dict(copy.deepcopy(POSTFIX), port=port)

    kind = rng.randrange(6)
    if kind == 0:
        recs = [exim(p) for p in (25, 465, 587)]
    elif kind == 1:
        recs = [exchange(25), exchange(443)]
    elif kind == 2:
        recs = [dovecot(p) for p in rng.sample([110, 143, 993, 995], rng.randint(1, 4))]
    elif kind == 3:
        recs = [postfix(25), postfix(587), dovecot(993)]
    elif kind == 4:
        recs = [exim(25), exim(465), exim(587), dovecot(993), exchange(443)]
    else:
        recs = [postfix(25), dict(copy.deepcopy(SSH), port=22)]
    when = datetime(2024, 3, 1, tzinfo=UTC).timestamp() + rng.randrange(30 * 86400)
    for i, r in enumerate(recs):
        r["ip_str"] = ip
        r.pop("ip", None)
        r["location"] = place
        r["asn"], r["org"], r["isp"] = asn, org, org
        r["hostnames"] = [name] if rng.random() < 0.7 else []
        stamp = datetime.fromtimestamp(when + i * 37 + rng.random(), UTC)
        r["timestamp"] = stamp.replace(tzinfo=None).isoformat(timespec="microseconds")
    return recs


def realistic(
    rng: random.Random, hosts: int, *, scatter: float = 0.5, first: int = 0
) -> list[bytes]:
    """``hosts`` hosts' banners (addresses from the ``first``-th on); a share ``scatter``
    of them spread through the file."""
    adjacent: list[dict[str, Any]] = []
    scattered: list[dict[str, Any]] = []
    for i in range(first, first + hosts):
        v6 = rng.random() < 0.1
        ip = f"2001:db8:{i // 65536:x}::{i % 65536:x}" if v6 else f"198.18.{i // 250}.{i % 250 + 1}"
        recs = _host_records(rng, ip)
        (scattered if rng.random() < scatter else adjacent).extend(recs)
    out = list(adjacent)
    for r in scattered:
        out.insert(rng.randrange(len(out) + 1), r)
    return [dump(r) for r in out]


# -- hostile values -------------------------------------------------------------------

_CUT = 1024  # _common.MAX_EXTRA: kept text is cut there
HOSTILE: dict[str, Any] = {
    "text": "Example 1.2 (Debian)",
    "empty": "",
    "blank": "  ",
    "null": None,
    "int": 7,
    "zero": 0,
    "negative": -3,
    "bigint": 2**63 + 5,
    "float": 2.5,
    "float_whole": 3.0,
    "float_exp": 1e300,
    "float_small": 1e-7,
    "negzero": -0.0,
    "true": True,
    "false": False,
    "list": ["a", "b"],
    "list_empty": [],
    "list_one": ["only"],
    "list_number": ["a", 1],
    "list_float": [1.5, "c"],
    "list_null": ["a", None],
    "list_bool": [True, "b"],
    "list_dict": ["a", {"x": 1}],
    "list_nested": [["a"], "b"],
    "dict": {"k": "v"},
    "dict_empty": {},
    "long_ascii": "x" * 5000,
    "long_emoji_at_cut": "x" * (_CUT - 2) + "\U0001f600\U0001f389" + "y" * 10,
    "long_emoji_over_cut": "x" * (_CUT - 1) + "\U0001f600" + "y" * 10,
    "long_skin_tone": "a" * (_CUT - 1) + "\U0001f44d\U0001f3fd" + "b",
    "long_flag": "a" * (_CUT - 1) + "\U0001f1e9\U0001f1ea",
    "long_combining": "e" * (_CUT - 1) + "\u0301\u0301" + "z" * 5,
    "long_combining_before": "e" * (_CUT - 2) + "\u0301" + "z" * 50,
    "long_all_emoji": "\U0001f600" * 1100,
    "long_latin1": "\xe4" * 1500,
    "long_list": ["x" * 600, "y" * 600],
    "long_list_number": ["x" * 1030, 5],
    "control": "a\x00b\x01c\x1f\x7f\x85d",
    "crlf": "a\r\nb\tc",
    "html": "<script>alert(1)</script>&amp;<b>",
    "formula": '=HYPERLINK("http://x")',
    "unicode": "\xdcn\xefc\xf6d\xe9 \u2713 \u200b",
    "bidi": "\u202eabc",
    "quotes": "a\\b\"c'd",
}


def _put(rec: dict[str, Any], field: str, value: Any) -> None:
    """Set a kept field, dotted for the nested ones (``http.title``)."""
    if "." in field:
        outer, inner = field.split(".")
        if not isinstance(rec.get(outer), dict):
            rec[outer] = {}
        rec[outer][inner] = value
    else:
        rec[field] = value


def _unique(rec: dict[str, Any], i: int, base: str = "100.64") -> dict[str, Any]:
    rec = copy.deepcopy(rec)
    rec.pop("ip", None)
    rec["ip_str"] = f"{base}.{i // 250}.{i % 250 + 1}"
    return rec


def interleaved(variants: list[dict[str, Any] | bytes], *, seed: int) -> list[bytes]:
    """Each variant after an ordinary record of another address (first line ordinary)."""
    rng = random.Random(seed)
    lines = []
    for i, v in enumerate(variants):
        lines.append(dump(_unique(rng.choice(MAIL), i, "100.100")))
        lines.append(v if isinstance(v, bytes) else dump(v))
    return lines


ONE_LINE = 1
"""CHUNK_BYTES for the variant files: every line a chunk of its own, so a variant the
columnar path wrongly accepts cannot hide behind one that sends its chunk to the fallback
(a chunk costs the columnar path ~0.1 s of CPU: the files stay short)."""


def variant_file(tmp_path: Path, name: str, variants: list[dict[str, Any] | bytes]) -> Path:
    """An ordinary first line (the format check), then one variant per line."""
    first = dump(_unique(POSTFIX, 0, "100.99"))
    lines = [first, *(v if isinstance(v, bytes) else dump(v) for v in variants)]
    return write_lines(tmp_path / f"{name}.json", lines)


KEPT_FIELDS = (
    "product",
    "version",
    "info",
    "os",
    "isp",
    "devicetype",
    "cpe23",
    "cpe",
    "domains",
    "_shodan.id",
    "_shodan.module",
    "http.title",
    "http.server",
    "http.host",
    "location.country_code",
    "location.city",
    "location.region_code",
    "asn",
    "org",
)


def field_variants(field: str) -> list[dict[str, Any]]:
    """The field set to each hostile value, the mail templates in turn (the http.* fields
    on the HTTPS banner and on an SMTP one, which ``http`` makes a web banner)."""
    out = []
    templates = [EXCH_HTTPS, EXIM] if field.startswith("http.") else MAIL
    for i, value in enumerate(HOSTILE.values()):
        rec = _unique(templates[i % len(templates)], i + 1)
        _put(rec, field, value)
        out.append(rec)
    return out


def _on_templates(
    make: Callable[[dict[str, Any], Any], dict[str, Any]],
    values: list[Any],
    templates: list[dict[str, Any]] = MAIL,
    *,
    each: bool = False,
) -> list[dict[str, Any] | bytes]:
    """``make`` of each value on a template (the templates in turn, or ``each`` of them)."""
    out: list[dict[str, Any] | bytes] = []
    for i, value in enumerate(values):
        for t in templates if each else [templates[i % len(templates)]]:
            out.append(make(_unique(t, len(out) + 1), value))
    return out


_MISSING = object()


def _with(key: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    def make(rec: dict[str, Any], value: Any) -> dict[str, Any]:
        if value is _MISSING:
            rec.pop(key, None)
        else:
            rec[key] = value
        return rec

    return make


def _raw(rec: dict[str, Any], key: str, text: bytes) -> bytes:
    """The record as a line with ``key``'s value written as ``text`` (JSON that orjson
    would never write: ``1.10``, ``0.00``, ``25.0``); a dotted key for a nested field."""
    rec = copy.deepcopy(rec)
    _put(rec, key, "@@RAW@@")
    line = dump(rec)
    assert line.count(b'"@@RAW@@"') == 1
    return line.replace(b'"@@RAW@@"', text)


# -- the tests: ordinary data ---------------------------------------------------------


def test_the_fixture(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(20_000)
    (col, _) = compare(tmp_path, [FIXTURE], enrichers=(True, False))
    assert col.chunks is not None and col.chunks >= 1, "the fixture took the fallback"
    assert col.result is not None and col.result["transcripts"] == 6


def test_the_fixture_gz_line_by_line(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    (col,) = compare(tmp_path, [fixture("shodan-mail.json.gz")])
    assert col.chunks == 7, "each line of the fixture is a chunk the columnar path takes"


@pytest.mark.parametrize(("size", "hosts"), [(2_000, 30), (20_000, 120), (100_000, 120)])
def test_realistic_hosts_across_chunks(
    tmp_path: Path, chunk_bytes: Callable[[int], None], size: int, hosts: int
) -> None:
    chunk_bytes(size)
    lines = realistic(random.Random(size), hosts)
    path = write_lines(tmp_path / "real.json", lines)
    (col, _) = compare(tmp_path, [path], enrichers=(True, False))
    # nothing in it needs the fallback: every chunk is columnar, and a chunk (whole lines,
    # about CHUNK_BYTES) holds at most CHUNK_BYTES and a line
    least = path.stat().st_size // (size + max(len(x) + 1 for x in lines))
    assert col.chunks is not None and col.chunks >= max(1, least), (col.chunks, least)


def test_realistic_hosts_with_an_mmdb(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """With an MMDB file the enricher answers per address whatever the importer's hint, so
    the columnar analysis locates every single-service host by its address (one query for
    all such hints of a chunk); part of the addresses are in the database, part not."""
    from tests.enrich.conftest import city, write_mmdb

    db = write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City",
                    {"198.18.0.0/23": city("JP", "AS", "Tokyo")})  # fmt: skip
    chunk_bytes(20_000)
    path = write_lines(tmp_path / "mmdb.json", realistic(random.Random(31), 60))
    (col,) = compare(tmp_path, [path], geo_db=db)
    assert col.chunks
    assert any("Tokyo" in str(row) for row in col.services)


def test_realistic_gz_and_several_files(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(15_000)
    rng = random.Random(7)
    a = write_lines(tmp_path / "a.json.gz", realistic(rng, 60), gz=True)
    b = write_lines(tmp_path / "b.json", realistic(rng, 40, scatter=1.0, first=1000))
    (col,) = compare(tmp_path, [a, b])
    assert col.chunks is not None and col.chunks >= 2


def test_the_same_hosts_in_two_files(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """Two files (two crawls) of partly the same addresses, each with its own location,
    network and organisation hints: a host's services get the same location either way."""
    chunk_bytes(15_000)
    rng = random.Random(7)
    a = write_lines(tmp_path / "a.json.gz", realistic(rng, 60), gz=True)
    b = write_lines(tmp_path / "b.json", realistic(rng, 40, scatter=1.0))
    compare(tmp_path, [a, b])


def test_the_same_hosts_twice_in_one_file(
    tmp_path: Path, chunk_bytes: Callable[[int], None]
) -> None:
    """One file of two crawls: a port seen twice, in the same chunk or in others."""
    chunk_bytes(15_000)
    rng = random.Random(17)
    lines = realistic(rng, 40) + realistic(rng, 40, scatter=1.0)
    compare(tmp_path, [write_lines(tmp_path / "twice.json", lines)])


def test_the_reference_does_not_depend_on_its_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fast path is held to must be one answer: the record by record path in
    batches of 7 (hosts split between batches, analysed again at the end) and of 5,000
    (every host whole) on a file where ports recur (two crawls). Today they differ: the
    end reads a split host's transcripts ORDER BY ip, port, so which of a port's two
    records comes first (the host's location, the Exchange build shared with its other
    services, hence CVE verdicts) is DuckDB's choice; in one batch it is the file's order."""
    rng = random.Random(17)
    path = write_lines(
        tmp_path / "twice.json", realistic(rng, 40) + realistic(rng, 40, scatter=1.0)
    )
    whole = _import(tmp_path, "whole", [path], columnar=False, enricher=True)
    monkeypatch.setattr(run, "BATCH", 7)
    split = _import(tmp_path, "split", [path], columnar=False, enricher=True)
    assert_same(split, whole, ("batch 7", "batch 5000"))


def test_without_analysis(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """``analyze=False`` (transcripts only): the same transcripts, counts and problems."""
    chunk_bytes(3_000)
    rng = random.Random(29)
    lines = realistic(rng, 30)
    for line in [*raw_lines()[::3], *(dump(v) for v in field_variants("product")[::4])]:
        lines.insert(rng.randrange(1, len(lines)), line)
    (col,) = compare(tmp_path, [write_lines(tmp_path / "bare.json", lines)], analyze=False)
    assert col.result is not None and not col.result["analyzed"] and not col.services
    assert col.chunks, "the columnar path serves imports without analysis too"


def test_small_batches_and_commits(
    tmp_path: Path, chunk_bytes: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference path in batches of 7 transcripts (hosts split between batches are
    analysed again at the end), a commit after each; the columnar path in small chunks, a
    commit after each."""
    chunk_bytes(6_000)
    monkeypatch.setattr(run, "BATCH", 7)
    monkeypatch.setattr(run, "COMMIT_EVERY", 1)
    monkeypatch.setattr(run, "COMMIT_CHUNKS", 1, raising=HAVE_COLUMNAR)
    lines = realistic(random.Random(19), 50)
    compare(tmp_path, [write_lines(tmp_path / "small.json", lines)], enrichers=(True, False))


def test_bounded_memos_across_chunks(
    tmp_path: Path, chunk_bytes: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What either path remembers between records or chunks (banner steps, certificates,
    stored parts), cleared again and again."""
    chunk_bytes(4_000)
    monkeypatch.setattr(shodan, "_MEMO_ENTRIES", 2)
    monkeypatch.setattr(shodan, "_MEMO_CHARS", 3_000)
    try:
        from mxcensus.importers import shodan_columnar
    except ImportError:  # main: no columnar path yet
        pass
    else:
        parts = getattr(shodan_columnar, "Parts", None)
        if parts is not None:
            monkeypatch.setattr(parts, "MAX", 2)
    lines = realistic(random.Random(23), 50)
    compare(tmp_path, [write_lines(tmp_path / "memo.json", lines)])


def test_realistic_crlf_and_no_final_newline(
    tmp_path: Path, chunk_bytes: Callable[[int], None]
) -> None:
    chunk_bytes(10_000)
    lines = realistic(random.Random(3), 30)
    path = tmp_path / "crlf.json"
    path.write_bytes(b"\r\n".join(lines))  # CRLF endings, the last line unterminated
    compare(tmp_path, [path])


def test_one_chunk_columnar_and_fallback(
    tmp_path: Path, chunk_bytes: Callable[[int], None]
) -> None:
    """A file of one chunk: ordinary, it goes columnar; with one malformed line, not."""
    chunk_bytes(1_000_000)
    lines = realistic(random.Random(11), 20)
    (good,) = compare(tmp_path, [write_lines(tmp_path / "good.json", lines)])
    assert good.chunks == 1
    bad_lines = [*lines[:10], b'{"port": 25, "ip_str": ', *lines[10:]]
    (bad,) = compare(tmp_path, [write_lines(tmp_path / "bad.json", bad_lines)], columnar=0)
    assert bad.chunks == 0
    assert bad.result is not None and bad.result["malformed"] == 1


@pytest.mark.parametrize("key", ["bh", "sh"])
def test_a_hash_collision_sends_the_chunk_record_by_record(
    tmp_path: Path, chunk_bytes: Callable[[int], None], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """Rows find their banner (``bh``) and TLS facts (``sh``) by a 64-bit hash: made to
    collide for every row, the chunk must go record by record, never join a record to
    another's banner or certificate."""
    from mxcensus.importers import shodan_columnar as sc

    staged = sc._stage_sql

    def colliding(path: str) -> str:
        sql, n = re.subn(
            rf"hash\((?:[^()]|\([^()]*\))*\) AS {key}\b", f"7::UBIGINT AS {key}", staged(path)
        )
        assert n == 1, "the staging query no longer computes " + key
        return sql

    monkeypatch.setattr(sc, "_stage_sql", colliding)
    chunk_bytes(1_000_000)
    lines = realistic(random.Random(5), 20)
    (col,) = compare(tmp_path, [write_lines(tmp_path / "real.json", lines)], columnar=0)
    assert col.chunks == 0
    assert col.result is not None and col.result["transcripts"] > 20


@pytest.mark.parametrize("into", [0, 1, 2, 3, 4])
def test_a_byte_order_mark_across_the_chunk_boundary(
    tmp_path: Path, chunk_bytes: Callable[[int], None], into: int
) -> None:
    """A chunk is read as a block of CHUNK_BYTES and the rest of its last line. A byte order
    mark starting a chunk's file DuckDB reads past (orjson refuses the line), one elsewhere
    it refuses: wherever the block's end falls around the mark, before it (the mark starts
    the next chunk) or inside it, its line is reported malformed as record by record."""
    lines = realistic(random.Random(3), 4)
    lines[2] = b"\xef\xbb\xbf" + lines[2]
    chunk_bytes(len(lines[0]) + len(lines[1]) + 2 + into)
    (col,) = compare(tmp_path, [write_lines(tmp_path / "bom.json", lines, end=b"\n")])
    assert col.result is not None and col.result["malformed"] == 1
    assert col.chunks is not None and col.chunks >= 1


# -- the tests: one field at a time ---------------------------------------------------


@pytest.mark.parametrize("field", KEPT_FIELDS)
def test_kept_field_values(tmp_path: Path, chunk_bytes: Callable[[int], None], field: str) -> None:
    chunk_bytes(ONE_LINE)
    path = variant_file(tmp_path, "field", list(field_variants(field)))
    compare(tmp_path, [path])


RAW_NUMBERS = [b"1.10", b"5.000", b"2.50", b"0.10", b"100.0", b"3.0", b"0.0", b"0.00", b"-0",
               b"1E2", b"1.5e0", b"12345678901234567890", b"0.30000000000000004", b"1e-7",
               b"123456789.123456789"]  # fmt: skip


def test_numbers_written_as_json_never_writes_them(
    tmp_path: Path, chunk_bytes: Callable[[int], None]
) -> None:
    """Kept fields, org, asn, time and port as numbers in forms orjson would not write:
    Python sees the float (``1.1``), a text column may keep the source's digits."""
    chunk_bytes(ONE_LINE)
    lines: list[dict[str, Any] | bytes] = []
    fields = ["version", "http.title", "location.city", "org", "asn", "timestamp", "cpe23"]
    for i, field in enumerate(fields):
        for j, text in enumerate(RAW_NUMBERS):
            rec = _unique(EXCH_HTTPS if field.startswith("http.") else MAIL[j % 6], 20 * i + j)
            if field in ("cpe23", "hostnames"):
                lines.append(_raw(rec, field, b"[" + text + b', "x"]'))
            else:
                lines.append(_raw(rec, field, text))
    for j, text in enumerate([b"25.0", b"25.00", b"2.5e1", b"25", b"0.25e2", b"025"]):
        lines.append(_raw(_unique(EXIM, 300 + j), "port", text))
    compare(tmp_path, [variant_file(tmp_path, "numbers", lines)])


ADDRESS_CASES: dict[str, dict[str, Any]] = {
    "v6": {"ip_str": "2001:db8::25"},
    "v6_noncanonical": {"ip_str": "2001:DB8:0:0:0:0:0:0025"},
    "v6_mapped": {"ip_str": "::ffff:192.0.2.1"},
    "v6_zone": {"ip_str": "fe80::1%eth0"},
    "v4_spaces": {"ip_str": " 10.0.0.1 "},
    "v4_tab_newline": {"ip_str": "\t10.0.0.2\n"},
    "v4_leading_zeros": {"ip_str": "010.000.000.001"},
    "v4_leading_zero": {"ip_str": "10.0.0.01"},
    "v4_short": {"ip_str": "10.1"},
    "v4_fullwidth_digits": {"ip_str": "\uff11\uff10.0.0.5"},
    "v4_arabic_digits": {"ip_str": "\u0661\u0660.0.0.6"},
    "not_an_address": {"ip_str": "mail.example.net"},
    "nul_inside": {"ip_str": "10.0.0.3\x00"},
    "empty_with_int": {"ip_str": "", "ip": 3221226010},
    "number_with_int": {"ip_str": 5, "ip": 3221226011},
    "missing_with_v4_int": {"ip": 3221226012},
    "missing_with_v6_int": {"ip": 2**32 + 7},
    "missing_with_u64": {"ip": 2**64 - 1},
    "missing_with_huge": {"ip": 2**64 + 1},
    "missing_with_negative": {"ip": -1},
    "missing_with_string": {"ip": "192.0.2.77"},
    "missing_with_float": {"ip": 3221226013.0},
    "missing_with_bool": {"ip": True},
    "missing_with_null": {"ip": None},
    "neither": {},
    "null_with_int": {"ip_str": None, "ip": 3221226014},
    "list": {"ip_str": ["10.0.0.4"]},
    "true": {"ip_str": True, "ip": 3221226015},
}


def test_addresses(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    variants: list[dict[str, Any] | bytes] = []
    for n, fields in enumerate(ADDRESS_CASES.values()):
        rec = copy.deepcopy(MAIL[n % len(MAIL)])
        rec.pop("ip", None)
        rec.pop("ip_str", None)
        rec.update(fields)
        variants.append(rec)
    compare(tmp_path, [variant_file(tmp_path, "addresses", variants)], enrichers=(True, False))


def test_ports_and_transports(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    ports = ["25", 25.0, 25.5, True, False, 0, -25, 70000, 65535, 2**64, None, _MISSING, [25]]
    transports = ["udp", _MISSING, "", None, "TCP", " tcp", 5, 0, False, ["tcp"], {}]
    variants = _on_templates(_with("port"), ports) + _on_templates(_with("transport"), transports)
    # a True port only makes a mail banner when the module says what it is
    variants += [dict(_unique(EXIM, 900), port=True, _shodan={"module": "smtp"})]
    compare(tmp_path, [variant_file(tmp_path, "ports", variants)])


def _module(rec: dict[str, Any], spec: tuple[int, str | None, str, str]) -> dict[str, Any]:
    port, module, ssl, data = spec
    rec["port"] = port
    rec["_shodan"] = {"id": f"m{port}", "module": module} if module is not None else {}
    http = rec.pop("http", None)
    rec.pop("ssl", None)
    if ssl in ("ssl", "ssl_http"):
        rec["ssl"] = copy.deepcopy(EXIM["ssl"])
    if ssl == "chain":
        rec["ssl"] = {k: v for k, v in EXIM["ssl"].items() if k != "cert"}
    if ssl == "noversions":
        rec["ssl"] = {k: v for k, v in EXIM["ssl"].items() if k != "versions"}
    if ssl in ("http", "ssl_http"):
        rec["http"] = http or copy.deepcopy(EXCH_HTTPS["http"])
    rec.update(_DATA[data])
    if data == "missing":
        rec.pop("data", None)
    return rec


_DATA: dict[str, dict[str, Any]] = {
    "keep": {},
    "missing": {},
    "null": {"data": None},
    "number": {"data": 250},
    "float": {"data": 2.5},
    "bool": {"data": True},
    "list": {"data": ["220 a", "250 b"]},
    "dict": {"data": {"banner": "220 x"}},
    "empty": {"data": ""},
    "nonascii": {"data": "220 m\xe4il \U0001f600 ESMTP\r\n250 OK\r\n"},
    "bare_lf": {"data": "220 a ESMTP\n250-b\n250 SIZE 1\n"},
    "nul": {"data": "220 a\x00b\r\n250 OK\r\n"},
    "long": {"data": "220 " + "x" * 70_000 + "\r\n"},
    "http_head": {"data": "HTTP/1.1 302 Found\r\nLocation: /owa/\r\nServer: nginx\r\n\r\n"},
}
_MODULE_PORTS = [(22, "ssh"), (25, "smtp"), (25, "smtps"), (25, "SMTP"), (25, " smtp "),
                 (25, None), (26, "smtp"), (2525, "http"), (80, "http"), (443, "https"),
                 (8443, "https-simple-new"), (443, None), (465, "smtp"), (465, None),
                 (587, "smtp"), (993, "imap"), (993, "imap-ssl"), (995, "pop3"), (143, "imap"),
                 (110, "pop3"), (3389, "rdp"), (8080, "ssh")]  # fmt: skip


def test_modules_and_tls(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """Mail and web modules on their ports and others, with and without ``ssl`` and
    ``http``: implicit TLS (465/993/995, https), STARTTLS (ssl on 25/143/110), skipped."""
    chunk_bytes(ONE_LINE)
    specs = [(p, m, ssl, "keep") for p, m in _MODULE_PORTS for ssl in ("", "ssl", "http")]
    specs += [
        (p, m, ssl, "keep")
        for p, m in [(25, "smtp"), (993, "imap-ssl"), (443, "https"), (110, "pop3")]
        for ssl in ("ssl_http", "chain", "noversions")
    ]
    compare(tmp_path, [variant_file(tmp_path, "modules", _on_templates(_module, specs, [EXIM]))])


def test_banner_data(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    specs = [
        (port, module, ssl, data)
        for data in _DATA
        for port, module, ssl in [
            (25, "smtp", "ssl"),
            (993, "imap-ssl", "ssl"),
            (110, "pop3", ""),
            (443, "https", "ssl_http"),
        ]
    ]
    compare(tmp_path, [variant_file(tmp_path, "data", _on_templates(_module, specs, [EXIM]))])


def test_org_and_asn(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    variants: list[dict[str, Any] | bytes] = []
    for org in (0, 0.0, "", False, [], {}, None, _MISSING, "Org", ["A", "B"]):
        for isp in ("Transit ISP", _MISSING, "", 5):
            rec = _unique(EXCH_SMTP, len(variants) + 1)
            for k, v in (("org", org), ("isp", isp)):
                if v is _MISSING:
                    rec.pop(k, None)
                else:
                    rec[k] = v
            variants.append(rec)
    for asn in ("AS3320", "as3320", " AS3320 ", 3320, "3320", "bogus", None, "", 0, -1, 2**32,
                2**32 - 1, 3320.0, True, ["AS1"], {"n": 1}, "AS", "AS0", "AS4294967296",
                "\u0663\u0663\u0662\u0660"):  # fmt: skip
        variants.append(dict(_unique(DOVECOT_IMAPS, len(variants) + 1), asn=asn))
    compare(tmp_path, [variant_file(tmp_path, "orgasn", variants)])


TIMESTAMPS = [
    "2024-03-07T08:01:00.000000",
    "2024-03-07T08:01:00.123456",
    "2024-03-07 08:01:00.123456",
    "2024-03-07T08:01:00.000000Z",
    "2024-03-07T08:01:00Z",
    "2024-03-07T08:01:00+02:00",
    "2024-03-07T08:01:00.000000+02:00",
    "2024-03-07T08:01:00.1234",
    "2024-03-07T08:01:00.123456789",
    "2024-03-07T08:01:00",
    "2024-03-07",
    "2024-03-07 08:01:00 UTC",
    "20240307T080100",
    1709798460,
    1709798460.5,
    1709798460.0,
    0,
    -1,
    10**20,
    "1709798460",
    " 2024-03-07T08:01:00.000000 ",
    "garbage",
    "2024-13-07T08:01:00.000000",
    "2024-02-30T08:01:00.000000",
    "2023-02-29T08:01:00.000000",
    "2024-02-29T08:01:00.000000",
    "2024-03-07T24:00:00.000000",
    "2024-03-07T08:01:60.000000",
    "0001-01-01T00:00:00.000000",
    "9999-12-31T23:59:59.999999",
    "2024-03-07T08:01:00.00000\u0661",
    "",
    None,
    _MISSING,
    True,
    ["2024-03-07"],
    {"t": 1},
]


def test_timestamps(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    variants = _on_templates(_with("timestamp"), TIMESTAMPS, [EXIM, DOVECOT_POP3, EXCH_HTTPS])
    compare(tmp_path, [variant_file(tmp_path, "times", variants)])


HOSTNAMES = [[], ["a.example"], [5], [None], [True], [1.5], [["x"]], [""], ["b", "c"], "string",
             "", _MISSING, None, 0, {"a": 1}, ["\U0001f600" * 300], ["x" * 2000], "\xe4" * 200,
             [{"h": 1}, "a"]]  # fmt: skip


def test_hostnames(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    variants = _on_templates(_with("hostnames"), HOSTNAMES, [POSTFIX, EXCH_HTTPS])
    compare(tmp_path, [variant_file(tmp_path, "hostnames", variants)])


WRONG_CONTAINERS = ["text", "", [], ["x"], [{"module": "smtp"}], None, 5, True, _MISSING,
                    "\xe4" * 200]  # fmt: skip


@pytest.mark.parametrize("key", ["_shodan", "http", "location", "ssl"])
def test_containers_of_the_wrong_type(
    tmp_path: Path, chunk_bytes: Callable[[int], None], key: str
) -> None:
    chunk_bytes(ONE_LINE)
    variants = _on_templates(_with(key), WRONG_CONTAINERS, [EXIM, EXCH_HTTPS], each=True)
    compare(tmp_path, [variant_file(tmp_path, "containers", variants)])


def _ssl_variants() -> list[dict[str, Any] | bytes]:
    cert = EXIM["ssl"]["cert"]
    out: list[dict[str, Any] | bytes] = []
    for ssl in (
        {"versions": "TLSv1.2"},
        {"versions": ["TLSv1.3", 5, None]},
        {"versions": [], "cipher": {"version": "TLSv1.2", "name": 7}},
        {"cipher": "TLS_AES"},
        {"cipher": None, "chain": None},
        {"chain": [5, None, EXIM["ssl"]["chain"][0]]},
        {"chain": "not a list"},
        {"chain": ["-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"]},
        {"cert": dict(cert, subject=["CN", "x"])},
        {"cert": dict(cert, subject={})},
        {"cert": dict(cert, serial="0a1b")},
        {"cert": dict(cert, serial=2**64 + 3)},
        {"cert": dict(cert, serial=None, issued="garbage", expires="20261399999999Z")},
        {"cert": dict(cert, fingerprint="abc")},
        {"cert": dict(cert, issuer=None)},
        {"cert": "summary"},
        {"cert": dict(cert, subject={"CN": "\U0001f600" * 3, "O": None, "C": 5})},
    ):
        full = copy.deepcopy(EXIM["ssl"])
        full.update(ssl)
        for t in (EXIM, DOVECOT_IMAPS):
            out.append(dict(_unique(t, len(out) + 1), ssl=copy.deepcopy(full)))
    # the same ssl object written in other JSON forms (whitespace, key order, escapes)
    line = dump(_unique(DOVECOT_IMAPS, len(out) + 1))
    out.append(line.replace(b'"versions":', b' "versions" : '))
    out.append(line.replace(b'"TLSv1.3"', b'"TLSv1\\u002e3"'))
    return out


def _http_variants() -> list[dict[str, Any] | bytes]:
    out: list[dict[str, Any] | bytes] = []
    for http in (
        {"status": "200"},
        {"status": 200.0},
        {"status": True},
        {"status": None, "location": "/owa/?x=1"},
        {"location": "https://elsewhere/"},
        {"location": 5},
        {"location": "/\U0001f600?q"},
        {"html": None},
        {"html": 5},
        {"html": ["<a>"]},
        {"html": "\U0001f600" * 5000},
        {},
    ):
        rec = _unique(EXCH_HTTPS, len(out) + 1)
        rec["http"].update(http)
        out.append(rec)
        if not http:
            rec["http"] = {}
    return out


def test_ssl_and_http_inside(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    path = variant_file(tmp_path, "inside", _ssl_variants() + _http_variants())
    compare(tmp_path, [path])


def _dup(line: bytes, key: bytes, extra: bytes) -> bytes:
    """The line with ``extra`` (a second value of ``key``) right after the first."""
    at = line.index(b'"' + key + b'":')
    end = line.index(b",", at)
    return line[:end] + b',"' + key + b'":' + extra + line[end:]


def raw_lines() -> list[bytes]:
    """Lines that are not (or not quite) a banner as JSON; blank lines between them."""
    base = [dump(_unique(t, i, "100.66")) for i, t in enumerate(MAIL * 6)]
    opts = b'"opts":{}'
    return [
        b"{not json",
        b"",
        b"   ",
        b"\t\r",
        b"\x0c",
        b"[1, 2]",
        b"[" + base[0] + b"]",
        b"null",
        b"5",
        b'"a string"',
        b"{}",
        b'{"port": 25}',
        _dup(base[1], b"port", b"26"),
        _dup(base[2], b"port", b"26"),
        _dup(base[3], b"ip_str", b'"10.9.9.9"'),
        _dup(base[4], b"timestamp", b'"2020-01-01T00:00:00.000000"'),
        base[5].replace(b'"_shodan":{', b'"_shodan":{"module":"ssh",'),
        base[6].replace(b'"data":"', b'"data":"\\ud800'),
        base[7].replace(b'"data":"', b'"data":"\\ud83d\\ude00\\u0000'),
        base[8].replace(b'"data":"', b'"data":"\xff'),
        base[9] + b" x",
        b"\xef\xbb\xbf" + base[10],
        base[12].replace(opts, b'"opts":{"big":' + str(2**70).encode() + b"}"),
        base[15].replace(b'"port":', b'"Port":'),
        base[16].replace(opts, b'"opts":{"nul":"\x00"}'),
        base[17] + b"\r",
        base[18].replace(opts, b'"opts":{"tab":"a\tb"}'),
        base[19].replace(opts, b'"opts":{"bad":"\xc3\x28"}'),
        base[21].replace(opts, b'"opts":{/* c */}'),
        base[23] + base[24],
        base[25].replace(b'"port":', b'"PORT":26,"port":'),
        base[26].replace(b'"data":', b'"Data":"220 other\\r\\n","data":'),
        base[27].replace(b'"ip_str":', b'"IP_STR":"10.8.8.8","ip_str":'),
        base[28].replace(b"{", b"{\n", 1),
        base[29].replace(b'"data":"', b'"data":"\t'),
        base[30].replace(opts, b'"opts":' + b"[" * 1000 + b"]" * 1000),
        base[31].replace(opts, b'"opts":{"s":"\\ud800"}'),
        base[32].replace(opts, b'"opts":{"x":-}'),
        base[33].replace(opts, b'"opts":{"big":-' + str(2**70).encode() + b"}"),
        base[34].replace(opts, b'"opts":{"num":01}'),
        base[35].replace(opts, b"\"opts\":{'q':1}"),
    ]


def lenient_lines() -> list[bytes]:
    """Lines DuckDB's JSON reader takes and orjson refuses, with the oddity in a field the
    import does not read: nesting deeper than 1024, a number beyond a double, NaN and
    Infinity literals, a trailing comma."""
    base = [dump(_unique(t, i, "100.67")) for i, t in enumerate(MAIL * 2)]
    opts = b'"opts":{}'
    return [
        base[0].replace(opts, b'"opts":' + b"[" * 1100 + b"]" * 1100),
        base[1].replace(opts, b'"opts":{"inf":1e400}'),
        base[2].replace(opts, b'"opts":{"nan":NaN}'),
        base[3].replace(opts, b'"opts":{"a":1,}'),
        base[4].replace(opts, b'"opts":{"inf":Infinity}'),
        base[5].replace(opts, b'"opts":[1,]'),
    ]


def key_spellings() -> list[bytes]:
    """Keys written with escapes (``"\\u0064ata"`` is ``data``), twice in one object (the
    last counts), or in other case (another key)."""
    web = dump(_unique(EXCH_HTTPS, 1, "100.68"))
    mail = dump(_unique(EXIM, 2, "100.68"))
    escaped = [(b"data", b"\\u0064ata"), (b"port", b"p\\u006frt"), (b"product", b"pr\\u006fduct"),
               (b"_shodan", b"_sh\\u006fdan"), (b"module", b"m\\u006fdule"), (b"ssl", b"ss\\u006c"),
               (b"location", b"locati\\u006fn"), (b"country_code", b"country\\u005fcode"),
               (b"timestamp", b"timest\\u0061mp"), (b"ip_str", b"ip\\u005fstr"),
               (b"hostnames", b"hostn\\u0061mes"), (b"asn", b"\\u0061sn"),
               (b"org", b"\\u006frg")]  # fmt: skip
    out = [mail.replace(b'"%s":' % k, b'"%s":' % e, 1) for k, e in escaped]
    out += [web.replace(b'"http":', b'"htt\\u0070":'), web.replace(b'"title":', b'"titl\\u0065":')]
    before = b'"_shodan":'
    for extra in (b'"ssl":null', b'"location":{"country_code":"JP"}', b'"product":"Other 1.0"',
                  b'"hostnames":["zz.example"]', b'"data":"220 other ESMTP\\r\\n"', b'"asn":"AS1"',
                  b'"timestamp":"2020-01-01T00:00:00.000000"', b'"transport":"udp"',
                  b'"Product":"Other"', b'"SSL":null', b'"Location":{"country_code":"JP"}',
                  b'"Hostnames":["x"]', b'"Timestamp":"2020-01-01T00:00:00.000000"',
                  b'"Transport":"udp"'):  # fmt: skip
        out.append(mail.replace(before, extra + b"," + before, 1))
    out.append(web.replace(before, b'"http":null,' + before, 1))
    for a, b in ((b'"module":"smtp"', b'"module":"smtp","module":"ssh"'),
                 (b'"module":"smtp"', b'"module":"smtp","Module":"ssh"'),
                 (b'"country_code":"DE"', b'"country_code":"DE","country_code":"US"'),
                 (b'"country_code":"DE"', b'"country_code":"DE","COUNTRY_CODE":"US"')):  # fmt: skip
        out.append(mail.replace(a, b, 1))
    assert len(set(out)) == len(out) and mail not in out and web not in out
    return out


def test_key_spellings(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    compare(tmp_path, [variant_file(tmp_path, "keys", list(key_spellings()))])


def test_raw_lines(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(ONE_LINE)
    (col,) = compare(tmp_path, [variant_file(tmp_path, "raw", list(raw_lines()))])
    assert col.result is not None and col.result["malformed"] >= 20


def test_lenient_json_is_read_by_the_columnar_path(
    tmp_path: Path, chunk_bytes: Callable[[int], None]
) -> None:
    """The one documented difference: a line that is not JSON as orjson reads it but that
    DuckDB's reader takes, its oddity in a field the import does not read, is imported by
    the columnar path and reported malformed (with its line) by the record-by-record path;
    ``--strict`` (which reads every line with orjson first) refuses it either way. An odd
    value in a field the import reads (NaN as a banner, a port) sends the chunk record by
    record: ``test_kept_field_values`` and ``test_ports_and_transports``."""
    chunk_bytes(ONE_LINE)
    lines = lenient_lines()
    path = variant_file(tmp_path, "lenient", list(lines))
    col = _import(tmp_path, "lenient", [path], columnar=True, enricher=True)
    py = _import(tmp_path, "lenient", [path], columnar=False, enricher=True)
    assert col.result is not None and py.result is not None
    assert col.result["malformed"] == 0 and col.chunks is not None and col.chunks >= len(lines)
    assert py.result["malformed"] == len(lines)
    assert [m for _p, _l, m in py.result["problems"]] and all(
        m.startswith("invalid JSON") for _p, _l, m in py.result["problems"]
    )
    assert len(col.transcripts) == len(lines) + 1 and len(py.transcripts) == 1  # + the first
    for columnar in (True, False):
        strict = _import(
            tmp_path, f"strict-{columnar}", [path], columnar=columnar, enricher=True, strict=True
        )
        assert strict.error is not None and strict.error[0] == "MalformedRecordError"


_M = (
    b'{"ip_str":"192.0.2.7","port":25,"transport":"tcp","timestamp":"2024-03-07T08:00:00.000000",'
    b'"data":"220 mx ESMTP Postfix\\r\\n","_shodan":{"module":"smtp"}%s}'
)
_AE = "\xe4".encode() * 100
FOUND: dict[str, bytes] = {
    "bom": b"\xef\xbb\xbf" + _M % b"",
    "list_field_long_non_ascii_string": _M % (b',"cpe23":"' + _AE + b'"'),
    "hostnames_long_non_ascii_string": _M % (b',"hostnames":"' + _AE + b'"'),
    "location_long_non_ascii_string": _M % (b',"location":"' + _AE + b'"'),
    "http_long_non_ascii_string": _M % (b',"http":"' + _AE + b'"'),
    "shodan_long_non_ascii_string": (_M % b"").replace(
        b'"_shodan":{"module":"smtp"}', b'"_shodan":"' + _AE + b'"'
    ),
}
"""The smallest records on which the two paths once differed (each is also among the
broad tests' variants): a byte order mark before a record (DuckDB skipped it, orjson
refuses the line), and a field of the wrong JSON type holding long non-ASCII text
(DuckDB's conversion error, cut inside a UTF-8 sequence, reached Python as
UnicodeDecodeError and failed the whole import). JSON that orjson refuses and DuckDB
reads in a field the import does not read: test_lenient_json_is_read_by_the_columnar_path."""


@pytest.mark.parametrize("name", FOUND)
def test_found_records(tmp_path: Path, chunk_bytes: Callable[[int], None], name: str) -> None:
    chunk_bytes(ONE_LINE)
    compare(tmp_path, [variant_file(tmp_path, "found", [FOUND[name]])])


def test_many_problems_keep_the_first(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """More malformed lines than ImportResult keeps, in many chunks: the same first ones."""
    chunk_bytes(8_000)
    rng = random.Random(9)
    lines = realistic(rng, 40)
    for i in range(60):
        lines.insert(rng.randrange(1, len(lines)), b'{"port": %d, "ip_str": "x%d"}' % (25, i))
    compare(tmp_path, [write_lines(tmp_path / "many.json", lines)], enrichers=(False,))


def test_every_hostile_thing_at_once(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """Variants shuffled into a realistic file, chunks of mixed content, hosts across them."""
    chunk_bytes(20_000)
    rng = random.Random(13)
    lines = realistic(rng, 60)
    extra = [dump(v) for f in KEPT_FIELDS[::3] for v in field_variants(f)] + raw_lines()
    for line in extra:
        lines.insert(rng.randrange(1, len(lines)), line)
    # every chunk holds a hostile line: all of them go record by record (the fallback's
    # test; test_ordinary_lines_between_hostile_ones has columnar chunks between them)
    compare(tmp_path, [write_lines(tmp_path / "all.json", lines)], columnar=0)


def test_ordinary_lines_between_hostile_ones(
    tmp_path: Path, chunk_bytes: Callable[[int], None]
) -> None:
    """Chunks of two or three lines, a variant in most: line numbers across chunks."""
    chunk_bytes(2_500)
    variants: list[dict[str, Any] | bytes] = [*field_variants("org")[::2], *raw_lines()[::2]]
    lines = interleaved(variants, seed=4)
    compare(tmp_path, [write_lines(tmp_path / "mixed.json", lines)])


# -- the tests: errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [b'{"foo": 1}', b"[1]", b'{"port": 25}', b"not json", b'{"ip_str": "10.0.0.1"}'],
)
def test_first_line_not_shodan(
    tmp_path: Path, chunk_bytes: Callable[[int], None], first: bytes
) -> None:
    chunk_bytes(2_000)
    path = write_lines(tmp_path / "wrong.json", [b"", first, *realistic(random.Random(1), 5)])
    (col,) = compare(tmp_path, [path])
    assert col.error is not None and col.error[0] == "WrongFormatError"
    assert _empty(col.state), col.state


@pytest.mark.parametrize("blank", [0, 3, 5_000])
def test_first_line_invalid_json_object(
    tmp_path: Path, chunk_bytes: Callable[[int], None], blank: int
) -> None:
    """A first line that starts like an object but does not parse is a malformed record
    (its message counts columns from the object, not the indentation); the next line is
    then not checked for the format. ``blank`` blank lines before it (in chunks of their
    own when there are many)."""
    chunk_bytes(2_000)
    lines = [*[b""] * blank, b"  {bad", b'{"foo": 1}', *realistic(random.Random(2), 5)]
    (col,) = compare(tmp_path, [write_lines(tmp_path / "f.json", lines)])
    assert col.result is not None and col.result["malformed"] == 2


def test_nothing_importable(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(2_000)
    first = dump(dict(_unique(EXIM, 1), port=70000))
    lines = [first, *[b'{"port": "x%d", "ip": 1}' % i for i in range(50)]]
    (col,) = compare(tmp_path, [write_lines(tmp_path / "none.json", lines)])
    assert col.error is not None and col.error[0] == "WrongFormatError"


def test_only_skipped_records(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(2_000)
    lines = [dump(dict(_unique(SSH, i), port=22)) for i in range(20)]
    (col,) = compare(tmp_path, [write_lines(tmp_path / "ssh.json", lines)])
    assert col.result is not None and col.result["skipped"] == 20


def test_truncated_gz(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(20_000)
    whole = write_lines(tmp_path / "whole.json.gz", realistic(random.Random(4), 80), gz=True)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    (col,) = compare(tmp_path, [cut])
    assert col.error is not None and col.error[0] == "UnreadableInputError"
    assert _empty(col.state), col.state
    # after a good file, too: nothing of either is left
    (col,) = compare(tmp_path, [whole, cut], enrichers=(False,))
    assert col.error is not None and _empty(col.state), col.state


def test_truncated_gz_after_blank_lines(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    """The error names the last record read, whatever blank lines (and chunks) follow it."""
    chunk_bytes(2_000)
    rng = random.Random(12)
    noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(300_000))
    tail = dump(dict(_unique(EXIM, 500), data="220 " + noise))
    lines = [*realistic(rng, 5), *[b""] * 6_000, tail]
    whole = write_lines(tmp_path / "whole.json.gz", lines, gz=True)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size - 50_000])
    (col,) = compare(tmp_path, [cut])
    assert col.error is not None and col.error[0] == "UnreadableInputError"


def test_corrupt_gz(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(5_000)
    data = bytearray(gzip.compress(b"\n".join(realistic(random.Random(5), 40)), mtime=0))
    data[len(data) // 2 : len(data) // 2 + 40] = b"\x00" * 40
    path = tmp_path / "corrupt.json.gz"
    path.write_bytes(bytes(data))
    (col,) = compare(tmp_path, [path])
    assert col.error is not None and col.error[0] == "UnreadableInputError"


@pytest.mark.parametrize("where", ["early", "late"])
def test_strict_stops_at_a_malformed_line(
    tmp_path: Path, chunk_bytes: Callable[[int], None], where: str
) -> None:
    chunk_bytes(5_000)
    lines = realistic(random.Random(6), 40)
    at = 3 if where == "early" else len(lines) - 2
    lines.insert(at, dump(dict(_unique(EXIM, 7, "100.67"), port="25")))
    path = write_lines(tmp_path / "strict.json", lines)
    (col,) = compare(tmp_path, [path], strict=True)
    assert col.error is not None and col.error[0] == "MalformedRecordError"
    assert _empty(col.state), col.state
    assert f":{at + 1}" in col.error[1]


def test_strict_on_good_input(tmp_path: Path, chunk_bytes: Callable[[int], None]) -> None:
    chunk_bytes(10_000)
    path = write_lines(tmp_path / "good.json", realistic(random.Random(8), 30))
    (col,) = compare(tmp_path, [path], strict=True)
    assert col.chunks is not None and col.chunks >= 1


# -- the harness itself ---------------------------------------------------------------


def test_the_harness_sees_a_difference(tmp_path: Path) -> None:
    """Two different imports do not compare equal: one field of one record changed."""
    lines = realistic(random.Random(10), 10)
    a = write_lines(tmp_path / "a.json", lines)
    changed = orjson.loads(lines[3])
    changed["org"] = changed["org"][::-1]  # the same length: the same bytes_read
    b = write_lines(tmp_path / "b.json", [*lines[:3], dump(changed), *lines[4:]])
    b_path = tmp_path / "a.json"
    one = _import(tmp_path, "x", [a], columnar=False, enricher=True)
    b.replace(b_path)  # the same path (it is in the result), other content
    other = _import(tmp_path, "y", [b_path], columnar=False, enricher=True)
    with pytest.raises(AssertionError, match=r"transcripts\[\d+\] differs"):
        assert_same(one, other)
