"""Running imports: big files with malformed lines, gzip, wrong formats, --strict, memory."""

from __future__ import annotations

import gzip
import ipaddress
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from mxcensus.importers import ImportProgress, import_files, run
from mxcensus.importers.interface import (
    ImportInputError,
    MalformedRecordError,
    UnreadableInputError,
    WrongFormatError,
)
from mxcensus.model import Transcript
from mxcensus.store.db import Store
from tests.importers.conftest import fixture, store_state


def _ip(i: int) -> str:
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("100.64.0.0")) + i))


def _json_lines(template_file: str, n: int, bad: dict[int, bytes], set_ip: Callable) -> bytes:
    templates = [orjson.loads(x) for x in fixture(template_file).read_bytes().splitlines() if x]
    out = []
    for line in range(1, n + 1):
        if line in bad:
            out.append(bad[line])
            continue
        rec = dict(templates[line % len(templates)])
        set_ip(rec, _ip(line))
        out.append(orjson.dumps(rec))
    return b"\n".join(out) + b"\n"


def _shodan_ip(rec: dict, ip: str) -> None:
    rec["ip_str"] = ip
    rec.pop("ip", None)


def _plain_ip(rec: dict, ip: str) -> None:
    rec["ip"] = ip


SHODAN_BAD = {
    17: b'{"ip_str": "100.64.9.9", "port": 25, "data": "220 cut',
    500: b"[1, 2, 3]",
    999: b'{"ip_str": "100.64.9.10", "port": "twenty-five"}',
}


def thousand(fmt: str, tmp: Path) -> tuple[Path, set[int]]:
    """A file of 1,000 records of ``fmt`` with three malformed ones; their line numbers."""
    if fmt == "shodan":
        data = _json_lines("shodan-mail.json", 1000, SHODAN_BAD, _shodan_ip)
        return _write(tmp / "shodan.json", data), set(SHODAN_BAD)
    if fmt == "censys":
        bad = {
            3: b'{"ip": "100.64.9.1", "services": [{"port": 25,',
            404: b'{"ip": "100.64.9.2", "services": "none"}',
            1000: b'{"ip": "100.64.9.3", "services": [{"port": 99999}]}',
        }
        return _write(
            tmp / "censys.json", _json_lines("censys-hosts.json", 1000, bad, _plain_ip)
        ), set(bad)
    if fmt == "zgrab2":
        bad = {
            2: b'{"ip": "100.64.9.1", "data": {"smtp": {"status": "success", ',
            250: b'{"ip": "100.64.9.2", "data": {"smtp": {"status": "exploded"}}}',
            777: b'{"ip": "100.64.9.3", "data": {"smtp": "no"}}',
        }
        data = _json_lines("zgrab2-mail.json", 1000, bad, _plain_ip)
        return _write(tmp / "zgrab2.json", data), set(bad)
    if fmt == "masscan":
        lines = ["#masscan"]
        bad = {10, 600, 1000}
        for line in range(2, 1001):
            if line == 10:
                lines.append("open tcp 25x 100.64.9.1 1709637753")
            elif line == 600:
                lines.append("open tcp")
            elif line == 1000:
                lines.append("banner tcp 25 100.64.9.3 1709637753")
            elif line % 2:
                lines.append(
                    f"banner tcp 25 {_ip(line - 1)} 1709637760 smtp 220 mx ESMTP Exim 4.96"
                )
            else:
                lines.append(f"open tcp 25 {_ip(line)} 1709637753")
        return _write(tmp / "masscan.txt", ("\n".join(lines) + "\n").encode()), bad
    if fmt == "shadowserver":
        header, *rows = fixture("2024-03-02-scan_smtp-example.csv").read_text().splitlines()
        out = [header]
        bad = {5, 321, 1000}
        for line in range(2, 1001):
            if line == 5:
                out.append('"2024-03-02 01:02:03","info","100.64.9.1","tcp",25')
            elif line == 321:
                out.append(rows[0].replace('"tcp",25,', '"tcp",ssh,'))
            elif line == 1000:
                out.append(rows[1].replace("2024-03-02 01:02:05", "yesterday"))
            else:
                out.append(
                    rows[line % 2]
                    .replace("203.0.113.80", f"100.64.{line // 250}.{line % 250}")
                    .replace("203.0.113.81", f"100.64.{line // 250}.{line % 250}")
                )
        return _write(tmp / "2024-03-02-scan_smtp-big.csv", ("\n".join(out) + "\n").encode()), bad
    if fmt == "nmap-xml":
        xml = fixture("nmap-exim.xml").read_text()
        head, rest = xml.split("<host ", 1)
        host, tail = ("<host " + rest).split("</host>\n", 1)
        host += "</host>\n"
        out = head
        bad: set[int] = set()
        for i in range(1000):
            line = out.count("\n") + 1
            h = host.replace('addr="127.0.0.1"', f'addr="{_ip(i)}"')
            if i == 41:
                h = h.replace('<address addr="100.64.0.41" addrtype="ipv4"/>', "")
                bad.add(line)
            elif i == 900:
                h = h.replace('portid="2525"', 'portid="ninety"')
                bad.add(line)
            out += h
        return _write(tmp / "nmap.xml", (out + tail).encode()), bad
    raise AssertionError(fmt)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


FORMATS = ["shodan", "censys", "zgrab2", "masscan", "shadowserver", "nmap-xml"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_thousand_records_with_malformed_lines(store: Store, tmp_path: Path, fmt: str) -> None:
    path, bad_lines = thousand(fmt, tmp_path)
    r = import_files(store, fmt, [path], analyze=False)
    assert {p.line for p in r.problems} == bad_lines
    assert r.malformed == len(bad_lines)
    assert all(p.path == str(path) and p.message for p in r.problems)
    assert r.transcripts >= 450  # masscan merges open + banner lines into one
    assert store.count("transcripts", r.scan) == r.transcripts
    assert store.find_scan(r.scan)["status"] == "finished"  # type: ignore[index]


@pytest.mark.parametrize("fmt", FORMATS)
def test_strict_stops_at_the_first_and_writes_nothing(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    path, bad_lines = thousand(fmt, tmp_path)
    before = store_state(store)
    with pytest.raises(MalformedRecordError) as info:
        import_files(store, fmt, [path], strict=True, name="strict-run", analyze=False)
    assert info.value.line == min(bad_lines)
    assert str(info.value).startswith(f"{path}:{min(bad_lines)}: ")
    assert store_state(store) == before
    assert store.find_scan("strict-run") is None


def test_strict_on_a_clean_file_imports(store: Store) -> None:
    r = import_files(store, "shodan", [fixture("shodan-mail.json")], strict=True, analyze=False)
    assert r.transcripts == 6 and r.malformed == 0


def test_truncated_gzip_names_file_and_leaves_store_unchanged(store: Store, tmp_path: Path) -> None:
    path, _ = thousand("shodan", tmp_path)
    whole = gzip.compress(path.read_bytes())
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    before = store_state(store)
    with pytest.raises(UnreadableInputError, match="truncated gzip") as info:
        import_files(store, "shodan", [fixture("shodan-mail.json"), cut], analyze=False)
    assert str(info.value).startswith(f"{cut}:")
    assert info.value.line is not None and info.value.line > 1
    assert store_state(store) == before  # the first file's batch was removed again


def test_gzip_of_a_thousand_imports_like_the_plain_file(store: Store, tmp_path: Path) -> None:
    path, bad = thousand("shodan", tmp_path)
    gz = tmp_path / "shodan.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    a = import_files(store, "shodan", [path], analyze=False)
    b = import_files(store, "shodan", [gz], analyze=False)
    assert (a.transcripts, a.malformed) == (b.transcripts, b.malformed)
    assert {p.line for p in b.problems} == bad


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("shodan", fixture("2021-07-08-scan_smtp_vulnerable-example.csv").read_bytes(),
         "not shodan JSON lines"),
        ("shodan", fixture("censys-hosts.json").read_bytes(), "not a Shodan banner"),
        ("censys", fixture("shodan-mail.json").read_bytes(), "not a Censys host document"),
        ("zgrab2", fixture("shodan-mail.json").read_bytes(), "not a zgrab2 result"),
        ("nmap-xml", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>\n',
         "root element is <svg>"),
        ("nmap-xml", fixture("shodan-mail.json").read_bytes(), "not nmap XML"),
        ("masscan", fixture("nmap-exim.xml").read_bytes(), "not masscan output"),
        ("shadowserver", fixture("shodan-mail.json").read_bytes(), "not a Shadowserver CSV"),
        ("shadowserver", b"a,b,c\n1,2,3\n", "lacks ip, port, timestamp"),
        ("shadowserver", b"", "empty file"),
    ],
)  # fmt: skip
def test_wrong_format_is_a_clear_error(
    store: Store, tmp_path: Path, fmt: str, content: bytes, message: str
) -> None:
    path = tmp_path / "input.dat"
    path.write_bytes(content)
    before = store_state(store)
    with pytest.raises(WrongFormatError, match=message) as info:
        import_files(store, fmt, [fixture("shodan-mail.json"), path] if fmt == "shodan" else [path])
    assert str(info.value).startswith(f"{path}")
    assert store_state(store) == before


def test_a_file_of_only_malformed_records_is_the_wrong_format(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"ip_str": "100.64.0.1", "port": 25, "data"\n{"broken\n')
    with pytest.raises(WrongFormatError, match="no record could be imported; the first: line 1"):
        import_files(store, "shodan", [path], analyze=False)
    assert store_state(store) == (0, 0, 0)


def test_unreadable_inputs(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match="no such file"):
        import_files(store, "shodan", [tmp_path / "missing.json"])
    with pytest.raises(UnreadableInputError, match="not a regular file"):
        import_files(store, "shodan", [tmp_path])
    assert issubclass(UnreadableInputError, ImportInputError)
    assert store_state(store) == (0, 0, 0)


def test_progress_reaches_the_total(store: Store, tmp_path: Path) -> None:
    path, _ = thousand("shodan", tmp_path)
    seen: list[ImportProgress] = []
    import_files(store, "shodan", [path], progress=seen.append, analyze=False)
    assert seen and seen[-1].bytes_done == seen[-1].bytes_total == path.stat().st_size
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    assert seen[-1].records == 1000


def test_name_is_kept_and_must_be_new(store: Store) -> None:
    r = import_files(
        store, "shodan", [fixture("shodan-mail.json")], name="shodan-march", analyze=False
    )
    assert store.resolve_scan("shodan-march") == r.scan
    found = store.find_scan("shodan-march")
    assert found is not None and found["kind"] == "import" and found["source"] == "shodan"
    with pytest.raises(Exception, match="exists already"):
        import_files(store, "shodan", [fixture("shodan-mail.json")], name="shodan-march")


def test_memory_stays_flat_as_the_file_grows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak memory of an import does not grow with the number of records."""
    monkeypatch.setattr(run, "BATCH", 300)
    peaks = []
    for n in (1_500, 6_000):
        path = _write(tmp_path / f"s{n}.json", _json_lines("shodan-mail.json", n, {}, _shodan_ip))
        tracemalloc.start()
        r = import_files(store, "shodan", [path], analyze=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert r.records == n
    assert peaks[1] < peaks[0] * 1.5, peaks  # four times the records, not four times the memory


def test_duckdb_memory_is_limited_while_importing_and_restored(
    store: Store, tmp_path: Path
) -> None:
    """DuckDB keeps the blocks it writes cached up to its memory limit (80% of RAM by
    default): an import runs under run.IMPORT_MEMORY, and the store's own limit is back
    afterwards, after a failed import too."""

    def limit() -> str:
        return str(store.row("SELECT current_setting('memory_limit')")[0])

    store.con.execute("SET memory_limit = '3GiB'")
    during: list[str] = []
    path, _ = thousand("shodan", tmp_path)
    import_files(store, "shodan", [path], progress=lambda _p: during.append(limit()))
    assert run.IMPORT_MEMORY == "1GiB"
    assert during and set(during) == {"1.0 GiB"}
    assert limit() == "3.0 GiB"
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(path.read_bytes())[:-2000])
    with pytest.raises(UnreadableInputError):  # midway, inside the import's transaction
        import_files(store, "shodan", [cut])
    assert limit() == "3.0 GiB"


@pytest.mark.parametrize(
    ("fmt", "name", "content"),
    [
        ("shodan", "s.json", b'{"ip_str": "192.0.2.1", "port": 25, "data": "220 ok"}\n'
                             b'{"ip_str": "mail.example.com", "port": 25, "data": "220 x"}\n'),
        ("masscan", "m.txt",
         b"open tcp 25 192.0.2.1 1709637753\nopen tcp 25 999.1.1.1 1709637753\n"),
        ("shadowserver", "2024-01-01-scan_smtp.csv",
         b"timestamp,ip,port,banner\n2024-01-01 00:00:00,192.0.2.1,25,220 ok\n"
         b"2024-01-01 00:00:00,=cmd|' /C calc'!A0,25,220 x\n"),
    ],
)  # fmt: skip
def test_an_address_that_is_not_one_is_a_malformed_record(
    store: Store, tmp_path: Path, fmt: str, name: str, content: bytes
) -> None:
    path = _write(tmp_path / name, content)
    r = import_files(store, fmt, [path], analyze=False)
    assert (r.transcripts, r.malformed) == (1, 1)
    assert r.problems[0].line == content.count(b"\n")  # the last line
    assert "not an IP address" in r.problems[0].message


def test_stored_docs_are_the_transcripts_read_gives(tmp_path: Path) -> None:
    """Shodan's import writes its JSON documents directly (no Transcript objects): what the
    store holds must be exactly what ``read`` gives, columns included."""
    from mxcensus.importers.registry import IMPORTERS

    path = fixture("shodan-mail.json")
    with path.open("rb") as f:
        expected = [
            t for _n, t in IMPORTERS["shodan"].read(f, str(path)) if isinstance(t, Transcript)
        ]
    assert len(expected) >= 5
    with Store.open(tmp_path / "x.duckdb") as store:
        r = import_files(store, "shodan", [path], analyze=False)
        got = list(store.iter_transcripts(r.scan))
        cols = store.con.execute(
            "SELECT ip, port, protocol, transport, observed_at, outcome, source"
            " FROM transcripts WHERE scan = ? ORDER BY ip, port",
            [r.scan],
        ).fetchall()
    key = lambda t: (t.ip, t.port)  # noqa: E731
    want = sorted(expected, key=key)
    assert sorted(got, key=key) == want
    assert [
        (ip, port, proto, tr, when.timestamp(), out, src)
        for ip, port, proto, tr, when, out, src in cols
    ] == [
        (t.ip, t.port, t.protocol, t.transport.value, t.observed_at.timestamp(),
         t.outcome.value, t.source)
        for t in want
    ]  # fmt: skip


def _varied_shodan_banners() -> list[dict]:
    """Shodan banners of every shape the converter meets: HTTP with its fields, missing and
    odd location/asn/org, binary and non-ASCII data, long fields, IPv6, certificates with and
    without Shodan's summary, evidence fields of other JSON kinds."""
    templates = [orjson.loads(x) for x in fixture("shodan-mail.json").read_bytes().splitlines()]
    smtp, http = templates[0], next(t for t in templates if "http" in t)
    binary = "220 m\x00x\x7f \x80\xff é ✉ \U0001f4e7\r\n250-a\r\n250 b\r\nno code\r\n"
    mutations: list[Callable[[dict], None]] = [
        lambda r: None,
        lambda r: r.update(data=binary),
        lambda r: r.update(data=""),
        lambda r: r.pop("data"),
        lambda r: r.update(data="x" * (70 * 1024)),  # truncated at 64 KiB
        lambda r: r.update(data="220-a\r\n220 b\r\n250-c\r\n250 d\r\n250 e\r\n214 help\r\n"),
        lambda r: r.pop("location"),
        lambda r: r.update(location={"country_code": None, "city": "Zürich"}),
        lambda r: r.update(location="DE"),
        lambda r: r.update(asn=64500),
        lambda r: r.update(asn="as 1"),
        lambda r: r.update(asn=""),
        lambda r: r.update(org="", isp="Fallback ISP"),
        lambda r: r.pop("org"),
        lambda r: r.update(product=["a", 1, None], version=4.92, info=True, os={"x": 1}),
        lambda r: r.update(product="p" * 3000),
        lambda r: r.update(hostnames=[]),
        lambda r: r.update(hostnames=["ünïcode.example", "b"]),
        lambda r: r.update(timestamp="2024-03-05T11:22:33Z"),
        lambda r: r.update(timestamp=1709637753),
        lambda r: r.update(timestamp="2024-03-05 11:22:33.123456789+02:00"),
        lambda r: r.update(ip_str="2001:DB8::0:1"),
        lambda r: (r.pop("ip_str"), r.update(ip=3221226009)),
        lambda r: r.update(_shodan={"module": "smtps", "id": 7}),
        lambda r: r.update(port=587),
        lambda r: r.update(port=465, _shodan={"module": "smtp"}),
        lambda r: r.update(transport="udp"),
        lambda r: r.pop("ssl", None),
        lambda r: r.update(ssl={"versions": ["TLSv1", "-TLSv1.3"], "cipher": {"name": "X"}}),
        lambda r: r.update(ssl={"cipher": {"version": "TLSv1.2"}, "cert": {"subject": {}}}),
        lambda r: r.update(
            ssl={
                "cert": {
                    "subject": {"CN": ["a", "b"], "O": ""},
                    "issuer": "CN=i",
                    "serial": "0A:FF",
                    "issued": "20249999000000Z",
                    "expires": "20300101000000Z",
                    "fingerprint": {"sha256": "AB:CD"},
                }
            }
        ),
    ]
    http_mutations: list[Callable[[dict], None]] = [
        lambda r: None,
        lambda r: r["http"].update(status=503, location="/owa/?x=1", title="T" * 2000),
        lambda r: r["http"].update(html="<p>\x00 é ✉</p>", server=None, host="h:8443"),
        lambda r: r.update(http={}),
        lambda r: r.update(data="HTTP/1.1 302 Found\r\nLocation: /x\r\nX-Ünï: ✉\r\n\r\nbody"),
        lambda r: r.pop("ssl", None),
    ]
    out = []
    for base, muts in ((smtp, mutations), (http, http_mutations)):
        for mutate in muts:
            rec = orjson.loads(orjson.dumps(base))  # a deep copy
            mutate(rec)
            out.append(rec)
    for t in templates:  # every module of the fixture, IMAP/POP3 with each odd payload too
        for data in (None, binary, "* OK ready\r\n", "+OK\r\n  \r\n"):
            rec = orjson.loads(orjson.dumps(t))
            if data is not None:
                rec["data"] = data
            out.append(rec)
    for i, rec in enumerate(out):
        if "ip_str" in rec and rec["ip_str"] == templates[0]["ip_str"]:
            rec["ip_str"] = _ip(i)
    return out


def test_stored_docs_equal_the_transcript_path_on_varied_banners(tmp_path: Path) -> None:
    """The document fast path (Shodan's read_docs -> Store.write_transcript_docs) stores what
    the Transcript path (read -> Store.write_transcripts) stores, losslessly, on banners of
    every shape, binary and non-ASCII data included; columns too."""
    from mxcensus.importers.registry import IMPORTERS

    banners = _varied_shodan_banners()
    path = _write(tmp_path / "varied.json", b"\n".join(orjson.dumps(b) for b in banners) + b"\n")
    with path.open("rb") as f:
        items = list(IMPORTERS["shodan"].read(f, str(path)))
    expected = [t for _n, t in items if isinstance(t, Transcript)]
    assert len(expected) >= len(banners) - 10  # nearly all are mail or web services
    protocols = {t.protocol for t in expected}
    assert protocols >= {"smtp", "smtps", "submission", "https", "imaps", "pop3"}
    cols = "ip, port, protocol, transport, observed_at, outcome, source"
    with Store.open(tmp_path / "x.duckdb") as store:
        fast = import_files(store, "shodan", [path], analyze=False)
        assert fast.malformed == 0 and fast.transcripts == len(expected)
        slow = store.create_scan(name="slow", kind="import", source="shodan", params={})
        store.write_transcripts(slow, expected)
        got = {
            scan: (
                list(store.iter_transcripts(scan)),
                store.con.execute(
                    f"SELECT {cols} FROM transcripts WHERE scan = ? ORDER BY ip, port, data",
                    [scan],
                ).fetchall(),
            )
            for scan in (fast.scan, slow)
        }
    key = lambda t: (t.ip, t.port, repr(t))  # noqa: E731
    assert sorted(got[fast.scan][0], key=key) == sorted(expected, key=key)
    assert sorted(got[slow][0], key=key) == sorted(expected, key=key)
    assert got[fast.scan][1] == got[slow][1]


@pytest.mark.parametrize("limit", [5_000, 4_096])
def test_an_overlong_line_is_one_malformed_record_and_numbering_goes_on(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """A line over the limit (64 MiB; lowered here) is skipped without being held, reported
    with its number, and the lines after it keep their numbers."""
    from mxcensus.importers import _common

    monkeypatch.setattr(_common, "MAX_LINE", limit)
    lines = _json_lines("shodan-mail.json", 30, {}, _shodan_ip).splitlines()
    lines[9] = b'{"ip_str": "100.64.9.9", "port": 25, "data": "' + b"x" * (3 * limit) + b'"}'
    lines[19] = b"{" + b" " * (limit - 2) + b"}"  # exactly the limit without its newline
    path = _write(tmp_path / "long.json", b"\n".join(lines) + b"\n")
    r = import_files(store, "shodan", [path], analyze=False)
    assert [(p.line, p.message) for p in r.problems] == [
        (10, "line longer than 64 MiB"),
        (20, "line longer than 64 MiB"),
    ]
    assert r.records == 30 and r.malformed == 2
    assert r.transcripts + r.skipped == 28
