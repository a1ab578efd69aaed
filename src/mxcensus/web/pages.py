"""The server-rendered pages: Jinja2 templates (``web/templates``) with autoescape on, the
report's SVG charts and world map (:mod:`mxcensus.draw`, which escapes what it draws), a
little JavaScript served from ``/static`` (sorting, filters, the upload) — no inline script
and nothing from another origin. Each page reads what the API answers
(:mod:`mxcensus.web.api`), through the requester's scoped view."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from mxcensus.draw import Bar, Place, bars, map_provenance, on_map, world_map
from mxcensus.errors import MxcensusError
from mxcensus.importers.registry import IMPORTERS
from mxcensus.report.query import DEFINITIONS
from mxcensus.text import visible
from mxcensus.web import api
from mxcensus.web import census as c
from mxcensus.web.app import COOKIE, Principal, Svc, Who, service
from mxcensus.web.names import build_name
from mxcensus.web.query import Params, decode_cursor, encode_cursor, filter_params

router = APIRouter(include_in_schema=False)
Filters = Annotated[Params, Depends(filter_params)]
ENV = Environment(
    loader=PackageLoader("mxcensus.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _num(v: object) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "—"


ENV.filters["num"] = _num
ENV.filters["text"] = lambda v, n=300: "—" if v is None else visible(str(v), n)
ENV.filters["q"] = lambda v: quote(str(v), safe="")
ENV.globals["pct"] = _pct
ENV.globals["name"] = build_name
ENV.globals["map_provenance"] = map_provenance


def render(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    who = getattr(request.state, "who", None)
    svc = request.app.state.service
    html = ENV.get_template(template).render(
        who=who, auth=svc.auth_required(), path=request.url.path, **context
    )
    return HTMLResponse(html, code)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status, status=status, message=message)


def _seen(request: Request, who: Principal) -> Principal:
    request.state.who = who
    return who


# -- charts ---------------------------------------------------------------------------------


def product_chart(groups: list[api.GroupOut], params: Params) -> Markup:
    rows = [
        Bar(
            g.name or "unknown product",
            (float(g.vulnerable), float(g.potentially_vulnerable)),
            f"{g.vulnerable + g.potentially_vulnerable:,} of {g.services:,}",
            "/services?" + params.query(product_line=(str(g.keys["product_line"]),))
            if g.keys.get("product_line")
            else None,
        )
        for g in groups
    ]
    return Markup(bars("Services at risk per product line", _RISK, rows))


_RISK = ("vulnerable", "potentially-vulnerable")


def cve_chart(cves: list[api.CveCountOut]) -> Markup:
    rows = [
        Bar(
            f"{r.cve}{' (KEV)' if r.kev else ''}",
            (float(r.vulnerable), float(r.potentially_vulnerable)),
            f"{r.vulnerable + r.potentially_vulnerable:,}",
            f"/cves/{r.cve}",
        )
        for r in cves
    ]
    return Markup(bars("Services per CVE", _RISK, rows))


def country_map(places: list[api.PlaceOut], params: Params) -> Markup:
    shaded = {
        str(p.place): Place(
            float(p.at_risk_hosts), f"{p.at_risk_hosts:,} hosts at risk of {p.hosts:,}"
        )
        for p in places
        if on_map(p.place)
    }
    top = max((p.value for p in shaded.values()), default=0.0)
    return Markup(
        world_map(
            "Hosts at risk per country",
            shaded,
            top_label=f"{int(top):,} hosts at risk",
            href=lambda cc: "/services?" + params.query(country=(cc,), at_risk=True),
        )
    )


def continent_chart(places: list[api.PlaceOut]) -> Markup:
    rows = [
        Bar(p.place or "unknown", (float(p.at_risk_hosts),), f"{p.at_risk_hosts:,} of {p.hosts:,}")
        for p in places
    ]
    return Markup(bars("Hosts at risk per continent", ("at-risk hosts",), rows))


def trend_chart(trend: list[api.TrendOut]) -> Markup:
    rows = [
        Bar(
            f"{t.name or t.scan} · {t.started_at:%Y-%m-%d}",
            (float(t.at_risk_hosts), float(t.hosts - t.at_risk_hosts)),
            f"{t.at_risk_hosts:,} at risk of {t.hosts:,}",
            "/?" + Params(scan=t.scan).query(),
        )
        for t in trend
    ]
    return Markup(bars("Hosts per scan", ("at-risk hosts", "hosts not at risk"), rows))


# -- pages ----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, svc: Svc, who: Who, params: Filters) -> Response:
    _seen(request, who)
    view = who.view(svc.census)
    o = api.overview_of(view, params)
    return render(
        request,
        "overview.html",
        o=o,
        params=params,
        product_chart=product_chart(o.product_lines, params),
        cve_chart=cve_chart(o.cves),
        country_map=country_map(o.countries, params),
        continent_chart=continent_chart(o.continents),
        trend_chart=trend_chart(o.trend),
        definitions=DEFINITIONS,
        scans=view.finished_scans(),
    )


FACETS = ("product_line", "country", "verdict", "port")


@router.get("/services", response_class=HTMLResponse)
def services_page(
    request: Request,
    svc: Svc,
    who: Who,
    params: Filters,
    after: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    _seen(request, who)
    view = who.view(svc.census)
    f = params.to_filter(view)
    totals = view.totals(f)
    rows = view.services(f, after=decode_cursor(after) if after else None, limit=100)
    nxt = (
        encode_cursor(c.ServiceKey(rows[-1].scan, rows[-1].ip, rows[-1].port, rows[-1].protocol))
        if len(rows) == 100
        else None
    )
    facets = {k: view.groups([k], f, limit=12) for k in FACETS}
    return render(
        request,
        "services.html",
        params=params,
        totals=totals,
        rows=rows,
        next=nxt,
        facets=facets,
        scans=view.finished_scans(),
        formats=list(api.FORMATS),
        scan=f.scans[0] if f.scans else None,
    )


@router.get("/hosts/{ip}", response_class=HTMLResponse)
def host_page(
    request: Request, svc: Svc, who: Who, ip: Annotated[str, FPath(max_length=64)]
) -> Response:
    _seen(request, who)
    host = api.host_of(who.view(svc.census), ip, who)
    return render(request, "host.html", host=host)


@router.get("/cves/{cve_id}", response_class=HTMLResponse)
def cve_page(
    request: Request,
    svc: Svc,
    who: Who,
    cve_id: Annotated[str, FPath(max_length=64)],
    params: Filters,
) -> Response:
    _seen(request, who)
    out = api.cve_of(who.view(svc.census), cve_id, params, who)
    return render(request, "cve.html", cve=out, params=params)


@router.get("/owners/{kind}/{value:path}", response_class=HTMLResponse)
def owner_page(
    request: Request,
    svc: Svc,
    who: Who,
    kind: str,
    value: Annotated[str, FPath(max_length=100)],
    params: Filters,
) -> Response:
    _seen(request, who)
    if kind == "asn":
        digits = value.upper().removeprefix("AS")
        if not digits.isdigit() or int(digits) >= 2**32:
            raise HTTPException(404, f"owner {value}: not found")
        owned = replace(params, asn=(int(digits),))
        title = f"AS{int(digits)}"
    elif kind == "country":
        owned = replace(params, country=(value.upper(),))
        title = value.upper()
    elif kind == "prefix":
        owned = replace(params, prefix=(value,))
        title = str(c.parse_network(value))
    else:
        raise HTTPException(404, f"owner kind {kind}: not found")
    view = who.view(svc.census)
    o = api.overview_of(view, owned)
    orgs = view.groups(["org"], owned.to_filter(view), limit=10)
    return render(
        request,
        "owner.html",
        o=o,
        kind=kind,
        title=title,
        params=owned,
        orgs=orgs,
        product_chart=product_chart(o.product_lines, owned),
        cve_chart=cve_chart(o.cves),
    )


@router.get("/scans", response_class=HTMLResponse)
def scans_page(request: Request, svc: Svc, who: Who) -> Response:
    _seen(request, who)
    view = who.view(svc.census)
    scans = view.scans()
    totals = {t.scan: t for t in view.scan_totals(c.Filter(scans=tuple(s.id for s in scans)))}
    every = {
        t.scan: t
        for t in view.scan_totals(c.Filter(scans=tuple(s.id for s in scans), exposed=False))
    }
    outcomes = view.outcomes(c.Filter(scans=tuple(s.id for s in scans)))
    jobs = [j for j in svc.jobs.list() if who.admin or j.by == who.name]
    next_runs = []
    if svc.scheduler is not None and who.admin:
        try:
            next_runs = svc.scheduler.next_runs()
        except MxcensusError:  # the schedule is information here, never a failed page
            next_runs = []
    return render(
        request,
        "scans.html",
        scans=scans,
        totals=totals,
        every=every,
        jobs=jobs,
        outcomes=outcomes,
        events=view.events(100),
        next_runs=next_runs,
        import_formats=list(IMPORTERS),
    )


@router.get("/diff", response_class=HTMLResponse)
def diff_page(
    request: Request,
    svc: Svc,
    who: Who,
    params: Filters,
    first: Annotated[str, Query(max_length=200)],
    last: Annotated[str, Query(max_length=200)],
    category: api.Category | None = None,
) -> Response:
    _seen(request, who)
    d = api.diff_of(who.view(svc.census), first, last, params, category, 500)
    return render(request, "diff.html", d=d, category=category, params=params)


@router.get("/download/{fmt}")
def download_page(
    svc: Svc,
    who: Who,
    fmt: api.Format,
    params: Filters,
    report: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_]+$")] = None,
) -> Response:
    return api.download_response(who.view(svc.census), fmt, params, report)


# -- logging in -----------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return render(request, "login.html", failed=False)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    from urllib.parse import parse_qs

    svc = service(request)
    body = (await request.body())[:4096].decode("utf-8", "replace")
    secret = (parse_qs(body).get("token") or [""])[0].strip()
    import time

    token = svc.book.find(secret, time.monotonic()) if secret else None
    if token is None:
        import logging

        logging.getLogger("mxcensus.web").warning(
            "failed login from %s", request.client.host if request.client else "?"
        )
        return render(request, "login.html", 401, failed=True)
    response = RedirectResponse("/", 303)
    response.set_cookie(
        COOKIE, secret, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response
