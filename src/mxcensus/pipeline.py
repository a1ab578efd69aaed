"""From stored transcripts to service records: identify, combine per host, assess, enrich.

Pure stages wired together; the network is never touched, so a stored scan can be analysed
again with newer rules and knowledge (``mxcensus reassess``).

Three ways in, one analysis and one write path:

- :func:`analyze_scan` reads a scan's stored transcripts as documents
  (:class:`~mxcensus.serialize.TranscriptDoc`), host by host, and writes a new generation
  of its services (a scan's analysis, ``reassess``: all or nothing);
- :class:`ImportAnalysis` analyses an import while it writes: each batch of documents just
  stored, or each staged chunk of a columnar importer (:mod:`mxcensus.store.staged`: once per
  distinct banner, day and hint), then again the hosts a file spread over several batches;
- :func:`analyze_host` / :func:`analyze_scan_reference` are the plain statement of it over
  :class:`~mxcensus.model.Transcript`\\ s and :class:`~mxcensus.model.ServiceRecord`\\ s
  (``explain``, and the oracle the tests hold the others to).

The first two share :class:`_Batch`: per service mostly dict lookups, with what follows from
an (identification, assessment) pair — a :class:`~mxcensus.store.rows.Profile` — and from a
location worked out once and stored once per scan. All three write through
:class:`~mxcensus.store.derived.DerivedWriter`. A host's observations of one port are one
service, the newest (:func:`merge_endpoints`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict, TypeVar

import orjson

from mxcensus.assess import EHLO_PRODUCTS, assess, assess_on
from mxcensus.assess.ehlo import EHLO_STEPS
from mxcensus.enrich.geo import GeoEnricher, hint_from_extra
from mxcensus.enrich.interface import Enricher, Geo
from mxcensus.identify import combine, identify
from mxcensus.identify.engine import certificate, combine_shared, identify_doc
from mxcensus.model import (
    Identification,
    Merged,
    Outcome,
    ScanId,
    ServiceRecord,
    Step,
    Transcript,
    Transport,
    printable,
    printable_stored,
    text_to_bytes,
)
from mxcensus.serialize import ServiceDoc, StepDoc, TranscriptDoc
from mxcensus.store.db import Store
from mxcensus.store.derived import DerivedWriter
from mxcensus.store.rows import MEMO_MAX, AnalysisBatch, Location, Locations, Profile, Profiles
from mxcensus.store.staged import (
    HintValues,
    StagedBanner,
    StagedMaps,
    StagedQueries,
    StagedRow,
)

BATCH = 5_000
"""Services per write."""
T = TypeVar("T")
Progress = Callable[[int], None]


class LocateDoc(TypedDict):
    """What locating a host reads of its first service (a :class:`TranscriptDoc` is one)."""

    ip: str
    source: NotRequired[str]
    extra: NotRequired[list[list[str]]]


# -- the reference analysis: Transcript -> ServiceRecord -------------------------------


def banner_of(t: Transcript) -> str:
    """The display banner of a service: its greeting, or an HTTP status line and headers."""
    greeting = t.step("greeting")
    if greeting is not None and greeting.received:
        return printable(greeting.received)
    for step in t.steps:
        if step.code is not None and step.headers:
            head = f"HTTP {step.code}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in step.headers)
            if head.isascii():  # its UTF-8 bytes are its latin-1 bytes
                return printable_stored(head)
            return printable(head.encode("utf-8", "replace"))
    return ""


def merge_endpoints(
    items: Sequence[T], port: Callable[[T], int], when: Callable[[T], datetime]
) -> Iterator[tuple[T, Merged | None]]:
    """One service per endpoint: ``items`` (observations of one host, in (port, file)
    order) grouped by port, each group as its newest observation (on equal times the last
    read) and, when the group held several, what :class:`~mxcensus.model.Merged` records
    of the others. Every analysis path (this module's three, ``explain``) merges here."""
    start, n = 0, len(items)
    while start < n:
        end = start + 1
        here = port(items[start])
        while end < n and port(items[end]) == here:
            end += 1
        if end == start + 1:
            yield items[start], None
        else:
            times = [when(x) for x in items[start:end]]
            best = max(range(len(times)), key=lambda k: (times[k], k))
            others = sorted((t for k, t in enumerate(times) if k != best), reverse=True)
            yield items[start + best], Merged(tuple(others))
        start = end


def _service_ident(own: Identification, host: Identification) -> Identification:
    """A service takes the host's best identification when both name the same product."""
    if own.is_known and host.product == own.product and host.precision > own.precision:
        return host
    return own


def analyze_host(
    scan: ScanId, transcripts: list[Transcript], enricher: Enricher | None = None
) -> Iterator[ServiceRecord]:
    """The services of one host from its transcripts in (port, file) order: one per port
    (:func:`merge_endpoints`), identified together (``combine``), assessed, located."""
    chosen = list(merge_endpoints(transcripts, _transcript_port, _transcript_time))
    transcripts = [t for t, _ in chosen]
    idents = [identify(t) for t in transcripts]
    host = combine(idents)
    geo = enricher.lookup(transcripts[0].ip, transcripts[0]) if enricher else None
    for (t, merged), own in zip(chosen, idents, strict=True):
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
            merged=merged,
        )


def analyze(
    scan: ScanId, transcripts: Iterable[Transcript], enricher: Enricher | None = None
) -> Iterator[ServiceRecord]:
    """Records for transcripts sorted by ip (as the store returns them)."""
    for _ip, group in itertools.groupby(transcripts, key=lambda t: t.ip):
        yield from analyze_host(scan, list(group), enricher)


def analyze_scan_reference(store: Store, scan: ScanId, enricher: Enricher | None = None) -> int:
    """:func:`analyze_scan` one :class:`ServiceRecord` at a time (:func:`analyze`), written
    through the same write path: the plain statement of what the analysis writes, kept as
    the reference the fast paths are tested against (it reports no progress: nothing
    watches it run)."""
    with store.replacing_derived(scan) as gen:
        writer = DerivedWriter.of(store, scan, gen)
        profiles, locations = Profiles(), Locations()
        written = 0
        records = analyze(scan, store.iter_transcripts(scan), enricher)
        while batch := list(itertools.islice(records, BATCH)):
            written += writer.write_records(batch, profiles, locations)
        return written


def _transcript_port(t: Transcript) -> int:
    return t.port


def _transcript_time(t: Transcript) -> datetime:
    return t.observed_at


# -- the analysis of stored documents ----------------------------------------------------


def analyze_scan(
    store: Store,
    scan: ScanId,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
) -> int:
    """Identify, assess and enrich every stored transcript of ``scan``; write the services.

    Replaces earlier services/findings of the scan — a new generation, switched in when it
    is whole (a kill leaves the old one) — so it doubles as re-assessment. Returns the
    number of service records written. Streams in batches of :data:`BATCH` services
    (constant memory). Writes what :func:`analyze_scan_reference` writes (the tests compare
    both), but per service it is mostly dict lookups: transcripts are read as their stored
    JSON (``identify_doc``), and what follows from a service's identification and
    assessment is worked out and stored once per distinct pair.
    """
    with store.replacing_derived(scan) as gen:  # all or nothing, however large the scan
        batch = _Batch(DerivedWriter.of(store, scan, gen), Profiles(), Locations())
        return _analyse_hosts(batch, store.iter_transcript_docs(scan), enricher, progress)


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


def _analyse_hosts(
    batch: _Batch,
    docs: Iterable[TranscriptDoc],
    enricher: Enricher | None,
    progress: Progress | None,
) -> int:
    """Analyse ``docs`` (stored transcripts sorted by ip) host by host; write in batches."""
    written = 0
    host: list[TranscriptDoc] = []
    for doc in docs:
        if host and doc["ip"] != host[0]["ip"]:
            batch.add_host(host, enricher)
            host = []
            if batch.size >= BATCH:
                written += batch.write()
                if progress:
                    progress(written)
        host.append(doc)
    if host:
        batch.add_host(host, enricher)
    written += batch.write()
    if progress:
        progress(written)
    return written


# -- while an import writes --------------------------------------------------------------


class ImportAnalysis:
    """:func:`analyze_scan` of an import while it is written: each batch of transcripts is
    analysed from the documents just stored, never read back (``mxcensus import``).

    A host's services are combined (``identify.combine``) when they are in one batch. The
    few hosts whose records a file spreads over several batches are analysed again from
    their stored transcripts by :meth:`finish`, so the result is what :func:`analyze_scan`
    writes (the tests compare both). The addresses each batch held are kept in a temporary
    DuckDB table, not in Python: memory stays constant whatever the file size.
    """

    def __init__(self, store: Store, scan: ScanId, enricher: Enricher | None = None) -> None:
        self.enricher = enricher
        self.written = 0
        # the import's own generation: no reader sees it until the import ends
        self._writer = DerivedWriter.of(store, scan)
        self._writer.track_hosts()
        self._batch = _Batch(self._writer, Profiles(), Locations())
        self._leaves: dict[int, tuple[str, str] | None] = {}  # TLS part -> a leaf that says

    def add(self, docs: Sequence[TranscriptDoc]) -> int:
        """Analyse and write the services of one batch of stored transcript documents."""
        if not docs:
            return 0
        hosts: dict[str, list[TranscriptDoc]] = {}
        for doc in docs:
            host = hosts.get(doc["ip"])
            if host is None:
                hosts[doc["ip"]] = [doc]
            else:
                host.append(doc)
        batch, enricher = self._batch, self.enricher
        for host in hosts.values():
            if len(host) > 1:
                host.sort(key=_port)  # (ip, port) order, as analyze_scan reads them
            batch.add_host(host, enricher)
        n = batch.write(note_hosts=True)
        self.written += n
        return n

    def add_staged(self, staged: StagedQueries) -> int:
        """Analyse and write the services of a staged chunk (:mod:`mxcensus.store.staged`).

        Python works once per banner (identify), per (banner, day) (assess), per location
        hint, and per service only for hosts with several services in the chunk; SQL joins
        the results to the rows. What it writes is what :meth:`add` writes for the same
        transcripts (the tests compare both)."""
        chunk = staged.chunk
        own = [
            identify_doc(
                {"protocol": b.protocol, "steps": b.steps, "outcome": chunk.outcome, "port": b.port}
            )
            for b in chunk.banners
        ]
        self._certified(staged, own)
        chunk = staged.chunk
        maps = StagedMaps(banners=[_banner(b.steps) for b in chunk.banners])
        self._staged_profiles(staged, own, maps)
        self._staged_locations(staged, maps)
        self._staged_hosts(staged, own, maps)
        n = staged.write_services(self._writer, self._batch.pending, maps)
        self._batch.pending = AnalysisBatch()
        self.written += n
        return n

    def _certified(self, staged: StagedQueries, own: list[Identification]) -> None:
        """The chunk's rows whose certificate says what runs (a product's default
        certificate, :func:`mxcensus.identify.engine.certificate`) get a banner index of their
        own per (banner, certificate), identified with it (``own`` grows). Most certificates
        say nothing: then nothing changes."""
        parts = staged.tls_parts()
        missing = [p for p in parts if p not in self._leaves]
        if missing:
            if len(self._leaves) + len(missing) > MEMO_MAX:
                self._leaves.clear()
            for part, subject, issuer in staged.leaves(missing):
                self._leaves[part] = (subject, issuer) if certificate(subject, issuer) else None
        said = {p: leaf for p in parts if (leaf := self._leaves.get(p)) is not None}
        if not said:
            return
        chunk = staged.chunk
        grown = list(chunk.banners)
        remap = []
        for bk, part in staged.banner_parts(list(said)):
            b = grown[bk]
            subject, issuer = said[part]
            doc: dict[str, Any] = {
                "protocol": b.protocol,
                "steps": b.steps,
                "outcome": chunk.outcome,
                "port": b.port,
                "tls": {"chain": [{"subject": subject, "issuer": issuer}]},
            }
            own.append(identify_doc(doc))
            remap.append((bk, part, len(grown)))
            grown.append(b)
        staged.rebank(remap, grown)

    def _staged_profiles(
        self, staged: StagedQueries, own: list[Identification], maps: StagedMaps
    ) -> None:
        """The profile of each (banner, day) of the chunk's hosts of one service."""
        chunk, batch = staged.chunk, self._batch
        for bk, day, obs, ip in staged.single_keys():
            prof = batch.profile_for(
                own[bk], _assess_doc(chunk.banners[bk], ip, obs, chunk.outcome)
            )
            maps.profiles.append((bk, day, prof.pid))

    def _staged_locations(self, staged: StagedQueries, maps: StagedMaps) -> None:
        """The location of each hint of the chunk's hosts of one service: once per hint
        when the enricher answers the same for every address with it, else per address."""
        chunk, batch, enricher = staged.chunk, self._batch, self.enricher
        per_address: set[HintValues] = set()
        for values, ip in staged.single_hints():
            hint = _hint_pairs(chunk.hints, values)
            gid, everywhere = batch.location_for(ip, hint, chunk.source, enricher)
            if everywhere:
                maps.hint_locations.append((values, gid))
            else:
                per_address.add(values)
        if per_address:  # one query for them all, not one per hint (an MMDB: every hint)
            for values, addr in staged.hint_addresses():
                if values in per_address:
                    hint = _hint_pairs(chunk.hints, values)
                    gid = batch.location_for(addr, hint, chunk.source, enricher)[0]
                    maps.address_locations.append((addr, gid))

    def _staged_hosts(
        self, staged: StagedQueries, own: list[Identification], maps: StagedMaps
    ) -> None:
        """The chunk's hosts of several services, service by service: combined, merged by
        port (:func:`merge_endpoints`), assessed and located as :meth:`_Batch.add_host`."""
        chunk, batch, enricher = staged.chunk, self._batch, self.enricher
        dumps = orjson.dumps
        for ip, group in itertools.groupby(staged.multi_rows(), key=lambda r: r[1]):
            rows = list(group)
            chosen: list[tuple[StagedRow, Merged | None]]
            if len({r[4] for r in rows}) == len(rows):  # each port once: nothing to merge
                chosen = [(r, None) for r in rows]
            else:
                chosen = list(merge_endpoints(rows, _row_port, _row_time))
                kept = {r[0] for r, _ in chosen}  # the observations merged away: no service
                maps.hosts.extend((r[0], None, None, None) for r in rows if r[0] not in kept)
            found = [own[r[2]] for r, _ in chosen]
            combined = combine_shared(found)
            hint = _hint_pairs(chunk.hints, chosen[0][0][5])
            gid = batch.location_for(ip, hint, chunk.source, enricher)[0]
            for (r, merged), ident in zip(chosen, found, strict=True):
                doc = _assess_doc(chunk.banners[r[2]], ip, r[3], chunk.outcome)
                prof = batch.profile_for(_service_ident(ident, combined), doc)
                text = dumps(merged.to_json()).decode() if merged is not None else None
                maps.hosts.append((r[0], prof.pid, gid, text))

    def finish(self, progress: Progress | None = None) -> int:
        """Analyse again the hosts that were in more than one batch; the services written."""
        writer = self._writer
        split = writer.split_hosts()
        if split:
            self.written = writer.count()
            for first in range(0, split, _SPLIT_CHUNK):  # a chunk of hosts at a time
                docs = writer.split_host_docs(first, first + _SPLIT_CHUNK)
                self.written += _analyse_hosts(self._batch, docs, self.enricher, None)
                if progress:
                    progress(self.written)
        writer.end_split(prune=bool(split))
        if progress:
            progress(self.written)
        return self.written


_SPLIT_CHUNK = 2_000
"""Hosts whose stored transcripts :meth:`ImportAnalysis.finish` reads at a time."""


def _port(doc: TranscriptDoc) -> int:
    return doc["port"]


def _row_port(row: StagedRow) -> int:
    return row[4]


def _row_time(row: StagedRow) -> datetime:
    return datetime.fromisoformat(row[3])


def _hint_pairs(hints: Sequence[tuple[str, str]], values: HintValues) -> list[tuple[str, str]]:
    """The ``geo.*`` pairs of ``extra`` from a staged hint, in ``extra``'s order."""
    return [(key, v) for (_, key), v in zip(hints, values, strict=True) if v is not None]


def _assess_doc(b: StagedBanner, ip: str, observed: str, outcome: str) -> ServiceDoc:
    """What :meth:`_Batch.profile_for` reads of a staged service."""
    return {
        "ip": ip,
        "port": b.port,
        "protocol": b.protocol,
        "transport": b.transport,
        "observed_at": observed,
        "outcome": outcome,
        "steps": b.steps,
    }


# -- the per-run state of the document analyses -----------------------------------------


class _Batch:
    """The services of up to :data:`BATCH` services (:attr:`pending`), and the memos of one
    analysis run: assessments per (identification, day[, EHLO replies, transport]) — per run,
    so a knowledge update between runs is always seen — locations per importer hint, and
    display banners per greeting."""

    def __init__(self, writer: DerivedWriter, profiles: Profiles, locations: Locations) -> None:
        self.writer = writer
        self.profiles = profiles
        self.locations = locations
        self.pending = AnalysisBatch()
        self._assessed: dict[tuple[object, ...], tuple[Identification, Profile]] = {}
        self._days: dict[str, date] = {}
        self._banners: dict[str, str] = {}  # a greeting as stored -> its display banner
        self._hosts_at: dict[tuple[str, ...], Location] = {}

    @property
    def size(self) -> int:
        return len(self.pending.rows)

    def write(self, *, note_hosts: bool = False) -> int:
        """Write the pending services and what they use; start afresh."""
        written = self.writer.write(self.pending, note_hosts=note_hosts)
        self.pending = AnalysisBatch()
        return written

    def add_host(self, docs: list[TranscriptDoc], enricher: Enricher | None) -> None:
        """The services of one host (its stored transcripts, in (ip, port) order; several
        of one port are one service, :func:`merge_endpoints`)."""
        merged: Iterable[str | None] = _NO_MERGES
        if len(docs) > 1 and len({d["port"] for d in docs}) < len(docs):
            docs, merged = _merge_docs(docs)
        own = [identify_doc(d) for d in docs]
        first = docs[0]
        if len(own) > 1:
            host = combine_shared(own)
            idents = [_service_ident(i, host) for i in own]
        else:
            idents = own  # a host of one service: combine gives nothing the service lacks
        if enricher is None:
            loc = self.locations.get(None)
        else:
            loc = self._located(
                first["ip"], first.get("source", "scan"), first.get("extra"), enricher
            )
        pending = self.pending
        gid = loc.gid
        pending.locations[gid] = loc
        append = pending.rows.append
        profile_for = self.profile_for
        banner = self._banner
        for doc, ident, m in zip(docs, idents, merged):  # noqa: B905 - merged may be endless
            append(
                (
                    profile_for(ident, doc).pid,
                    gid,
                    doc["ip"],
                    doc["port"],
                    doc["protocol"],
                    doc["transport"],
                    doc["observed_at"],  # ISO 8601 with its offset; DuckDB casts it on insert
                    doc["outcome"],
                    doc.get("source", "scan"),
                    doc.get("hostname") or None,
                    banner(doc["steps"]),
                    m,
                )
            )

    def profile_for(self, ident: Identification, doc: ServiceDoc) -> Profile:
        """The profile of a service identified as ``ident`` (``doc``: what ``assess`` reads of
        it, as in :meth:`add_host`), noted as used by this batch."""
        observed = doc["observed_at"]
        key: tuple[object, ...]
        # an ISO 8601 time starts with its own (local) date: when.date()
        if ident.product in EHLO_PRODUCTS:
            key = (id(ident), observed[:10], doc["transport"], *_ehlo_replies(doc["steps"]))
        else:
            key = (id(ident), observed[:10])
        hit = self._assessed.get(key)
        prof = self._profile(ident, doc, key) if hit is None else hit[1]
        self.pending.profiles[prof.pid] = prof
        return prof

    def location_for(
        self, ip: str, hint: Sequence[tuple[str, str]], source: str, enricher: Enricher | None
    ) -> tuple[int, bool]:
        """The gid of a host at ``ip`` whose first service's ``extra`` held the ``geo.*``
        pairs ``hint``, as :meth:`add_host` finds it, noted as used; and whether every address
        with that hint has the same location (the enricher looks nothing up per address)."""
        if enricher is None:
            loc = self.locations.get(None)
            everywhere = True
        else:
            loc = self._located(ip, source, [[k, v] for k, v in hint], enricher)
            everywhere = isinstance(enricher, GeoEnricher) and enricher.same_everywhere(
                hint_from_extra(hint, source)
            )
        self.pending.locations[loc.gid] = loc
        return loc.gid, everywhere

    def _located(
        self, ip: str, source: str, extra: list[list[str]] | None, enricher: Enricher
    ) -> Location:
        """The location of a host (its first service's address, source and ``extra``),
        remembered by the importer's ``geo.*`` values when the enricher answers the same for
        every address with them (a file repeats a few thousand over millions of hosts)."""
        if not extra or source == "scan":
            return self.locations.get(enricher.lookup(ip, None))
        parts = [source]
        for k, v in extra:
            if k[:4] == "geo.":
                parts += (k, v)
        key = tuple(parts)
        try:
            hit = self._hosts_at.get(key)
        except TypeError:  # a value that is not text: no memo
            return self.locations.get(enricher.lookup(ip, _hint(extra, source)))
        if hit is not None:
            return hit
        hint = _hint(extra, source)
        out = self.locations.get(enricher.lookup(ip, hint))
        if isinstance(enricher, GeoEnricher) and enricher.same_everywhere(hint):
            if len(self._hosts_at) >= MEMO_MAX:
                self._hosts_at.clear()
            self._hosts_at[key] = out
        return out

    def _banner(self, steps: list[StepDoc]) -> str:
        """:func:`_banner`, remembered for greetings (the same few software's banners, or
        at worst one lookup more per service)."""
        first = steps[0] if steps else None
        if first is None or first["name"] != "greeting" or not first["received"]:
            return _banner(steps)
        text = first["received"]
        got = self._banners.get(text)
        if got is None:
            if len(self._banners) >= MEMO_MAX:
                self._banners.clear()
            got = self._banners[text] = printable_stored(text)
        return got

    def _profile(self, ident: Identification, doc: ServiceDoc, key: tuple[object, ...]) -> Profile:
        """Assess one service (the memo in :meth:`profile_for` missed under ``key``) and find
        its profile."""
        day = doc["observed_at"][:10]
        on = self._days.get(day)
        if on is None:
            on = self._days[day] = date.fromisoformat(day)
        if ident.product in EHLO_PRODUCTS:
            when = datetime.fromisoformat(doc["observed_at"])
            a = assess(ident, _transcript_for_assess(doc, when))
        else:
            a = assess_on(ident, on)
        prof = self.profiles.get(ident, a)
        if len(self._assessed) >= MEMO_MAX:
            self._assessed.clear()
        self._assessed[key] = (ident, prof)  # ident kept alive: its id stays its own
        return prof


_NO_MERGES = itertools.repeat(None)
"""The ``merged`` field of services whose host saw each port once: none."""


def _hint(extra: list[list[str]], source: str) -> Geo | None:
    """``enrich.geo.hint_from_extra`` of stored ``extra`` pairs."""
    return hint_from_extra(((k, v) for k, v in extra), source)


def _merge_docs(docs: list[TranscriptDoc]) -> tuple[list[TranscriptDoc], list[str | None]]:
    """:func:`merge_endpoints` of stored documents: the chosen ones and each one's
    ``merged`` field as stored (JSON text, or None)."""
    chosen = list(merge_endpoints(docs, _port, _doc_time))
    return [d for d, _ in chosen], [
        orjson.dumps(m.to_json()).decode() if m is not None else None for _, m in chosen
    ]


def _doc_time(doc: TranscriptDoc) -> datetime:
    return datetime.fromisoformat(doc["observed_at"])


def _transcript_for_assess(doc: ServiceDoc, when: datetime) -> Transcript:
    """What ``assess`` reads of a transcript, from the doc: its day, its transport and its
    EHLO replies (``assess.ehlo.ehlo_facts`` reads no other step)."""
    return Transcript(
        ip=doc["ip"],
        port=int(doc["port"]),
        protocol=doc["protocol"],
        transport=Transport(doc["transport"]),
        observed_at=when,
        outcome=Outcome(doc["outcome"]),
        steps=tuple(
            Step(s["name"], received=text_to_bytes(s["received"]))
            for s in doc["steps"]
            if s["name"] in EHLO_STEPS
        ),
    )


def _ehlo_replies(steps: list[StepDoc]) -> tuple[str, str]:
    """The EHLO replies ``assess`` reads (``assess.ehlo.ehlo_facts``), as stored."""
    first = second = ""
    for step in steps:
        name = step["name"]
        if name == "ehlo":
            first = step["received"]
        elif name == "ehlo-tls":
            second = step["received"]
    return first, second


def _banner(steps: list[StepDoc]) -> str:
    """:func:`banner_of` of the stored steps."""
    for step in steps:
        if step["name"] == "greeting":
            if step["received"]:
                return printable_stored(step["received"])
            break
    for step in steps:
        if step["code"] is not None and step["headers"]:
            head = f"HTTP {step['code']}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in step["headers"])
            if head.isascii():  # its UTF-8 bytes are its latin-1 bytes
                return printable_stored(head)
            return printable(head.encode("utf-8", "replace"))
    return ""
