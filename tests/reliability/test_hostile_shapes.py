"""Parsers stay linear whatever the shape of their input (issue 18 item 5): nesting and record
sizes are capped with a one-line error naming the file and line, and what follows a
malformed record still imports.

Each reader runs on the hostile file directly (no store: the cost measured is the parser's);
the pytest timeout bounds a regression to quadratic time (minutes before the cap)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mxcensus.importers.interface import ImportProblem, Item, WrongFormatError
from mxcensus.importers.nmap_xml import MAX_DEPTH
from mxcensus.importers.registry import IMPORTERS
from mxcensus.importers.shadowserver import MAX_HEADER, MAX_RECORD
from mxcensus.model import Transcript
from mxcensus.serialize import dumps, loads
from tests.conftest import RunCli

pytestmark = pytest.mark.timeout(60)

NESTED = 200_000
NMAP_HEAD = b'<?xml version="1.0"?>\n<nmaprun start="1700000000">'
NMAP_HOST = (
    b'<host><address addr="127.0.0.1" addrtype="ipv4"/><ports><port protocol="tcp"'
    b' portid="25"><state state="open"/><service name="smtp"/></port></ports></host>'
)


def read(fmt: str, data: bytes, name: str = "hostile") -> list[Item]:
    return list(IMPORTERS[fmt].read(io.BytesIO(data), name))


def refused(fmt: str, data: bytes, name: str = "hostile") -> WrongFormatError:
    with pytest.raises(WrongFormatError) as err:
        read(fmt, data, name)
    assert "\n" not in str(err.value)
    return err.value


def test_nmap_200k_nested_hosts_refused_at_the_second_host() -> None:
    """The issue's file: 200,000 nested <host> elements, 2.6 MB on one line."""
    data = NMAP_HEAD + b"<host>" * NESTED + b"</host>" * NESTED + b"</nmaprun>\n"
    assert len(data) > 2_600_000
    err = refused("nmap-xml", data)
    assert str(err) == "hostile:2: <host> inside <host> in nmap XML"


def test_nmap_nested_hosts_one_per_line() -> None:
    data = NMAP_HEAD + b"\n" + b"<host>\n" * NESTED + b"</host>\n" * NESTED + b"</nmaprun>\n"
    assert str(refused("nmap-xml", data)) == "hostile:4: <host> inside <host> in nmap XML"


def test_nmap_deep_elements_inside_a_host() -> None:
    inner = b"<table>" * NESTED + b"</table>" * NESTED
    data = NMAP_HEAD + b"<host><ports>" + inner + b"</ports></host></nmaprun>\n"
    err = refused("nmap-xml", data)
    assert str(err) == f"hostile:2: nmap XML nested deeper than {MAX_DEPTH} elements"


def test_nmap_nesting_at_the_cap_imports() -> None:
    """Nesting up to the cap is allowed (nmap itself nests ~8 deep): the host before it and
    the host after it both import."""
    deep = MAX_DEPTH - 5  # nmaprun, host, ports, port, script
    script = b'<script id="x">' + b"<table>" * deep + b"</table>" * deep + b"</script>"
    host = NMAP_HOST.replace(b"</port>", script + b"</port>")
    data = NMAP_HEAD + b"\n" + host + b"\n" + NMAP_HOST.replace(b".1", b".2") + b"</nmaprun>\n"
    got = [x for _, x in read("nmap-xml", data)]
    assert [t.ip for t in got if isinstance(t, Transcript)] == ["127.0.0.1", "127.0.0.2"]


def test_nmap_deep_file_by_the_cli(tmp_path: Path, mx: RunCli) -> None:
    f = tmp_path / "nested.xml"
    f.write_bytes(NMAP_HEAD + b"<host>" * NESTED + b"</host>" * NESTED + b"</nmaprun>\n")
    db = tmp_path / "s.duckdb"
    r = mx("import", "nmap-xml", str(f), "--db", str(db), "-q")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"mxcensus: error: {f}:2: <host> inside <host> in nmap XML"
    ]


def _deep(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


JSON_RECORDS = {
    "shodan": '{"ip_str":"127.0.0.%d","port":25,"transport":"tcp",'
    '"timestamp":"2024-03-05T11:22:33","data":"220 x\\r\\n","opts":{"x":%s}}',
    "censys": '{"ip":"127.0.0.%d","services":[{"port":25,"service_name":"SMTP",'
    '"transport_protocol":"TCP","observed_at":"2024-03-06T03:55:12Z","banner":"220 x",'
    '"x":%s}]}',
    "zgrab2": '{"ip":"127.0.0.%d","data":{"smtp":{"status":"success","protocol":"smtp",'
    '"result":{"banner":"220 x\\r\\n","x":%s}}}}',
}


@pytest.mark.parametrize("fmt", sorted(JSON_RECORDS))
def test_json_lines_nested_past_the_parser_limit(fmt: str) -> None:
    """A record nested 200,000 deep is one malformed record (orjson's depth limit of 1024);
    the records around it import."""
    rec = JSON_RECORDS[fmt]
    lines = [rec % (1, "1"), rec % (2, _deep(NESTED)), rec % (3, "1")]
    got = read(fmt, "\n".join(lines).encode() + b"\n")
    problems = [(n, x.message) for n, x in got if isinstance(x, ImportProblem)]
    assert len(problems) == 1 and problems[0][0] == 2, problems
    assert "depth limit exceeded" in problems[0][1]
    ips = {x.ip for _, x in got if isinstance(x, Transcript)}
    assert ips == {"127.0.0.1", "127.0.0.3"}


@pytest.mark.parametrize("fmt", sorted(JSON_RECORDS))
@pytest.mark.parametrize("depth", [300, 1000])
def test_json_lines_nested_within_the_parser_limit(fmt: str, depth: int) -> None:
    """Nested deep but under the parser's limit: the record imports (the nesting lies in a
    field no converter descends into) and its transcript serialises."""
    rec = JSON_RECORDS[fmt]
    got = read(fmt, (rec % (1, _deep(depth))).encode() + b"\n")
    ts = [x for _, x in got if isinstance(x, Transcript)]
    assert [t.ip for t in ts] == ["127.0.0.1"], got
    assert loads(dumps(ts[0])) == ts[0]


def test_masscan_json_nested_past_the_parser_limit() -> None:
    rec = (
        '{"ip":"127.0.0.%d","timestamp":"1709637753",'
        '"ports":[{"port":25,"proto":"tcp","status":"open","x":%s}]}'
    )
    data = "[\n" + ",\n".join([rec % (1, "1"), rec % (2, _deep(NESTED)), rec % (3, "1")]) + "\n]\n"
    got = read("masscan", data.encode())
    problems = [(n, x.message) for n, x in got if isinstance(x, ImportProblem)]
    assert len(problems) == 1 and "depth limit exceeded" in problems[0][1], problems
    assert {x.ip for _, x in got if isinstance(x, Transcript)} == {"127.0.0.1", "127.0.0.3"}


SS_HEADER = (
    '"timestamp","severity","ip","protocol","port","hostname","tag","asn","geo","region",'
    '"city","naics","hostname_source","sector","banner"\n'
)
SS_ROW = (
    '"2024-03-02 01:02:03","info","127.0.0.%d","tcp",25,"x","smtp",1,"FR","a","b",1,"ptr",,'
    '"220 x"\n'
)
SS_NAME = "2024-03-02-scan_smtp-example.csv"


def _shadowserver(middle: str) -> list[Item]:
    return read("shadowserver", (SS_HEADER + SS_ROW % 1 + middle + SS_ROW % 3).encode(), SS_NAME)


@pytest.mark.parametrize(
    ("middle", "message"),
    [
        # a line of nothing but commas: 40 million fields before the cap
        ('"x"' + "," * 40_000_000 + "\n", f"a record longer than {MAX_RECORD} characters"),
        # one line of 40 MB with no quote and no comma
        ("A" * 40_000_000 + "\n", f"a record longer than {MAX_RECORD} characters"),
        # a quoted field over csv's field limit (16 MiB)
        ('"' + "A" * 17_000_000 + '"\n', "bad CSV: field larger than field limit (16777216)"),
    ],
    ids=["commas", "long-line", "long-field"],
)
def test_shadowserver_oversized_record_is_one_problem(middle: str, message: str) -> None:
    got = _shadowserver(middle)
    problems = [(n, x.message) for n, x in got if isinstance(x, ImportProblem)]
    assert problems == [(3, message)]
    lines = {x.ip: n for n, x in got if isinstance(x, Transcript)}
    assert lines == {"127.0.0.1": 2, "127.0.0.3": 4}  # line numbers still right after it


def test_shadowserver_stray_quote_swallowing_many_lines_is_bounded() -> None:
    """A quote that opens a field and never closes: csv's field limit (16 MiB) ends it before
    the record cap; the record is one problem and the reader goes on (the lines after are
    malformed rows of their own or rows again)."""
    middle = '"2024-03-02 01:02:03","info","127.0.0.2","tcp",25,"x","smtp",1,"FR","a","b",1,,,"'
    middle += ("A" * 16_000 + "\n") * 1_100  # 17.6 MB inside one quoted field
    got = _shadowserver(middle)
    problems = [(n, x.message) for n, x in got if isinstance(x, ImportProblem)]
    assert problems[0] == (3, "bad CSV: field larger than field limit (16777216)")
    assert "127.0.0.1" in {x.ip for _, x in got if isinstance(x, Transcript)}


def test_shadowserver_header_too_wide() -> None:
    header = ",".join(f'"c{i}"' for i in range(2_000_000)) + "\n"
    err = refused("shadowserver", (header + SS_ROW % 1).encode(), SS_NAME)
    assert str(err) == (
        f"{SS_NAME}:1: not a Shadowserver CSV report: a header longer than {MAX_HEADER} characters"
    )
