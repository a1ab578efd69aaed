"""masscan: ``-oJ`` (a JSON array written one object per line) and ``-oL`` (list) output.

Open ports only: each becomes a transcript with outcome ok and no steps, or with the banner
masscan grabbed when it ran with ``--banners`` (``-oL``: ``banner tcp 25 192.0.2.1 <time>
smtp 220 …``; ``-oJ``: ``"service": {"name": "smtp", "banner": "220 …"}``). masscan writes
the open line and each banner line as separate records, often far apart; they are merged by
address and port in a bounded window (:data:`WINDOW` ports awaiting a banner), so memory stays
flat. The line number of a merged transcript is that of its open record.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

from mxcensus.importers import _common as c
from mxcensus.importers.interface import ImportProblem, Item, Skipped, WrongFormatError
from mxcensus.model import Outcome, Step, Transcript

WINDOW = 100_000
_HEX = re.compile(rb"\\x([0-9A-Fa-f]{2})")


class _Pending:
    __slots__ = ("banners", "family", "ip", "line", "port", "title", "when")

    def __init__(self, line: int, ip: str, port: int, when: datetime) -> None:
        self.line, self.ip, self.port, self.when = line, ip, port, when
        self.family = c.family_of(port)
        self.banners: list[tuple[str, bytes]] = []
        self.title = b""


class MasscanImporter:
    name = "masscan"

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        now = datetime.now(UTC)
        pending: OrderedDict[tuple[str, int], _Pending] = OrderedDict()
        kind = ""
        for n, line in c.iter_lines(stream):
            if line is None:
                yield n, ImportProblem(n, "line longer than 64 MiB")
                continue
            text = line.strip()
            if not text:
                continue
            if not kind:
                if text.startswith(b"#masscan") or text.startswith((b"open ", b"banner ")):
                    kind = "list"
                elif text.startswith((b"[", b"{")):
                    kind = "json"
                else:
                    raise WrongFormatError(
                        path, "not masscan output (-oJ or -oL): unexpected first line", n
                    )
            parsed = _list_line(text, now) if kind == "list" else _json_line(text, now)
            if parsed is None:
                continue
            if isinstance(parsed, str):
                yield n, ImportProblem(n, parsed)
                continue
            for what, ip, port, when, service, banner in parsed:
                key = (ip, port)
                if what == "open":
                    if key in pending:
                        continue  # the same port reported twice
                    pending[key] = _Pending(n, ip, port, when)
                    if len(pending) > WINDOW:
                        _, old = pending.popitem(last=False)
                        yield from _emit(old)
                else:
                    p = pending.get(key)
                    if p is None:  # a banner without its open record (or after the window)
                        p = pending[key] = _Pending(n, ip, port, when)
                    if service == "title":
                        p.title = banner
                    else:
                        p.banners.append((service, banner))
        for p in pending.values():
            yield from _emit(p)


_Record = tuple[str, str, int, datetime, str, bytes]


def _list_line(text: bytes, now: datetime) -> list[_Record] | str | None:
    if text.startswith(b"#"):
        return None
    parts = text.split(b" ", 6)
    if len(parts) < 5:
        return f"not a masscan list line: {text[:80]!r}"
    what = parts[0].decode("ascii", "replace")
    if what not in ("open", "banner"):
        return None if what == "closed" else f"unknown masscan record {what!r}"
    proto, port_s, ip_s, when_s = (p.decode("ascii", "replace") for p in parts[1:5])
    if proto != "tcp":
        return None
    if not port_s.isdigit() or not when_s.isdigit():
        return f"bad port or timestamp in {text[:80]!r}"
    try:
        ip_s = c.address(ip_s)
    except ValueError as exc:
        return str(exc)
    try:
        when = c.epoch(int(when_s)) if when_s else now
    except ValueError as exc:
        return str(exc)
    if what == "open":
        return [("open", ip_s, int(port_s), when, "", b"")]
    if len(parts) < 6:
        return f"banner line without a service: {text[:80]!r}"
    service = parts[5].decode("ascii", "replace")
    banner = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), parts[6] if len(parts) > 6 else b"")
    return [("banner", ip_s, int(port_s), when, service, banner)]


def _json_line(text: bytes, now: datetime) -> list[_Record] | str | None:
    text = text.strip(b",").strip()
    if text in (b"[", b"]", b""):
        return None
    text = text.lstrip(b"[").rstrip(b"]").strip().strip(b",")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(doc, dict):
        return "not a JSON object"
    try:
        return _json_record(doc, now)
    except (KeyError, TypeError, ValueError) as exc:
        return f"not a masscan record: {exc!r}"


def _json_record(doc: dict[str, Any], now: datetime) -> list[_Record]:
    ip = c.address(doc["ip"])
    ts = doc.get("timestamp")
    when = c.parse_time(ts, now)  # raises ValueError only: the caller's problem
    out: list[_Record] = []
    for p in doc["ports"]:
        port = int(p["port"])
        if p.get("proto", "tcp") != "tcp" or not 0 < port < 65536:
            continue
        svc = p.get("service")
        if isinstance(svc, dict):
            banner = c.to_bytes(svc.get("banner"))
            banner = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), banner)
            out.append(("banner", ip, port, when, str(svc.get("name") or ""), banner))
        elif p.get("status", "open") == "open":
            out.append(("open", ip, port, when, "", b""))
    return out


def _emit(p: _Pending) -> Iterator[Item]:
    family = p.family
    for service, _ in p.banners:
        family = family or c.family_of(0, service)
    if family is None:
        yield p.line, Skipped("not a mail or web port")
        return
    protocol = c.protocol_of(family, p.port)
    steps: list[Step] = []
    extra: list[tuple[str, str]] = []
    for service, banner in p.banners:
        c.keep(extra, "masscan.service", service)
        if service in ("ssl", "X509"):
            continue  # certificate summaries: kept as evidence only
        if family == "http":
            code, headers, body = c.http_head(banner)
            steps.append(c.http_step("/", code, headers, body + p.title))
        elif not any(s.name == "greeting" for s in steps):
            data = banner if banner.endswith(b"\n") else banner + b"\r\n"
            if family == "smtp":
                steps.extend(c.smtp_steps(data))
            else:
                steps.append(c.step("greeting", data, code=c.reply_code(data)))
    if p.title and family == "http" and not steps:
        steps.append(c.http_step("/", None, (), p.title))
    yield (
        p.line,
        Transcript(
            ip=p.ip,
            port=p.port,
            protocol=protocol,
            transport=c.transport_of(protocol),
            observed_at=p.when,
            outcome=Outcome.OK,
            steps=tuple(steps),
            source="masscan",
            extra=tuple(extra),
        ),
    )
