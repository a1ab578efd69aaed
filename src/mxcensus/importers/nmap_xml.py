"""nmap: XML output (``-oX``), typically of ``-sV`` with scripts such as ``banner``,
``smtp-commands``, ``ssl-cert``, ``imap-capabilities``, ``pop3-capabilities``, ``http-title``.

Streamed: the document is fed to an incremental parser line by line and each ``<host>`` is
turned into transcripts at its end tag and then cleared, so memory stays flat however many
hosts the file holds. One transcript per ``<port>`` of a mail or web service: ``open`` is
outcome ok, ``closed`` refused, ``filtered`` connect-timeout. nmap's own identification
(``<service product version extrainfo ostype cpe>``) is kept in ``extra``; the ``banner``
script output becomes the ``greeting`` step, ``smtp-commands`` the ``ehlo`` step (rebuilt as
a 250 reply from nmap's comma-separated summary) and the ``help`` step (the HELP reply nmap
keeps with its codes dropped, one 214 put back), ``ssl-cert`` the certificate. A file cut
short (an interrupted scan) keeps the hosts it has and reports the missing end.

Linear in the file's size whatever its shape: elements nested deeper than :data:`MAX_DEPTH`
(nmap writes at most ~8: nmaprun, host, ports, port, script, table, table, elem) or a
``<host>`` inside a ``<host>`` end the import with a one-line error, and a long line is fed
to the parser :data:`FEED` bytes at a time, so a hostile file never builds more than that
many elements before it is refused.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

from mxcensus.importers import _common as c
from mxcensus.importers.interface import ImportProblem, Item, Skipped, WrongFormatError
from mxcensus.model import Outcome, Step, TlsInfo, Transcript
from mxcensus.probes import TABLE

_STATE = {"open": Outcome.OK, "closed": Outcome.REFUSED, "filtered": Outcome.CONNECT_TIMEOUT}
_HEX = re.compile(rb"\\x([0-9A-Fa-f]{2})")
MAX_DEPTH = 100
"""Elements nested deeper than this are refused (nmap's own output nests about 8 deep)."""
FEED = 1 << 16
"""Bytes fed to the XML parser at once: a 64 MiB line is parsed and checked in slices."""


class NmapXmlImporter:
    name = "nmap-xml"

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        root: ET.Element | None = None
        run_start: datetime | None = None
        host_line = 0
        depth_host = False
        depth = 0
        n = 0
        for n, line in c.iter_lines(stream):
            if line is None:
                raise WrongFormatError(path, "line longer than 64 MiB in nmap XML", n)
            for event, elem in _events(parser, line, path, n, root is None):
                if event == "start":
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise WrongFormatError(
                            path, f"nmap XML nested deeper than {MAX_DEPTH} elements", n
                        )
                else:
                    depth -= 1
                if root is None:
                    if event != "start" or elem.tag != "nmaprun":
                        raise WrongFormatError(
                            path, f"not nmap XML: the root element is <{_local(elem.tag)}>", n
                        )
                    root = elem
                    start = elem.get("start")
                    run_start = _time(start, datetime.now(UTC))
                    continue
                if elem.tag != "host":
                    continue
                if event == "start":
                    if depth_host:
                        raise WrongFormatError(path, "<host> inside <host> in nmap XML", n)
                    host_line, depth_host = n, True
                    continue
                depth_host = False
                assert run_start is not None
                yield from _host(elem, host_line, run_start)
                root.clear()  # the host and everything parsed before it
        if root is None:
            raise WrongFormatError(path, "not nmap XML: no <nmaprun> element", max(n, 1))
        try:
            parser.close()
        except ET.ParseError:
            where = host_line if depth_host else n
            yield (
                where,
                ImportProblem(where, "the file ends before </nmaprun> (an interrupted scan?)"),
            )


def _events(
    parser: ET.XMLPullParser[ET.Element],
    line: bytes,
    path: str,
    n: int,
    first: bool,
) -> Iterator[tuple[str, ET.Element]]:
    """The parser's events for ``line``, fed :data:`FEED` bytes at a time; ``first``: no
    element of the file was read before it."""
    for at in range(0, len(line), FEED):
        events: list[tuple[str, ET.Element]] = []
        try:
            parser.feed(line[at : at + FEED])
            for ev in parser.read_events():
                kind, el = cast(tuple[str, Any], ev)
                if isinstance(el, ET.Element):
                    events.append((kind, el))
                    first = False
        except ET.ParseError as exc:
            if first:
                raise WrongFormatError(path, f"not nmap XML: {exc}", n) from exc
            raise WrongFormatError(path, f"nmap XML is not well-formed: {exc}", n) from exc
        except (ValueError, LookupError) as exc:  # expat: a multi-byte or unknown encoding
            raise WrongFormatError(
                path, f"nmap XML in an encoding it cannot read: {exc}", n
            ) from exc
        yield from events


def _time(seconds: str | None, default: datetime) -> datetime:
    """An epoch attribute (``start``, ``starttime``); ``default`` when absent, not digits or
    out of any datetime's range."""
    if not seconds or not seconds.isdigit():
        return default
    try:
        return c.epoch(int(seconds))
    except ValueError:
        return default


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _host(host: ET.Element, line: int, run_start: datetime) -> Iterator[Item]:
    ip = ""
    for addr in host.iter("address"):
        if addr.get("addrtype") in ("ipv4", "ipv6") and addr.get("addr"):
            ip = addr.get("addr", "")
            break
    if not ip:
        yield line, ImportProblem(line, "<host> without an IPv4/IPv6 <address>")
        return
    try:
        ip = c.address(ip)
    except ValueError as exc:
        yield line, ImportProblem(line, str(exc))
        return
    hostname = ""
    for hn in host.iter("hostname"):
        if hn.get("name"):
            hostname = hn.get("name", "")
            if hn.get("type") == "user":
                break
    when = host.get("starttime") or host.get("endtime") or ""
    observed = _time(when, run_start)
    found = False
    for port in host.iter("port"):
        item = _port(port, ip, hostname, observed, line)
        if item is not None:
            found = True
            yield line, item
    if not found:
        yield line, Skipped("no mail or web port")


def _banner(output: str) -> tuple[bytes, bool]:
    """The bytes behind the ``banner`` script's output, and whether nmap cut it.

    banner.nse escapes non-printable bytes (CR LF too) as ``\\xNN``, wraps its output at 75
    columns with real newlines, and cuts long banners with "..." (more with ``-v``): the
    wrapping goes, the escapes are undone, the cut is marked.
    """
    text = output.replace("\n", "")
    cut = text.endswith("...")
    if cut:
        text = text[:-3]
    raw = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "replace"))
    return raw, cut


def _port(
    port: ET.Element, ip: str, hostname: str, observed: datetime, line: int
) -> Transcript | ImportProblem | None:
    if port.get("protocol") != "tcp":
        return None
    portid = port.get("portid", "")
    if not portid.isdigit() or not 0 < int(portid) < 65536:
        return ImportProblem(line, f"<port> with a bad portid {portid!r}")
    number = int(portid)
    state_el = port.find("state")
    state = state_el.get("state", "") if state_el is not None else ""
    outcome = _STATE.get(state)
    if outcome is None:
        return None
    svc = port.find("service")
    sname = svc.get("name", "") if svc is not None else ""
    tunnel = svc.get("tunnel", "") if svc is not None else ""
    family = c.family_of(number, sname)
    if family is None and outcome is Outcome.OK:
        return None
    if family is None:
        family = c.family_of(number)
        if family is None:
            return None
    scripts = {s.get("id", ""): s for s in port.iter("script")}
    steps = _script_steps(scripts, family)
    tls = _tls_of(scripts)
    implicit = tunnel == "ssl" or (tls is not None and number in TABLE.tls_ports)
    protocol = c.protocol_of(family, number, tls=implicit)
    extra: list[tuple[str, str]] = [("nmap.state", state)]
    if svc is not None:
        for attr in ("name", "product", "version", "extrainfo", "ostype", "hostname", "tunnel",
                     "method", "conf"):  # fmt: skip
            c.keep(extra, f"nmap.{attr}", svc.get(attr))
        c.keep(extra, "nmap.cpe", [e.text for e in svc.iter("cpe") if e.text])
    return Transcript(
        ip=ip,
        port=number,
        protocol=protocol,
        transport=c.transport_of(protocol, starttls=tls is not None and not implicit),
        observed_at=observed,
        outcome=outcome,
        steps=tuple(steps),
        tls=tls,
        hostname=hostname,
        source="nmap-xml",
        extra=tuple(extra),
    )


def _script_steps(scripts: dict[str, ET.Element], family: str) -> list[Step]:
    """The dialogue nmap's scripts recorded, as the steps a probe would have: the banner,
    smtp-commands' EHLO keywords and HELP reply, IMAP/POP3 capabilities, HTTP."""
    steps: list[Step] = []
    banner = scripts.get("banner")
    if banner is not None and banner.get("output"):
        data, cut = _banner(banner.get("output", ""))
        got = c.smtp_steps(data) if family == "smtp" else (c.step("greeting", data),)
        steps.append(dataclasses.replace(got[0], code=c.reply_code(data), truncated=cut))
        steps.extend(got[1:])
    cmds = scripts.get("smtp-commands")
    if cmds is not None and cmds.get("output") and family == "smtp":
        steps += _smtp_commands(cmds.get("output", ""))
    caps = scripts.get("imap-capabilities")
    if caps is not None and caps.get("output") and family == "imap":
        steps.append(c.step("capability", f"* CAPABILITY {caps.get('output')}\r\n".encode()))
    caps = scripts.get("pop3-capabilities")
    if caps is not None and caps.get("output") and family == "pop3":
        body = "\r\n".join(caps.get("output", "").split())
        steps.append(c.step("capa", f"+OK\r\n{body}\r\n.\r\n".encode()))
    if c.is_http(family):
        step = _http(scripts)
        if step is not None:
            steps.append(step)
    return steps


def _smtp_commands(output: str) -> list[Step]:
    """smtp-commands: its first line the EHLO keywords, the rest the HELP reply."""
    steps: list[Step] = []
    first = output.split("\n", 1)[0]
    items = [p.strip() for p in first.split(",") if p.strip()]
    if items:
        lines = [f"250-{i}" for i in items[:-1]] + [f"250 {items[-1]}"]
        steps.append(c.step("ehlo", ("\r\n".join(lines) + "\r\n").encode(), code=250))
    # the script's second part is the HELP reply, codes dropped and lines joined
    helped = " ".join(" ".join(output.split("\n")[1:]).split())
    if helped:
        reply = helped if c.reply_code(helped.encode()) else f"214 {helped}"  # 211 kept
        data = f"{reply}\r\n".encode()
        steps.append(c.step("help", data, code=c.reply_code(data)))
    return steps


def _tls_of(scripts: dict[str, ET.Element]) -> TlsInfo | None:
    """The certificate ssl-cert recorded (nmap keeps no version or cipher)."""
    cert_script = scripts.get("ssl-cert")
    if cert_script is None:
        return None
    pem = next((e.text for e in cert_script.iter("elem") if e.get("key") == "pem"), None)
    cert = c.cert_from_pem(pem) if pem else None
    return c.tls_info("", "", (cert,)) if cert is not None else None


def _http(scripts: dict[str, ET.Element]) -> Step | None:
    headers: list[tuple[str, str]] = []
    code: int | None = None
    hh = scripts.get("http-headers")
    if hh is not None and hh.get("output"):
        raw = "\n".join(
            ln.strip() for ln in hh.get("output", "").splitlines() if ln.strip()
        ).encode()
        code, parsed, _ = c.http_head(raw)
        headers.extend(parsed)
    server = scripts.get("http-server-header")
    if (
        server is not None
        and server.get("output")
        and not any(k.lower() == "server" for k, _ in headers)
    ):
        headers.append(("Server", server.get("output", "")))
    title = scripts.get("http-title")
    body = b""
    if title is not None and title.get("output"):
        text = title.get("output", "").split("\n", 1)[0]
        body = f"<title>{text}</title>".encode()
    if not headers and not body:
        return None
    return c.http_step("/", code, tuple(headers), body)
