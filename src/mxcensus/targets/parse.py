"""Target specifications to address sets: IPs, CIDRs, ranges, hostnames, files, stdin.

A file (``-iL``) or stdin may hold targets one or more per line (``#`` comments), masscan
``-oL`` lines (``open tcp 25 192.0.2.7 1700000000``), masscan ``-oJ`` records or ZMap output
(one IP per line, optionally under a ``saddr`` header). Every error names its input:
``FILE:LINE: 300.1.2.3: …``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from mxcensus.errors import TargetError
from mxcensus.targets.intervals import IntervalSet, key_of, network_bounds

_DOTTED = re.compile(r"^[0-9.]+$")
_MASSCAN_JSON_IP = re.compile(r'"ip"\s*:\s*"([^"]+)"')
_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$"
)


@dataclass
class Parsed:
    """Targets as read: each input's address set, and names for resolved hostnames."""

    specs: list[tuple[str, IntervalSet]] = field(default_factory=list)  # (where, addresses)
    hostnames: dict[int, str] = field(default_factory=dict)  # key -> hostname (SNI)
    singles: list[tuple[str, int]] = field(default_factory=list)  # bulk single IPs from files


def parse_spec(spec: str, where: str = "") -> tuple[IntervalSet, dict[int, str]]:
    """One target: IP, CIDR, range ``a-b`` (or ``a.b.c.d-e``) or hostname."""
    label = f"{where}: {spec}" if where else spec
    text = spec.strip()
    if not text:
        raise TargetError(f"{label or repr(spec)}: empty target")
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise TargetError(f"{label}: not a valid CIDR ({exc})") from exc
        return IntervalSet.of([network_bounds(net)]), {}
    if "-" in text and (_DOTTED.match(text.replace("-", "")) or ":" in text):
        lo_text, _, hi_text = text.partition("-")
        try:
            lo = ipaddress.ip_address(lo_text)
            if lo.version == 4 and hi_text.isdigit() and "." not in hi_text:
                last = int(hi_text)
                if last > 255:
                    raise ValueError(f"last octet {last} > 255")
                hi = ipaddress.ip_address(int(lo) - (int(lo) & 0xFF) + last)
            else:
                hi = ipaddress.ip_address(hi_text)
        except ValueError as exc:
            raise TargetError(f"{label}: not a valid address range ({exc})") from exc
        if lo.version != hi.version:
            raise TargetError(f"{label}: a range cannot mix IPv4 and IPv6")
        if int(hi) < int(lo):
            raise TargetError(f"{label}: the range ends before it starts")
        return IntervalSet.of([(key_of(lo), key_of(hi))]), {}
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        k = key_of(addr)
        return IntervalSet.of([(k, k)]), {}
    if _DOTTED.match(text) or ":" in text:
        raise TargetError(f"{label}: not a valid IP address")
    if not _HOSTNAME.match(text):
        raise TargetError(f"{label}: not an IP address, CIDR, range or hostname")
    return _resolve(text, label)


def _resolve(name: str, label: str) -> tuple[IntervalSet, dict[int, str]]:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetError(f"{label}: cannot resolve hostname ({exc})") from exc
    keys = set()
    for _family, _type, _proto, _canon, sockaddr in infos:
        host = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        keys.add(key_of(ipaddress.ip_address(host)))
    if not keys:
        raise TargetError(f"{label}: hostname has no A/AAAA address")
    return IntervalSet.of((k, k) for k in keys), {k: name.rstrip(".") for k in keys}


def _tokens(line: str) -> list[str]:
    """The targets on one line of a list file, whatever tool wrote it."""
    text = line.split("#", 1)[0].strip()
    if not text or text in {"[", "]", "{", "}", ","}:
        return []
    m = _MASSCAN_JSON_IP.search(text)
    if m:
        return [m.group(1)]
    fields = text.replace(",", " ").split()
    if fields[0] in {"open", "closed", "banner"} and len(fields) >= 4:
        return [fields[3]]  # masscan -oL: state proto port ip timestamp
    if fields == ["saddr"]:
        return []  # ZMap CSV header
    return fields


def iter_lines(stream: TextIO, where: str) -> Iterator[tuple[str, str]]:
    for n, line in enumerate(stream, 1):
        for tok in _tokens(line):
            yield f"{where}:{n}", tok


def read_list(path: Path) -> Iterator[tuple[str, str]]:
    """(where, token) for each target in a list file."""
    try:
        with path.open(encoding="utf-8", errors="strict") as fh:
            yield from iter_lines(fh, str(path))
    except UnicodeDecodeError as exc:
        raise TargetError(f"{path}: not a text file ({exc.reason})") from exc
    except OSError as exc:
        raise TargetError(f"{path}: cannot read target list: {exc.strerror or exc}") from exc


def parse_targets(
    targets: Iterable[str], input_list: Path | None = None, stdin: TextIO | None = None
) -> Parsed:
    """Parse command-line targets (``-`` = stdin) and an optional ``-iL`` file."""
    out = Parsed()
    sources: list[Iterable[tuple[str, str]]] = []
    for t in targets:
        if t == "-":
            sources.append(iter_lines(stdin or sys.stdin, "<stdin>"))
        else:
            sources.append([("", t)])
    if input_list is not None:
        sources.append(read_list(input_list))
    for source in sources:
        for where, token in source:
            _add(out, where, token)
    return out


def _add(out: Parsed, where: str, token: str) -> None:
    # Fast path for the bulk case (a million single IPs from masscan/ZMap): no per-IP set.
    if "/" not in token and "-" not in token:
        try:
            addr = ipaddress.ip_address(token)
        except ValueError:
            pass
        else:
            out.singles.append((where or token, key_of(addr)))
            return
    addrs, names = parse_spec(token, where)
    out.specs.append((f"{where}: {token}" if where else token, addrs))
    out.hostnames.update(names)


def parse_exclusions(items: Iterable[str], exclude_file: Path | None) -> IntervalSet:
    pairs: list[tuple[int, int]] = []
    specs: list[tuple[str, str]] = [("--exclude", i) for i in items]
    for where, tok in specs:
        addrs, _ = _parse_exclusion(tok, where)
        pairs.extend(addrs.intervals)
    if exclude_file is not None:
        for where, tok in read_list(exclude_file):
            addrs, _ = _parse_exclusion(tok, where)
            pairs.extend(addrs.intervals)
    return IntervalSet.of(pairs)


def _parse_exclusion(token: str, where: str) -> tuple[IntervalSet, dict[int, str]]:
    try:
        ipaddress.ip_address(token.partition("/")[0].partition("-")[0])
    except ValueError as exc:
        raise TargetError(
            f"{where}: {token}: exclusions are IPs, CIDRs or ranges, not hostnames"
        ) from exc
    return parse_spec(token, where)
