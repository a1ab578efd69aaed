"""The JSON API, ``/api/v1/``: what the pages show, as typed answers (the OpenAPI document
at ``/api/v1/openapi.json`` is generated from these models). Every answer reads through
the requester's scoped :class:`~mxcensus.web.census.View`."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, TypeAlias, get_type_hints

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, create_model

from mxcensus.errors import UsageError
from mxcensus.export.formats import FORMATS as EXPORT_FORMATS
from mxcensus.importers.registry import IMPORTERS
from mxcensus.model import ScanId
from mxcensus.web import census as c
from mxcensus.web.app import Svc, Who, local_post, not_found, require_admin
from mxcensus.web.names import build_name, line_name
from mxcensus.web.query import Params, decode_cursor, encode_cursor, filter_params
from mxcensus.web.stream import streamed

router = APIRouter(prefix="/api/v1", tags=["census"])
Filters = Annotated[Params, Depends(filter_params)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad filter or parameter"},
    401: {"description": "A token is required"},
    404: {"description": "Not found (or outside the token's scope)"},
}
FORMATS = {name: (f.media_type, f.suffix) for name, f in EXPORT_FORMATS.items()}
"""The export formats (``export.formats``) as downloads: Content-Type and file name ending.
Shadowserver's format is a file per report type: a zip of them, or with ``report`` one."""


def names_of(registry: Iterable[str]) -> Any:
    """A parameter type taking the names ``registry`` holds, and nothing else: a ``Literal``
    of them built from the registry itself (validated, and an ``enum`` in the OpenAPI
    document), so no list of formats, keys or categories is kept by hand here."""
    return Literal[tuple(registry)]


if TYPE_CHECKING:  # names to the type checker; Literals of the registries at run time
    Format: TypeAlias = str
    ImportFormat: TypeAlias = str
    GroupKey: TypeAlias = str
    Category: TypeAlias = str
else:
    Format = names_of(FORMATS)  # export formats
    ImportFormat = names_of(IMPORTERS)  # importers
    GroupKey = names_of(c.GROUP_KEYS)  # what an aggregate groups by
    Category = names_of(c.CHURN)  # a host's category between two scans


CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
IP_TEXT = r"^[0-9A-Fa-f:.]{2,45}$"


# -- models ---------------------------------------------------------------------------------


def row_model(name: str, row: type[NamedTuple], *, without: tuple[str, ...] = ()) -> Any:
    """The answer model ``name`` with the fields of the reader's row type ``row`` (a
    ``NamedTuple`` of ``store.results``: its names, types and order), but those ``without``;
    built from ``row._asdict()``, which may hold those too."""
    types = get_type_hints(row)
    fields: Any = {f: (types[f], ...) for f in row._fields if f not in without}
    return create_model(name, **fields)


if TYPE_CHECKING:  # models to the type checker; at run time built from the reader's rows
    ScanOut: TypeAlias = BaseModel
    FindingOut: TypeAlias = BaseModel
    ChurnOut: TypeAlias = BaseModel
    ChurnHostOut: TypeAlias = BaseModel
    EventOut: TypeAlias = BaseModel
else:
    ScanOut = row_model("ScanOut", c.ScanInfo, without=("readable", "services"))
    FindingOut = row_model("FindingOut", c.FindingRow, without=("scan",))  # a host's, by scan
    ChurnOut = row_model("ChurnOut", c.ChurnCount)
    ChurnHostOut = row_model("ChurnHostOut", c.ChurnHost)
    EventOut = row_model("EventOut", c.EventRow)


class PlaceOut(BaseModel):
    place: str | None
    hosts: int
    services: int
    vulnerable_hosts: int
    potentially_vulnerable_hosts: int = Field(validation_alias="potentially_hosts")
    eol_hosts: int
    at_risk_hosts: int


class GroupOut(BaseModel):
    keys: dict[str, str | int | float | bool | None]
    name: str | None = Field(None, description="The product line as people name it")
    hosts: int
    services: int
    vulnerable: int
    potentially_vulnerable: int
    eol: int


class CveCountOut(BaseModel):
    cve: str
    kev: bool
    vulnerable: int
    potentially_vulnerable: int = Field(validation_alias="potentially")
    vulnerable_hosts: int
    hosts_at_risk: int = Field(validation_alias="any_hosts")
    judged: int


class TrendOut(BaseModel):
    scan: str
    name: str | None
    started_at: datetime
    hosts: int
    services: int
    at_risk_hosts: int


class Overview(BaseModel):
    scan: ScanOut | None
    hosts: int
    services: int
    not_connected: int = Field(description="Ports that never accepted a connection")
    vulnerable_hosts: int
    potentially_vulnerable_hosts: int
    eol_hosts: int
    at_risk_hosts: int
    kev_services: int
    eol_services: int
    hosts_by_verdict: dict[str, int]
    services_by_verdict: dict[str, int]
    product_lines: list[GroupOut]
    cves: list[CveCountOut]
    countries: list[PlaceOut]
    continents: list[PlaceOut]
    trend: list[TrendOut]


class Aggregate(BaseModel):
    scan: str | None
    group_by: list[str]
    rows: list[GroupOut]


class ServiceOut(BaseModel):
    scan: str
    ip: str
    port: int
    protocol: str
    transport: str
    observed_at: datetime
    outcome: str
    product: str
    name: str = Field(description="Product as people name it")
    product_line: str | None
    version: str | None
    release: str | None
    precision: str
    verdict: str
    kev: bool
    eol: bool | None
    country: str | None
    continent: str | None
    asn: int | None
    org: str | None
    hostname: str | None
    banner: str | None


class ServicePage(BaseModel):
    items: list[ServiceOut]
    next: str | None = Field(description="Cursor of the next page (pass as `after`)")


class HostScan(BaseModel):
    scan: ScanOut
    services: list[ServiceOut]
    findings: list[FindingOut]


class Host(BaseModel):
    ip: str
    scans: list[HostScan]
    evidence: list[str] = Field(description="The evidence chain of the newest scan (explain)")


class CveOut(BaseModel):
    id: str
    title: str | None
    product: str | None
    kev: bool
    cvss: float | None
    knowledge: list[str]
    counts: CveCountOut | None
    services: list[ServiceOut]


class Diff(BaseModel):
    first: ScanOut
    last: ScanOut
    categories: list[ChurnOut]
    hosts: list[ChurnHostOut]


class WatchOut(BaseModel):
    watch: str
    schedule: str | None
    last: datetime | None
    due: datetime | None
    running: bool


class JobOut(BaseModel):
    id: int
    kind: str
    title: str
    state: str
    progress: str
    fraction: float | None
    submitted: datetime
    started: datetime | None
    finished: datetime | None
    result: str
    scan: str | None
    by: str


# -- helpers --------------------------------------------------------------------------------


def scan_out(s: c.ScanInfo) -> ScanOut:
    return ScanOut(**s._asdict())


def service_out(r: c.ServiceRow) -> ServiceOut:
    d = r._asdict()
    d["name"] = build_name(r.product, r.product_line, r.version, r.release)
    return ServiceOut(**d)


def group_out(keys: list[str], g: c.GroupRow) -> GroupOut:
    named = dict(zip(keys, g.keys, strict=True))
    name = None
    if "product_line" in named:
        name = line_name(str(named.get("product") or ""), _str(named["product_line"]))
    d = g._asdict() | {"keys": named, "name": name}
    d["potentially_vulnerable"] = d.pop("potentially")  # the API spells the count out
    return GroupOut(**d)


def _str(v: object) -> str | None:
    return None if v is None else str(v)


def cve_out(r: c.CveCount) -> CveCountOut:
    return CveCountOut.model_validate(r._asdict())


def place_out(p: c.PlaceRow) -> PlaceOut:
    return PlaceOut.model_validate(p._asdict())


def overview_of(view: c.View, params: Params) -> Overview:
    f = params.to_filter(view)
    scan = view.scan(f.scans[0]) if f.scans and f.scans[0] else None
    t = view.totals(f)
    lines = view.groups(["product", "product_line"], f, limit=30)
    return Overview(
        scan=scan_out(scan) if scan else None,
        hosts=t.hosts,
        services=t.services,
        not_connected=t.rows - t.services,
        vulnerable_hosts=t.hosts_by_verdict.get("vulnerable", 0),
        potentially_vulnerable_hosts=t.hosts_by_verdict.get("potentially-vulnerable", 0),
        eol_hosts=t.eol_hosts,
        at_risk_hosts=t.at_risk_hosts,
        kev_services=t.kev_services,
        eol_services=t.eol_services,
        hosts_by_verdict=dict(t.hosts_by_verdict),
        services_by_verdict=dict(t.services_by_verdict),
        product_lines=[group_out(["product", "product_line"], g) for g in lines],
        cves=[cve_out(r) for r in view.cve_counts(f, limit=30)],
        countries=[place_out(p) for p in t.places["country"]],
        continents=[place_out(p) for p in t.places["continent"]],
        trend=trend_of(view, params),
    )


def trend_of(view: c.View, params: Params) -> list[TrendOut]:
    """Hosts, services and hosts at risk per finished scan, oldest first (the filter's
    criteria but not its scan)."""
    scans = [s for s in view.finished_scans()][:50]
    if not scans:
        return []
    f = replace(params, scan=None).to_filter(view)
    totals = {t.scan: t for t in view.scan_totals(replace(f, scans=tuple(s.id for s in scans)))}
    out = []
    for s in reversed(scans):
        t = totals.get(s.id)
        out.append(
            TrendOut(
                scan=s.id,
                name=s.name,
                started_at=s.started_at,
                hosts=t.hosts if t else 0,
                services=t.services if t else 0,
                at_risk_hosts=t.at_risk_hosts if t else 0,
            )
        )
    return out


def host_of(view: c.View, ip: str, who: Any) -> Host:
    text = _ip(ip)
    rows = view.host_services(text) if text is not None else []
    if text is None or not rows:
        raise not_found(who, "host", ip[:64])
    services: dict[str, list[ServiceOut]] = {}
    for r in rows:
        services.setdefault(r.scan, []).append(service_out(r))
    findings: dict[str, list[FindingOut]] = {}
    for fr in view.host_findings(text):
        findings.setdefault(fr.scan, []).append(FindingOut(**fr._asdict()))
    seen = [s for s in view.scans() if s.id in services]  # newest first
    scans = [
        HostScan(scan=scan_out(s), services=services[s.id], findings=findings.get(s.id, []))
        for s in seen
    ]
    newest = seen[0].id if seen else None
    evidence: list[str] = []
    if newest is not None:
        try:
            evidence = view.explain(text, newest)
        except UsageError as exc:
            evidence = [str(exc)]
    return Host(ip=text, scans=scans, evidence=evidence)


def _ip(text: str) -> str | None:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def cve_of(view: c.View, cve: str, params: Params, who: Any) -> CveOut:
    from mxcensus import kb
    from mxcensus.kb.listing import describe

    ident = cve.upper()
    if not CVE_ID.match(ident):
        raise not_found(who, f"CVE {cve}")
    adv = next((a for a in kb.get().advisories if a.id == ident), None)
    f = params.to_filter(view)
    counts = [r for r in view.cve_counts(replace(f, cves=(ident,)), limit=1000) if r.cve == ident]
    services = view.at_risk_by(ident, f, limit=100)
    if adv is None and not counts:
        raise not_found(who, f"CVE {ident}")
    return CveOut(
        id=ident,
        title=adv.title if adv else None,
        product=adv.product if adv else None,
        kev=bool(adv.kev) if adv else bool(counts and counts[0].kev),
        cvss=adv.cvss if adv else None,
        knowledge=describe(adv) if adv else [],
        counts=cve_out(counts[0]) if counts else None,
        services=[service_out(r) for r in services],
    )


def diff_of(
    view: c.View, first: str, last: str, params: Params, category: str | None, limit: int
) -> Diff:
    a, b = view.scan(first), view.scan(last)
    if a is None or b is None:
        raise HTTPException(404, f"scan {first if a is None else last}: not found")
    f = replace(params.to_filter(view), scans=())
    hosts = view.churn_hosts(a.id, b.id, f, category, limit) if category else []
    return Diff(
        first=scan_out(a),
        last=scan_out(b),
        categories=[ChurnOut(**r._asdict()) for r in view.churn(a.id, b.id, f)],
        hosts=[ChurnHostOut(**h._asdict()) for h in hosts],
    )


# -- routes ---------------------------------------------------------------------------------


@router.get("/overview", response_model=Overview, responses=ERRORS)
def overview(svc: Svc, who: Who, params: Filters) -> Overview:
    """Headline numbers, product lines, CVEs, countries, continents and the trend."""
    return overview_of(who.view(svc.census), params)


@router.get("/aggregate", response_model=Aggregate, responses=ERRORS)
def aggregate(
    svc: Svc,
    who: Who,
    params: Filters,
    group_by: Annotated[list[GroupKey], Query(min_length=1, max_length=4)],
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> Aggregate:
    """Counts per group (hosts, services, vulnerable, potentially vulnerable, end of
    support), most services first; ``group_by=cve`` counts service × CVE pairs."""
    keys: list[str] = list(dict.fromkeys(group_by))
    view = who.view(svc.census)
    f = params.to_filter(view)
    rows = view.groups(keys, f, limit=limit)
    return Aggregate(
        scan=f.scans[0] or None, group_by=keys, rows=[group_out(keys, g) for g in rows]
    )


@router.get("/services", response_model=ServicePage, responses=ERRORS)
def services(
    svc: Svc,
    who: Who,
    params: Filters,
    after: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ServicePage:
    """Services of the filter in (scan, ip, port, protocol) order, a page at a time."""
    view = who.view(svc.census)
    f = params.to_filter(view)
    rows = view.services(f, after=decode_cursor(after) if after else None, limit=limit)
    nxt = (
        encode_cursor(c.ServiceKey(rows[-1].scan, rows[-1].ip, rows[-1].port, rows[-1].protocol))
        if len(rows) == limit
        else None
    )
    return ServicePage(items=[service_out(r) for r in rows], next=nxt)


@router.get("/hosts/{ip}", response_model=Host, responses=ERRORS)
def host(svc: Svc, who: Who, ip: Annotated[str, FPath(max_length=64)]) -> Host:
    """Every service of the address across scans, its verdicts and evidence chain."""
    return host_of(who.view(svc.census), ip, who)


@router.get("/cves/{cve_id}", response_model=CveOut, responses=ERRORS)
def cve(
    svc: Svc, who: Who, cve_id: Annotated[str, FPath(max_length=64)], params: Filters
) -> CveOut:
    """What the knowledge says of the CVE, and the services at risk by it."""
    return cve_of(who.view(svc.census), cve_id, params, who)


@router.get("/scans", response_model=list[ScanOut], responses=ERRORS)
def scans(svc: Svc, who: Who) -> list[ScanOut]:
    return [scan_out(s) for s in who.view(svc.census).scans()]


@router.get("/diff", response_model=Diff, responses=ERRORS)
def diff(
    svc: Svc,
    who: Who,
    params: Filters,
    first: Annotated[str, Query(max_length=200, description="The earlier scan")],
    last: Annotated[str, Query(max_length=200, description="The later scan")],
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> Diff:
    """Hosts of two scans matched by address: fixed, still exposed, newly at risk, not at
    risk, newly seen, gone (with ``category``, the hosts of that category)."""
    return diff_of(who.view(svc.census), first, last, params, category, limit)


@router.get("/events", response_model=list[EventOut], responses=ERRORS)
def events(
    svc: Svc,
    who: Who,
    watch: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> list[EventOut]:
    """Watch events, newest first."""
    return [EventOut(**e._asdict()) for e in who.view(svc.census).events(limit, watch)]


@router.get("/jobs", response_model=list[JobOut], responses=ERRORS)
def jobs(svc: Svc, who: Who) -> list[JobOut]:
    """Background jobs (imports, reassessments, watch runs) with their progress."""
    return [JobOut(**j.as_dict()) for j in svc.jobs.list() if who.admin or j.by == who.name]


def download_response(
    view: c.View, fmt: str, params: Params, report: str | None = None
) -> StreamingResponse:
    f = params.to_filter(view)
    if fmt not in FORMATS:
        raise HTTPException(404, f"format {fmt}: not found")
    media, ext = FORMATS[fmt]
    if report is not None and fmt != "shadowserver":
        raise HTTPException(400, "report: only for the shadowserver format")
    if report is not None:
        media, ext = "text/csv; charset=utf-8", f"{report}.csv"
    scan = f.scans[0] if f.scans else "none"
    view.check_download(f, report)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"mxcensus-{scan}.{ext}")
    return StreamingResponse(
        streamed(lambda out: view.download(fmt, f, out, report)),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/download/{fmt}",
    responses={**ERRORS, 200: {"content": {m: {} for m, _ in FORMATS.values()}}},
    response_class=StreamingResponse,
)
def download(
    svc: Svc,
    who: Who,
    fmt: Format,
    params: Filters,
    report: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=r"^[a-z0-9_]+$",
            description="shadowserver only: one report type (scan_smtp …) as one CSV file",
        ),
    ] = None,
) -> StreamingResponse:
    """Every service of the filter in an export format, streamed (Shadowserver's: a zip
    of one file per report type, or the one ``report``)."""
    return download_response(who.view(svc.census), fmt, params, report)


@router.post("/imports", response_model=JobOut, status_code=202, responses={**ERRORS, 403: {}})
async def import_file(
    request: Request,
    svc: Svc,
    who: Who,
    format: ImportFormat,
    name: Annotated[str | None, Query(max_length=200)] = None,
) -> JobOut:
    """Upload a file (the request body, raw) to import as a new scan, in the background;
    admin tokens only. Its progress: ``/api/v1/jobs``."""
    require_admin(who, "import")
    local_post(request, who)
    path = await _receive(request, svc)
    if name is not None and who.view(svc.census).scan(name) is not None:
        path.unlink(missing_ok=True)
        raise UsageError(f"name {name!r}: a scan with that name exists already")
    from mxcensus.web.jobs import import_work

    job = svc.jobs.submit(
        "import",
        f"import {format}" + (f" as {name}" if name else ""),
        import_work(format, path, name, svc.settings.geo_db),
        by=who.name,
    )
    return JobOut(**job.as_dict())


async def _receive(request: Request, svc: Svc) -> Path:
    """The request body, streamed to a temporary file beside the store."""
    limit = svc.settings.max_upload
    db = svc.settings.db
    fd, tmp = tempfile.mkstemp(prefix=f".{db.name}.upload-", dir=db.parent)
    size = 0
    try:
        with open(fd, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"upload larger than {limit:,} bytes")
                fh.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if size == 0:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError("import: the request body (the file) is empty")
    return Path(tmp)


@router.post("/reassess", response_model=JobOut, status_code=202, responses={**ERRORS, 403: {}})
def reassess(
    request: Request,
    svc: Svc,
    who: Who,
    scan: Annotated[str, Query(max_length=200)],
) -> JobOut:
    """Re-identify and re-assess a stored scan with the current rules and knowledge, in the
    background; admin tokens only."""
    require_admin(who, "reassess")
    local_post(request, who)
    found = who.view(svc.census).scan(scan)
    if found is None:
        raise HTTPException(404, f"scan {scan}: not found")
    from mxcensus.web.jobs import reassess_work

    job = svc.jobs.submit(
        "reassess",
        f"reassess {found.name or found.id}",
        reassess_work(ScanId(found.id), svc.settings.geo_db),
        by=who.name,
    )
    return JobOut(**job.as_dict())


@router.get("/watches", response_model=list[WatchOut], responses={**ERRORS, 403: {}})
def watches(svc: Svc, who: Who) -> list[WatchOut]:
    """The store's watches: schedule, last run, next run (admin)."""
    require_admin(who, "watches")
    if svc.scheduler is None:
        return []
    return [
        WatchOut(watch=n.watch, schedule=n.schedule, last=n.last, due=n.due, running=n.running)
        for n in svc.scheduler.next_runs()
    ]


@router.post(
    "/watches/{name}/run",
    response_model=list[WatchOut],
    status_code=202,
    responses={**ERRORS, 403: {}, 409: {"description": "The service runs no watches"}},
)
def run_watch_now(
    request: Request, svc: Svc, who: Who, name: Annotated[str, FPath(max_length=64)]
) -> list[WatchOut]:
    """Run a watch now, before any scheduled one (admin); the run is listed in
    ``/api/v1/jobs`` when it ends, its events in ``/api/v1/events``."""
    require_admin(who, "run a watch")
    local_post(request, who)
    if svc.scheduler is None:
        raise HTTPException(409, "this service runs no watches (started with --no-watches)")
    known = {n.watch for n in svc.scheduler.next_runs()}
    if name not in known:
        raise HTTPException(404, f"watch {name}: not found")
    svc.scheduler.run_now(name)
    return watches(svc, who)
