"""From stored transcripts to service records: identify, combine per host, assess, enrich.

Pure stages wired together; the network is never touched, so a stored scan can be analysed
again with newer rules and knowledge (``mxcensus reassess``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from mxcensus.assess import assess
from mxcensus.enrich.geo import GeoEnricher
from mxcensus.enrich.interface import Enricher
from mxcensus.identify import combine, identify
from mxcensus.model import (
    Identification,
    ScanId,
    ServiceRecord,
    Transcript,
    printable,
)
from mxcensus.store.db import Store

BATCH = 5_000


Progress = Callable[[int], None]


def banner_of(t: Transcript) -> str:
    """The display banner of a service: its greeting, or an HTTP status line and headers."""
    greeting = t.step("greeting")
    if greeting is not None and greeting.received:
        return printable(greeting.received)
    for step in t.steps:
        if step.code is not None and step.headers:
            head = f"HTTP {step.code}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in step.headers)
            return printable(head.encode("utf-8", "replace"))
    return ""


def _service_ident(own: Identification, host: Identification) -> Identification:
    """A service takes the host's best identification when both name the same product."""
    if own.is_known and host.product == own.product and host.precision > own.precision:
        return host
    return own


def analyze_host(
    scan: ScanId, transcripts: list[Transcript], enricher: Enricher | None = None
) -> Iterator[ServiceRecord]:
    idents = [identify(t) for t in transcripts]
    host = combine(idents)
    geo = enricher.lookup(transcripts[0].ip, transcripts[0]) if enricher else None
    for t, own in zip(transcripts, idents, strict=True):
        ident = _service_ident(own, host)
        yield ServiceRecord(
            scan=scan,
            transcript=t,
            identification=ident,
            assessment=assess(ident, t),
            country=geo.country if geo else "",
            continent=geo.continent if geo else "",
            region=geo.region if geo else "",
            asn=geo.asn if geo else None,
            org=geo.org if geo else "",
            city=geo.city if geo else "",
            geo_source=geo.source if geo else "",
            banner=banner_of(t),
        )


def analyze(
    scan: ScanId, transcripts: Iterable[Transcript], enricher: Enricher | None = None
) -> Iterator[ServiceRecord]:
    """Records for transcripts sorted by ip (as the store returns them)."""
    for _ip, group in itertools.groupby(transcripts, key=lambda t: t.ip):
        yield from analyze_host(scan, list(group), enricher)


def analyze_scan(
    store: Store,
    scan: ScanId,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
) -> int:
    """Identify, assess and enrich every stored transcript of ``scan``; write the services.

    Replaces earlier services/findings of the scan, so it doubles as re-assessment.
    Returns the number of service records written.
    """
    store.reopen_scan(scan)
    written = 0
    batch: list[ServiceRecord] = []
    for record in analyze(scan, store.iter_transcripts(scan), enricher):
        batch.append(record)
        if len(batch) >= BATCH:
            written += store.write_services(scan, batch)
            batch.clear()
            if progress:
                progress(written)
    written += store.write_services(scan, batch)
    if progress:
        progress(written)
    return written


def analyze_scan_with_geo(
    store: Store,
    scan: ScanId,
    mmdb: Sequence[Path | str] = (),
    progress: Progress | None = None,
) -> int:
    """``analyze_scan`` with the standard enrichment: iptocc, plus the given MMDB files."""
    enricher = GeoEnricher(mmdb)
    try:
        return analyze_scan(store, scan, enricher=enricher, progress=progress)
    finally:
        enricher.close()
