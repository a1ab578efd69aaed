"""``notify``: one Shadowserver-style CSV per network owner and report type, plus an index.

Only services that need their owner's action are written: vulnerable, potentially
vulnerable or end of support. Owners are ASNs (``as3320``), countries (``de``) or
prefixes (IPv4 /24, IPv6 /48: ``192.0.2.0_24``). File names follow Shadowserver's
``DATE-TYPE-OWNER-FILTER.csv`` (``2026-04-01-scan_exchange-as3320-asn.csv``), made only
of ``[a-z0-9_.]`` between the dashes, so no owner string can escape the directory.
Every file is written atomically; ``index.csv`` is written last.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from mxcensus.errors import UsageError
from mxcensus.export.safe import write_csv
from mxcensus.export.shadowserver import SEVERITY_RANK, ShadowRow, columns_for, shadow_records
from mxcensus.model import ScanId
from mxcensus.report.output import atomic_file
from mxcensus.store.db import Store

PER = ("asn", "country", "prefix")
INDEX_COLUMNS = (
    "owner", "per", "org", "report_type", "file", "services", "hosts", "critical", "high",
    "medium",
)  # fmt: skip
_UNSAFE = re.compile(r"[^a-z0-9_.]+")


def safe_token(text: str) -> str:
    token = _UNSAFE.sub("_", text.lower()).strip("._")
    return token[:80] or "unknown"


def owner_of(row: ShadowRow, per: str) -> str:
    if per == "asn":
        return f"as{row.asn}" if row.asn is not None else "unknown"
    if per == "country":
        return safe_token(row.country) if row.country else "unknown"
    try:
        addr = ipaddress.ip_address(row.ip)
    except ValueError:
        return "unknown"
    bits = 24 if addr.version == 4 else 48
    return safe_token(str(ipaddress.ip_network(f"{addr}/{bits}", strict=False)).replace("/", "_"))


@dataclass(frozen=True, slots=True)
class NotifyFile:
    owner: str
    report_type: str
    path: Path
    services: int
    hosts: int


def notify(store: Store, scan_ref: str | None, per: str, out_dir: Path) -> list[NotifyFile]:
    if per not in PER:
        raise UsageError(f"--per {per!r}: choose from {', '.join(PER)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a directory")
    scan = store.resolve_scan(scan_ref)
    found = store.find_scan(scan)
    assert found is not None
    day = found["started_at"].date().isoformat()
    groups: dict[tuple[str, str], list[ShadowRow]] = defaultdict(list)
    orgs: dict[str, str] = {}
    for r in shadow_records(store, ScanId(scan), at_risk_only=True):
        owner = owner_of(r, per)
        groups[(owner, r.report_type)].append(r)
        if r.org and per == "asn":
            orgs.setdefault(owner, r.org)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot create: {exc.strerror}") from exc
    written: list[NotifyFile] = []
    index_rows = []
    for (owner, rtype), rows in sorted(groups.items()):
        path = out_dir / f"{day}-{rtype}-{owner}-{per}.csv"
        cols = columns_for(rtype)
        rows.sort(key=lambda r: (-SEVERITY_RANK[r.severity], r.ip, r.values["port"]))
        with atomic_file(path) as fh:
            write_csv(fh, cols, (r.row(cols) for r in rows))
        hosts = len({r.ip for r in rows})
        sev = defaultdict(int, {s: sum(1 for r in rows if r.severity == s) for s in SEVERITY_RANK})
        written.append(NotifyFile(owner, rtype, path, len(rows), hosts))
        index_rows.append(
            (owner, per, orgs.get(owner), rtype, path.name, len(rows), hosts,
             sev["critical"], sev["high"], sev["medium"])
        )  # fmt: skip
    with atomic_file(out_dir / "index.csv") as fh:
        write_csv(fh, INDEX_COLUMNS, index_rows)
    return written
