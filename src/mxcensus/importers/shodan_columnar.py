"""Shodan JSON lines, columnar: DuckDB parses a chunk of the file and SQL builds what each
record puts into the store; Python runs once per distinct banner, certificate, unusual
address or time form and location, never once per record.

A chunk goes this way only when every record in it is one whose result SQL reproduces
exactly what :func:`mxcensus.importers.shodan._convert` gives. :func:`stage` returns None
otherwise — the JSON does not parse (a malformed line, a duplicate key, a lone surrogate),
a field has a type DuckDB would quietly turn into different text than Python (``true``
where Python writes ``True``, a list where Python joins its items, a number that
``orjson`` reads as a float), a port is not an integer in range, or the Python part raises
on one of the distinct values — and the caller imports that chunk record by record, with
line numbers, as before. Nothing is written before that decision.

What SQL does per record: the address when it is already canonical dotted IPv4, the time
when it is Shodan's own naive UTC form, the kept fields (``text_of``: cut to
:data:`~mxcensus.importers._common.MAX_EXTRA` code points, lists joined with ","), the
transcript's JSON text, and the joins to what Python worked out per distinct value.

Staging runs on a connection of its own (:func:`connect`, an in-memory database), not the
store's: a chunk DuckDB refuses then fails only there, and the store's transaction goes on
across chunks. That matters for speed: DuckDB writes a transaction's appends straight to
the file, compressed once, only from a row group's worth of rows (122,880) on; committing
every chunk (~50,000 records) sent them through its log instead and recompressed the last
row group at every checkpoint, so an import slowed as the store grew (bench/data.py).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import duckdb
import orjson

from mxcensus.importers import _common as c
from mxcensus.importers import shodan as s
from mxcensus.serialize import StepDoc
from mxcensus.store.staged import StagedChunk

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_COLUMNS = (
    "{ip_str: 'VARCHAR', ip: 'JSON', port: 'JSON', transport: 'VARCHAR', timestamp: 'VARCHAR',"
    " data: 'VARCHAR', hostnames: 'VARCHAR[]',"
    " _shodan: 'STRUCT(module VARCHAR, id VARCHAR)',"
    " http: 'STRUCT(html VARCHAR, status JSON, location VARCHAR, title VARCHAR,"
    " server VARCHAR, host VARCHAR)',"
    " ssl: 'JSON',"
    " location: 'STRUCT(country_code VARCHAR, city VARCHAR, region_code VARCHAR)',"
    " asn: 'VARCHAR', org: 'VARCHAR', product: 'VARCHAR', version: 'VARCHAR', info: 'VARCHAR',"
    " os: 'VARCHAR', isp: 'VARCHAR', devicetype: 'VARCHAR', cpe23: 'VARCHAR[]', cpe: 'VARCHAR[]',"
    " domains: 'VARCHAR[]'}"
)
"""What read_json takes of a banner. A field of another JSON type than its column's makes
DuckDB fail the chunk (an object where a list is expected), or turns it into text (a
number or object in a VARCHAR column): :data:`_TEXT_ODD` and its kin catch
the text forms whose Python result would differ."""


_NUMBER_ODD = (
    "-?[0-9.]*[eE][-+]?[0-9]+"  # exponent form: Python's repr may differ; 1e400 orjson refuses
    "|-0(\\.0*)?"  # minus zero
    "|-?[0-9.]{16,}"  # long: beyond 64 bits (orjson reads a float), or a repr Python may not repeat
    "|[-+]?(?i:nan|inf|infinity)"  # not JSON (orjson refuses the line); DuckDB keeps the literal
)
_TEXT_ODD = f"\\x1f([{{\\[]|({_NUMBER_ODD})(\\x1f|$))"
"""A kept field (``text_of``) whose DuckDB text may differ from Python's: an object or a
list (Python: "" or the items joined), or a number written in a form Python would not
write back. Booleans and ordinary numbers read the same both ways (``true``, ``25``,
``4.92``)."""
_ITEM_ODD = f"\\x1f([{{\\[]|({_NUMBER_ODD}|true|false)(\\x1f|$))"
"""A list item (``str(item)``): as :data:`_TEXT_ODD`, and booleans (Python: ``True``)."""
_SCALAR_ODD = (
    "\\x1f([{\\[]|(true|false|[-+]?[0-9.]+([eE][-+]?[0-9]+)?|[-+]?(?i:nan|inf|infinity))(\\x1f|$))"
)
"""A field Python uses as it is (``str(x or "")``, ``x or "tcp"``, ``stored_text(x)``): any
text a JSON number, boolean, object or list becomes."""


def _odd_any(pattern: str, values: Sequence[str]) -> str:
    """SQL: one of ``values`` matches ``pattern`` as a whole field: the values joined, each
    after a unit separator (0x1F), and searched once — one regular expression per record
    instead of a CASE per field, whose binding alone cost ~20 ms a chunk. A separator inside
    a value can only make a false alarm (that chunk goes record by record), never hide one."""
    return f"regexp_matches(concat_ws(chr(31), '', {', '.join(values)}), '{pattern}')"


_TEXT_FIELDS = ("product", "version", "info", "os", "isp", "devicetype")
_LIST_FIELDS = ("cpe23", "cpe", "domains")
_CANONICAL_V4 = (
    "regexp_full_match(ip_s, '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    "(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}')"
)
_SHODAN_TIME = (
    "regexp_full_match(ts, '[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T"
    "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{6}')"
)


def _stage_sql(path: str) -> str:
    """SQL: the chunk at ``path`` as ``_sh_raw``, one row per record, with what later steps
    need of it (the kept fields already as the JSON text of their ``extra`` pairs) and
    ``odd``: whether it is a record SQL cannot take (see the module docstring)."""
    quoted = path.replace("'", "''")
    lists = [f"array_to_string({f}, chr(31))" for f in _LIST_FIELDS]
    odd = " OR ".join(
        [
            "port_t IS NULL OR port_t NOT IN ('UBIGINT', 'BIGINT')",
            "NOT coalesce(TRY_CAST(port_j AS BIGINT) BETWEEN 1 AND 65535, false)",
            _odd_any(_SCALAR_ODD, ["tr", "data", "module", "html"]),
            _odd_any(
                _TEXT_ODD,
                ["sid", *_TEXT_FIELDS, "title", "server", "host", "cc", "city", "rc", "org"],
            ),
            _odd_any(_ITEM_ODD, [*lists, "hostnames[1]"]),
            # a None item: Python writes "None", array_to_string leaves it out
            *(f"list_count({f}) < len({f})" for f in (*_LIST_FIELDS, "hostnames")),
            "org IN ('0', '0.0', '-0', 'false')",  # falsy in Python: isp instead
        ]
    )
    return f"""
    CREATE OR REPLACE TEMP TABLE _sh_raw AS
    SELECT ip_s, ip_j, port_j, tr, ts, data,
           CASE WHEN len(hostnames) > 0 THEN hostnames[1] ELSE '' END AS hostname,
           module, is_http, html, status, hloc, ssl, asn,
           nullif({_cut("cc")}, '') AS g_country, nullif({_cut("city")}, '') AS g_city,
           nullif({_cut(_ORG)}, '') AS g_org,
           {_extra_head_sql()} AS extra_head,
           hash({", ".join(_BANNER_KEY)}) AS bh, hash(ssl) AS sh,
           {odd} AS odd
    FROM (
        SELECT ip_str AS ip_s, CAST(ip AS VARCHAR) AS ip_j,
               json_type(port) AS port_t, CAST(port AS VARCHAR) AS port_j,
               transport AS tr, "timestamp" AS ts, data, hostnames,
               _shodan.module AS module, _shodan.id AS sid,
               http IS NOT NULL AS is_http, http.html AS html,
               CAST(http.status AS VARCHAR) AS status, http.location AS hloc,
               http.title AS title, http.server AS server, http.host AS host,
               CASE WHEN left(CAST(ssl AS VARCHAR), 1) = '{{' THEN CAST(ssl AS VARCHAR) END
                   AS ssl,
               location.country_code AS cc, location.city AS city,
               location.region_code AS rc,
               asn, org, {", ".join(_TEXT_FIELDS)}, {", ".join(_LIST_FIELDS)}
        FROM read_json('{quoted}', format = 'newline_delimited', columns = {_COLUMNS})
    )
    """


def _pair(name: str, value: str, cut: bool = True) -> str:
    """SQL: the JSON text of one kept field ``[name, value[:MAX_EXTRA]]``, NULL when it is
    not kept (NULL or empty; a non-empty text stays non-empty when cut)."""
    kept = f"left({value}, {c.MAX_EXTRA})" if cut else value
    return f"CASE WHEN {value} <> '' THEN concat('[\"{name}\",', to_json({kept}), ']') END"


def _cut(v: str) -> str:
    """SQL: ``v[:MAX_EXTRA]`` (``left`` counts code points, as Python does)."""
    return f"left({v}, {c.MAX_EXTRA})"


def _extra_head_sql() -> str:
    """SQL: the JSON text of the transcript's ``extra`` pairs up to the ASN (in
    ``_convert``'s order), "" for none; :data:`_ROWS_SQL` adds ``geo.asn`` and ``geo.org``."""
    pairs = [
        _pair("shodan.module", "module", cut=False),
        *(_pair(f"shodan.{f}", f) for f in _TEXT_FIELDS),
        *(_pair(f"shodan.{f}", f"array_to_string({f}, ',')") for f in _LIST_FIELDS),
        _pair("shodan.id", "sid"),
        _pair("shodan.http.title", "title"),
        _pair("shodan.http.server", "server"),
        _pair("shodan.http.host", "host"),
        _pair("geo.country", "cc"),
        _pair("geo.city", "city"),
        _pair("shodan.location.region_code", "rc"),
    ]
    return "concat_ws(',', " + ", ".join(pairs) + ")"


_ORG = "CASE WHEN org IS NULL OR org = '' THEN isp ELSE org END"
_BANNER_KEY = ("port_j", "module", "is_http", "ssl IS NOT NULL", "data", "html", "status", "hloc")
"""What a banner's protocol, transport and steps follow from. Rows find their banner, and
their TLS facts, by a 64-bit hash of these (``bh``; ``sh`` of the ``ssl`` text): joining
on the texts themselves cost ~1 µs a record. Two distinct keys of a chunk with one hash
make :func:`_unique` refuse the chunk (record by record), so a collision costs speed only."""


@dataclass(frozen=True, slots=True)
class Banner:
    """What one distinct banner gives every record that carries it."""

    port: int
    protocol: str
    transport: str
    steps: list[StepDoc]


HINTS = (("g_country", "geo.country"), ("g_city", "geo.city"), ("g_asn", "geo.asn"),
         ("g_org", "geo.org"))  # fmt: skip
"""The staged rows' location hint: (column, its key in ``extra``), in ``extra``'s order."""
_Remember = tuple[dict[bytes, int], dict[str, int]]
"""The ids of a chunk's fresh parts (banner steps, TLS facts), by their text."""


class Parts:
    """The ids of the transcript parts (banner steps, TLS facts) an import has stored, by
    their text, so later chunks refer to them instead of storing them again. Bounded: when
    full it starts afresh (a part stored twice under two ids costs only space)."""

    MAX = 16_384

    def __init__(self) -> None:
        self.steps: dict[bytes, int] = {}
        self.tls: dict[str, int] = {}
        self.next_id = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def stored(self, remember: _Remember) -> None:
        """A chunk's fresh parts are in the store: remember them."""
        steps, tls = remember
        if len(self.steps) + len(steps) > self.MAX:
            self.steps.clear()
        self.steps.update(steps)
        if len(self.tls) + len(tls) > self.MAX:
            self.tls.clear()
        self.tls.update(tls)


class ShodanStager:
    """The columnar path's staging of one import (``interface.Stager``): its connection,
    the time of a banner without one, and the ids of the parts stored so far (unique in the
    scan, across the import's files)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, now: datetime) -> None:
        self._con = con
        self._now = now
        self._parts = Parts()
        self._pending: _Remember | None = None

    def stage(self, path: str) -> StagedChunk | None:
        out = stage(self._con, path, self._now, self._parts)
        if out is None:
            return None
        chunk, self._pending = out
        return chunk

    def stored(self) -> None:
        if self._pending is not None:
            self._parts.stored(self._pending)
            self._pending = None


@contextmanager
def stager(*, threads: int, memory: str, tmp: str, now: datetime) -> Iterator[ShodanStager]:
    """A staging session on a connection of its own (:func:`connect`)."""
    with closing(connect(threads, memory, tmp)) as con:
        yield ShodanStager(con, now)


def connect(threads: int, memory: str, tmp: str) -> duckdb.DuckDBPyConnection:
    """The staging connection: an in-memory database of its own, with the store's number of
    threads, at most ``memory`` (a DuckDB size), spilling (if ever) into ``tmp``."""
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET memory_limit = ?", [memory])
    con.execute("SET temp_directory = ?", [tmp])
    return con


def stage(
    con: duckdb.DuckDBPyConnection, path: str, now: datetime, parts: Parts
) -> tuple[StagedChunk, _Remember] | None:
    """Stage the chunk at ``path`` (JSON lines) on ``con`` (:func:`connect`, never the
    store's): the chunk and the ids of its fresh parts, or None: it must be imported
    record by record (see the module's docstring)."""
    try:
        try:
            con.execute(_stage_sql(path))
            row = con.execute("SELECT bool_or(odd) FROM _sh_raw").fetchall()
        except (duckdb.Error, UnicodeDecodeError) as exc:
            # UnicodeDecodeError: DuckDB cut its message (quoting the record) in a character
            log.debug("chunk %s: record by record (%s)", path, str(exc).splitlines()[0])
            return None
        if row and row[0][0]:
            return None
        try:
            return _stage_rows(con, now, parts)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, _Odd):
            return None
    finally:
        for table in ("_sh_raw", "_sh_rows"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


class _Odd(Exception):
    """A distinct value whose Python result SQL cannot take as it is."""


def _stage_rows(
    con: duckdb.DuckDBPyConnection, now: datetime, parts: Parts
) -> tuple[StagedChunk, _Remember]:
    """The staged chunk: Python once per distinct value, then SQL joins it all to the rows
    (:data:`_ROWS_SQL`)."""
    records = _count(con, "SELECT count(*) FROM _sh_raw")
    banners, bmap = _banners(con)
    fresh = _Fresh(parts)
    steps_part = [fresh.steps(orjson.dumps(b.steps)) for b in banners]
    tables = {
        "_sh_ips": _addresses(con),
        "_sh_times": _times(con, now),
        "_sh_banners": _table(bmap | {"steps_part": (steps_part, "int64")}),
        "_sh_tls": _certificates(con, fresh),
        "_sh_asns": _asns(con),
    }
    try:
        for name, table in tables.items():
            con.register(name, table)
        con.execute(_ROWS_SQL)
    finally:
        for name in tables:
            con.unregister(name)
    bad = _count(con, "SELECT count(*) FROM _sh_rows WHERE TRY_CAST(obs AS TIMESTAMPTZ) IS NULL")
    if bad:
        raise _Odd(f"{bad} times DuckDB cannot read")
    rows = con.sql("SELECT * FROM _sh_rows").to_arrow_table()
    chunk = StagedChunk(
        records=records,
        transcripts=rows.num_rows,
        rows=rows,
        banners=banners,
        source=s.ShodanImporter.name,
        hints=HINTS,
        part_ids=fresh.ids,
        part_texts=fresh.texts,
    )
    return chunk, (fresh.new_steps, fresh.new_tls)


class _Fresh:
    """The parts a chunk stores (not yet stored by the import), with their new ids."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.ids: list[int] = []
        self.texts: list[bytes] = []
        self.new_steps: dict[bytes, int] = {}
        self.new_tls: dict[str, int] = {}

    def steps(self, text: bytes) -> int:
        got = self.parts.steps.get(text) or self.new_steps.get(text)
        if got is None:
            got = self.new_steps[text] = self.parts.new_id()
            self.ids.append(got)
            self.texts.append(text)
        return got

    def tls(self, ssl: str) -> int:
        got = self.parts.tls.get(ssl) or self.new_tls.get(ssl)
        if got is None:
            got = self.new_tls[ssl] = self.parts.new_id()
            self.ids.append(got)
            self.texts.append(orjson.dumps(s.tls_of(orjson.loads(ssl))))
        return got


def _addresses(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Addresses that are not canonical dotted IPv4 text, as ``_convert`` reads them."""
    ip_s, ip_j, ip = [], [], []
    for s_, j in con.execute(
        f"SELECT DISTINCT ip_s, ip_j FROM _sh_raw WHERE ip_s IS NULL OR NOT {_CANONICAL_V4}"
    ).fetchall():
        doc: dict[str, Any] = {}
        if s_ is not None:
            doc["ip_str"] = s_
        if j is not None:
            doc["ip"] = orjson.loads(j)
        ip_s.append(s_)
        ip_j.append(j)
        ip.append(s.address_of(doc))
    return _table({"ip_s": (ip_s, "string"), "ip_j": (ip_j, "string"), "ip": (ip, "string")})


def _times(con: duckdb.DuckDBPyConnection, now: datetime) -> pa.Table:
    """Times that are not Shodan's naive UTC form, as ``_convert`` writes them."""
    ts = [
        t
        for (t,) in con.execute(
            f"SELECT DISTINCT ts FROM _sh_raw WHERE ts IS NULL OR NOT {_SHODAN_TIME}"
        ).fetchall()
    ]
    return _table({"ts": (ts, "string"), "obs": ([s.iso_time(t, now) for t in ts], "string")})


def _banners(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[Banner], dict[str, tuple[list[Any], str]]]:
    """Each distinct banner's protocol, transport and steps, once per distinct set of the
    fields they follow from (records that are not TCP are skipped, as ``_convert`` does);
    and the columns that map the rows' banner hash to it."""
    banners: list[Banner] = []
    bh: list[int] = []
    rows = con.execute(
        f"SELECT DISTINCT bh, {', '.join(_BANNER_KEY)} FROM _sh_raw"
        " WHERE coalesce(nullif(tr, ''), 'tcp') = 'tcp'"
    ).fetchall()
    _unique(r[0] for r in rows)
    for h, port_j, module, is_http, has_ssl, data, html, status, hloc in rows:
        port = int(port_j)
        http = None
        if is_http:
            http = {"html": html, "location": hloc}
            if status is not None:
                http["status"] = orjson.loads(status)
        service = s.service_of(port, str(module or ""), http, has_ssl, data)
        if service is None:
            continue
        protocol, transport, steps = service
        bh.append(h)
        # the steps are serialize's StepDoc form (shodan.service_of builds them so)
        banners.append(Banner(port, protocol, transport, cast("list[StepDoc]", steps)))
    return banners, {
        "bh": (bh, "uint64"),
        "bk": (list(range(len(banners))), "int64"),
        "protocol": ([b.protocol for b in banners], "string"),
        "transport": ([b.transport for b in banners], "string"),
    }


def _certificates(con: duckdb.DuckDBPyConnection, fresh: _Fresh) -> pa.Table:
    """The part id of each distinct ``ssl`` object, by its hash."""
    certs = con.execute("SELECT DISTINCT sh, ssl FROM _sh_raw WHERE ssl IS NOT NULL").fetchall()
    _unique(r[0] for r in certs)
    return _table(
        {
            "sh": ([h for h, _ in certs], "uint64"),
            "tls_part": ([fresh.tls(ssl) for _, ssl in certs], "int64"),
        }
    )


def _asns(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Each distinct ``asn`` text as ``_convert`` writes it."""
    found = [
        v
        for (v,) in con.execute("SELECT DISTINCT asn FROM _sh_raw WHERE asn IS NOT NULL").fetchall()
    ]
    return _table({"asn_v": (found, "string"), "asn": ([s.asn_text(v) for v in found], "string")})


def _table(columns: dict[str, tuple[list[Any], str]]) -> pa.Table:
    """An Arrow table of named (values, Arrow type name) columns."""
    import pyarrow as pa

    return pa.table({k: pa.array(v, getattr(pa, t)()) for k, (v, t) in columns.items()})


def _unique(hashes: Iterable[int]) -> None:
    """Raise :class:`_Odd` when two distinct keys share a hash (see :data:`_BANNER_KEY`)."""
    seen: set[int] = set()
    for h in hashes:
        if h in seen:
            raise _Odd(f"hash {h} of two distinct keys")
        seen.add(h)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchall()
    return int(row[0][0]) if row else 0


_ROWS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _sh_rows AS
WITH r2 AS (
    SELECT r.rowid AS rid, b.bk, b.protocol, b.transport, b.steps_part,
           CAST(r.port_j AS INTEGER) AS port,
           CASE WHEN r.ip_s IS NOT NULL AND {_CANONICAL_V4.replace("ip_s", "r.ip_s")}
                THEN r.ip_s ELSE i.ip END AS ip,
           CASE WHEN r.ts IS NOT NULL AND {_SHODAN_TIME.replace("ts", "r.ts")}
                THEN r.ts || '+00:00' ELSE t.obs END AS obs,
           r.hostname, x.tls_part, r.g_country, r.g_city, nullif(a.asn, '') AS g_asn, r.g_org,
           concat('[', concat_ws(',', nullif(r.extra_head, ''), {_pair("geo.asn", "a.asn", False)},
                                 {_pair("geo.org", "r.g_org", False)}), ']') AS extra
    FROM _sh_raw r
    JOIN _sh_banners b ON b.bh = r.bh
    LEFT JOIN _sh_ips i ON i.ip_s IS NOT DISTINCT FROM r.ip_s AND i.ip_j IS NOT DISTINCT FROM r.ip_j
    LEFT JOIN _sh_times t ON t.ts IS NOT DISTINCT FROM r.ts
    LEFT JOIN _sh_tls x ON x.sh = r.sh AND r.ssl IS NOT NULL
    LEFT JOIN _sh_asns a ON a.asn_v = r.asn
    WHERE coalesce(nullif(r.tr, ''), 'tcp') = 'tcp'
)
SELECT rid, bk, ip, port, protocol, transport, obs, left(obs, 10) AS day, hostname,
       g_country, g_city, g_asn, g_org, steps_part, tls_part,
       concat('{{"ip":', to_json(ip), ',"port":', port, ',"protocol":', to_json(protocol),
              ',"transport":', to_json(transport), ',"observed_at":', to_json(obs),
              ',"outcome":"ok","error":"","duration_ms":0,"hostname":', to_json(hostname),
              ',"source":"shodan","extra":', extra) AS data
FROM r2
"""


def extra_keys() -> Sequence[str]:
    """Every key the Shodan importer puts into ``extra`` (none is a field identify reads:
    a test checks it, which is why the columnar analysis identifies per banner)."""
    return tuple(
        itertools.chain(
            ("shodan.module",),
            (f"shodan.{f}" for f in (*_TEXT_FIELDS, *_LIST_FIELDS)),
            ("shodan.id", "shodan.http.title", "shodan.http.server", "shodan.http.host"),
            ("geo.country", "geo.city", "shodan.location.region_code", "geo.asn", "geo.org"),
        )
    )
