"""The evidence chain of a service: what was seen, which rule, which knowledge row, why.

``explain`` re-runs identify and assess on the stored transcripts (pure functions), so what
it shows is exactly what the current rules and knowledge conclude; a difference from the
stored verdict means the knowledge changed since the scan (``mxcensus reassess``). Every
line it returns has its control and formatting characters escaped (:mod:`mxcensus.text`):
banners, certificate names and reasons come from servers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from mxcensus import kb
from mxcensus.errors import UsageError
from mxcensus.kb.records import Advisory
from mxcensus.model import Assessment, Identification, ScanId, Transcript, printable
from mxcensus.pipeline import analyze_host
from mxcensus.store.db import Store
from mxcensus.store.queries import Reader
from mxcensus.text import escape


@dataclass(frozen=True, slots=True)
class Where:
    ip: str
    port: int | None


def parse_target(text: str) -> Where:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT``."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        raise UsageError(f"explain {text!r}: not an IP address (IP or IP:PORT)") from None
    if port is None:
        return Where(ip, None)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"explain {text!r}: port {port!r} is not in 1-65535")
    return Where(ip, int(port))


def _newest_scan_with(reader: Reader, ip: str) -> ScanId:
    scan = reader.newest_scan_with(ip)
    if scan is None:
        raise UsageError(f"explain {ip}: no scan in {reader.path} saw this address")
    return scan


def explain(source: Store | Reader, target: str, scan_ref: str | None = None) -> list[str]:
    """The evidence chain of the services of ``target`` (IP or IP:PORT), one line each."""
    reader = source.reader() if isinstance(source, Store) else source
    where = parse_target(target)
    scan = reader.resolve_scan(scan_ref) if scan_ref else _newest_scan_with(reader, where.ip)
    transcripts = reader.host_transcripts(scan, where.ip)
    if not transcripts:
        raise UsageError(f"explain {target}: scan {scan} has no transcript of {where.ip}")
    records = list(analyze_host(scan, transcripts))
    if where.port is not None:
        records = [r for r in records if r.transcript.port == where.port]
        if not records:
            ports = ", ".join(str(t.port) for t in transcripts)
            raise UsageError(f"explain {target}: scan {scan} saw {where.ip} only on {ports}")
    advisories = {a.id: a for a in kb.get().advisories}
    out: list[str] = []
    for r in records:
        t = r.transcript
        out.append(
            f"{t.ip}:{t.port} {t.protocol} ({t.transport.value})  scan {scan}"
            f"  observed {t.observed_at.isoformat()}  source {t.source}  outcome {t.outcome}"
        )
        if r.merged is not None:
            others = ", ".join(o.isoformat() for o in r.merged.others)
            out.append(
                f"  merged: {r.merged.observations} observations of {t.ip}:{t.port} in this"
                f" scan; the newest is this service, the others ({others}) are history"
            )
        out += _seen(t)
        out += _identified(r.identification)
        out += _assessed(r.assessment, advisories)
        out.append("")
    return [escape(line) for line in out]


def _seen(t: Transcript) -> list[str]:
    """What the probe (or the importer's record) saw: every step, the TLS facts."""
    out = [f"  error: {t.error}"] if t.error else []
    out.append("  seen:")
    for step in t.steps:
        shown = printable(step.received, 300) if step.received else ""
        code = f" [{step.code}]" if step.code is not None else ""
        out.append(f"    {step.name}{code}: {shown}")
        for k, v in step.headers:
            out.append(f"      {printable(k.encode(), 80)}: {printable(v.encode(), 200)}")
    if t.tls is not None:
        leaf = t.tls.chain[0] if t.tls.chain else None
        cert = f"; certificate {leaf.subject} (issuer {leaf.issuer})" if leaf else ""
        out.append(f"    tls: {t.tls.version} {t.tls.cipher}{cert}")
    return out


def _identified(ident: Identification) -> list[str]:
    """What was identified, by which rules, what disagreed, the Exchange build row used."""
    if not ident.is_known:
        out = [f"  identified: unknown — {ident.reason or 'no rule matched'}"]
    else:
        version = ident.version or "version not visible"
        out = [
            f"  identified: {ident.product} {version} (precision {ident.precision.label})"
            + (f", packaged by {ident.distro}" if ident.distro else "")
        ]
    for e in ident.evidence:
        port = f" on port {e.port}" if e.port else ""
        out.append(
            f"    rule {e.rule} matched {printable(e.value.encode(), 120)!r} in {e.field}{port}"
        )
    for e in ident.conflicts:
        out.append(f"    disagreeing evidence kept: {e.rule} {e.value!r} in {e.field}")
    build = kb.exchange_build(ident.version) if ident.product == "ms-exchange" else None
    if build is not None:
        out.append(
            f"    knowledge: {build.product_line} {build.release} ({build.date})"
            f" from {build.source}"
        )
    return out


def _assessed(a: Assessment, advisories: Mapping[str, Advisory]) -> list[str]:
    """The product line, end of support, each verdict with its knowledge row, what to do."""
    out: list[str] = []
    if a.product_line or a.release:
        out.append(f"  product line: {a.product_line} {a.release}".rstrip())
    if a.eol.eol is not None or a.eol.reason:
        state = {True: "past end of support", False: "supported", None: "cannot tell"}
        when = f" since {a.eol.date.isoformat()}" if a.eol.date and a.eol.eol else ""
        said = f"{state[a.eol.eol]}{when}"
        why = a.eol.reason if a.eol.reason and a.eol.reason[-10:] not in said else ""
        out.append(f"  end of support: {said}{': ' + why if why else ''}")
    for f in a.findings:
        kev = f" KEV since {f.kev_date}" if f.kev and f.kev_date else (" KEV" if f.kev else "")
        fix = f"; fixed in {f.fixed_in}" if f.fixed_in else ""
        out.append(f"  {f.cve} {f.status}{kev}: {f.reason}{fix}")
        adv = advisories.get(f.cve)
        if adv is not None:
            out.append(f"    knowledge: {adv.title} — {adv.source}")
    out += [f"  do: {line}" for line in a.remediation]
    return out
