"""CISA KEV catalogs: read the catalog's JSON, keep a newer one as a user data file.

``mxcensus kb update --kev FILE`` validates a catalog in CISA's format (``catalogVersion``,
``dateReleased``, ``vulnerabilities[]`` with ``cveID``, ``dateAdded``,
``knownRansomwareCampaignUse`` …) and writes the entries that matter into
``<user data dir>/kev.json`` (atomically); from then on its flags replace the shipped ones,
without a new release. A broken or older catalog is refused and nothing is written.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import platformdirs

from mxcensus.errors import KnowledgeError, UsageError
from mxcensus.kb.records import KevCatalog, KevEntry

SHIPPED_CATALOG = "2026.08.21"
USER_FILE = "kev.json"
_CVE = re.compile(r"CVE-\d{4}-\d{4,}$")


def user_kev_path() -> Path:
    """Where ``kb update --kev`` keeps the catalog (``$MXCENSUS_DATA_DIR`` or the user data dir)."""
    base = os.environ.get("MXCENSUS_DATA_DIR") or platformdirs.user_data_dir("mxcensus")
    return Path(base) / USER_FILE


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def parse_catalog(data: bytes, name: str) -> KevCatalog:
    """A CISA KEV catalog JSON -> :class:`KevCatalog`; :class:`UsageError` naming what is wrong."""
    try:
        doc: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{name}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UsageError(f"{name}: not a KEV catalog (expected a JSON object)")
    version = doc.get("catalogVersion")
    vulns = doc.get("vulnerabilities")
    if not isinstance(version, str) or not _version_tuple(version):
        raise UsageError(f"{name}: not a KEV catalog: no catalogVersion")
    if not isinstance(vulns, list):
        raise UsageError(f"{name}: not a KEV catalog: no vulnerabilities list")
    entries: dict[str, KevEntry] = {}
    for i, v in enumerate(vulns):
        cve = v.get("cveID") if isinstance(v, dict) else None
        if not isinstance(cve, str) or not _CVE.match(cve):
            raise UsageError(f"{name}: vulnerabilities[{i}]: cveID {cve!r} is not a CVE id")
        added = v.get("dateAdded")
        try:
            when = date.fromisoformat(added) if isinstance(added, str) else None
        except ValueError:
            when = None
        if when is None:
            raise UsageError(
                f"{name}: vulnerabilities[{i}] {cve}: dateAdded {added!r} is not a date"
            )
        ransom = v.get("knownRansomwareCampaignUse", "Unknown")
        entries[cve] = KevEntry(date_added=when, ransomware=str(ransom).lower() == "known")
    return KevCatalog(
        version=version,
        released=str(doc.get("dateReleased", "")),
        entries=entries,
        path=name,
    )


@dataclass(frozen=True)
class KevUpdate:
    version: str
    entries: int
    path: Path
    changed: tuple[str, ...]  # knowledge-base CVEs whose KEV flags differ from before
    missing: tuple[str, ...]  # shipped KEV CVEs absent from the catalog (they stay KEV)


def update(src: Path, dest: Path | None = None) -> KevUpdate:
    """Validate the catalog ``src`` and install it as the user's KEV override."""
    from mxcensus.kb import load_shipped

    try:
        data = src.read_bytes()
    except OSError as exc:
        raise UsageError(f"{src}: cannot read: {exc.strerror or exc}") from exc
    cat = parse_catalog(data, str(src))
    if _version_tuple(cat.version) < _version_tuple(SHIPPED_CATALOG):
        raise UsageError(
            f"{src}: catalogVersion {cat.version} is older than the shipped knowledge "
            f"({SHIPPED_CATALOG}); nothing changed"
        )
    shipped = load_shipped()
    changed = tuple(
        a.id for a in shipped.advisories if a.id in cat.entries and cat.entries[a.id] != a.kev
    )
    missing = tuple(a.id for a in shipped.advisories if a.kev and a.id not in cat.entries)
    target = dest or user_kev_path()
    payload = {
        "catalogVersion": cat.version,
        "dateReleased": cat.released,
        "source": str(src),
        "vulnerabilities": [
            {
                "cveID": cve,
                "dateAdded": e.date_added.isoformat() if e.date_added else None,
                "knownRansomwareCampaignUse": "Known" if e.ransomware else "Unknown",
            }
            for cve, e in sorted(cat.entries.items())
        ],
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kev-", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(payload))
        os.replace(tmp, target)
    except OSError as exc:
        raise KnowledgeError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    return KevUpdate(
        version=cat.version,
        entries=len(cat.entries),
        path=target,
        changed=changed,
        missing=missing,
    )


def load_user_catalog(path: Path | None = None) -> KevCatalog | None:
    """The installed override, or ``None``. A damaged file is a :class:`KnowledgeError`."""
    p = path or user_kev_path()
    if not p.exists():
        return None
    try:
        return parse_catalog(p.read_bytes(), str(p))
    except (UsageError, OSError) as exc:
        raise KnowledgeError(
            f"{p}: the installed KEV catalog is damaged ({exc}); "
            "run mxcensus kb update --kev FILE again"
        ) from exc
