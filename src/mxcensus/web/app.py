"""The ASGI application: FastAPI routes for the pages (:mod:`~mxcensus.web.pages`), the JSON
API (:mod:`~mxcensus.web.api`) and downloads, behind one access check and one set of
security headers.

Access (:func:`principal`):

- without tokens (no token file, or an empty one) the service binds to loopback only
  (:mod:`~mxcensus.web.server` refuses anything else) and every request is the local
  admin — but only with a loopback ``Host`` header, so a web page elsewhere cannot reach it
  through DNS rebinding;
- with tokens, every request but the login page, static files and the OpenAPI document
  needs one: ``Authorization: Bearer TOKEN`` (the API) or the ``mxcensus_token`` cookie the
  login form sets (HttpOnly, SameSite=Strict). A scoped token's scope goes into every query
  (:class:`~mxcensus.web.census.View`); only an unscoped token is admin.
- A write (POST) with a cookie must come from this origin (``Origin`` /
  ``Sec-Fetch-Site``): no cross-site request forgery.
- Failed logins (401), admin-only requests by a scoped token (403) and addresses outside a
  scope (404, as for an address never seen) are logged to ``mxcensus.web``.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mxcensus import __version__
from mxcensus.errors import MxcensusError, UsageError
from mxcensus.web.census import Census, Scope, View, scope_items
from mxcensus.web.jobs import Jobs
from mxcensus.web.tokens import TokenBook

log = logging.getLogger("mxcensus.web")
COOKIE = "mxcensus_token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
OPEN_PATHS = ("/login", "/static/", "/api/v1/openapi.json", "/favicon.ico")


@dataclass(frozen=True, slots=True)
class Settings:
    db: Path
    tokens: Path
    geo_db: tuple[Path, ...] = ()
    max_upload: int = 8 * 1024**3


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: the token's name (``local`` without tokens), its scope, whether admin."""

    name: str
    scope: Scope | None
    admin: bool

    def view(self, census: Census) -> View:
        return census.view((self.scope,) if self.scope is not None else ())

    @property
    def scope_text(self) -> str:
        """The scope as ``--scope`` takes it (empty: none)."""
        return ", ".join(scope_items(self.scope)) if self.scope is not None else ""


class Service:
    """What the routes share: the census, the jobs, the tokens, the settings."""

    def __init__(self, census: Census, settings: Settings, *, scheduler: Any | None = None) -> None:
        self.census = census
        self.settings = settings
        self.book = TokenBook(settings.tokens)
        self.jobs = Jobs(census.writer, self.changed)
        self.scheduler = scheduler

    def changed(self) -> None:
        """The store changed (a job started or ended, a watch ran): forget the answers and
        compute the default overview again in the background, so the first visitor after
        a change does not wait for ten million services to be counted."""
        self.census.cache.invalidate()
        threading.Thread(target=self.warm, name="mxcensus-warm", daemon=True).start()

    def warm(self) -> None:
        from mxcensus.web.api import overview_of
        from mxcensus.web.query import Params

        try:
            overview_of(self.census.view(), Params())
        except MxcensusError as exc:  # a store that cannot be read says so to the next visitor
            log.warning("warming the overview: %s", exc)

    def auth_required(self) -> bool:
        return bool(self.book.tokens(time.monotonic()))


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def _loopback_host(request: Request) -> bool:
    host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.cookies.get(COOKIE)


class Unauthenticated(Exception):
    """No valid token: 401 (a page redirects to the login form)."""


def principal(request: Request, svc: Annotated[Service, Depends(service)]) -> Principal:
    if not svc.auth_required():
        if not _loopback_host(request):
            log.warning("refused Host %r without tokens", request.headers.get("host"))
            raise HTTPException(403, "this service answers on loopback only")
        return Principal("local", None, True)
    secret = _secret(request)
    token = svc.book.find(secret, time.monotonic()) if secret else None
    if token is None:
        if secret:
            log.warning("failed login from %s", request.client.host if request.client else "?")
        raise Unauthenticated()
    if request.method == "POST" and "authorization" not in request.headers:
        _same_origin(request)
    return Principal(token.name, None if token.admin else token.parsed_scope(), token.admin)


def local_post(request: Request, who: Principal) -> None:
    """Writes by the local admin (no tokens) must come from this origin too."""
    if who.name == "local":
        _same_origin(request)


def _same_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if site not in (None, "same-origin", "none") or (
        origin is not None and origin.split("://", 1)[-1] != host
    ):
        log.warning("refused a cross-site %s %s", request.method, request.url.path)
        raise HTTPException(403, "cross-site request refused")


def require_admin(who: Principal, what: str) -> None:
    if not who.admin:
        log.warning("token %s: refused %s (admin only)", who.name, what)
        raise HTTPException(403, f"{what}: needs an unscoped (admin) token")


def not_found(who: Principal, what: str, asked: str = "") -> HTTPException:
    """404 for what is absent or outside the scope — the same answer for both (and it
    does not repeat what was asked)."""
    if who.scope is not None:
        log.info("token %s: %s %s not found or outside its scope", who.name, what, asked)
    return HTTPException(404, f"{what}: not found")


Who = Annotated[Principal, Depends(principal)]
Svc = Annotated[Service, Depends(service)]


def create_app(svc: Service) -> FastAPI:
    """The application: the API's and the pages' routes behind the security headers and
    one way of answering errors (JSON under ``/api/``, a page elsewhere)."""
    app = FastAPI(
        title="mxcensus",
        version=__version__,
        description="The census of exposed mail servers: aggregates, services, hosts, CVEs, "
        "scans and their differences, downloads. Every answer is limited to the token's "
        "scope. Counts follow the report's rules (`mxcensus report`).",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(svc),
    )
    app.state.service = svc
    app.middleware("http")(security_headers)
    for kind, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(kind, handler)
    app.get("/static/{name}", include_in_schema=False)(static)
    app.get("/favicon.ico", include_in_schema=False)(favicon)

    from mxcensus.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    return app


def _lifespan(svc: Service) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Watches scheduled and the overview warmed while the service runs; jobs stopped."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if svc.scheduler is not None:
            svc.scheduler.start()
        threading.Thread(target=svc.warm, name="mxcensus-warm", daemon=True).start()
        try:
            yield
        finally:
            if svc.scheduler is not None:
                svc.scheduler.stop(timeout=5)
            svc.jobs.stop(timeout=5)

    return lifespan


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def unauthenticated(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"detail": "a valid token is required"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return RedirectResponse("/login", 303)


async def bad_usage(request: Request, exc: Exception) -> Response:
    return _error(request, 400, str(exc))


async def failed(request: Request, exc: Exception) -> Response:
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return _error(request, 503, str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error(request, exc.status_code, str(exc.detail), exc.headers)


async def invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": _plain(exc.errors())}, 422)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return _error(request, 422, f"{where}: {first.get('msg', 'invalid')}")


ERROR_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    Unauthenticated: unauthenticated,
    UsageError: bad_usage,
    MxcensusError: failed,
    StarletteHTTPException: http_error,
    RequestValidationError: invalid,
}
"""How each failure is answered (the most specific class wins, as Starlette looks them up)."""

STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def static(name: str) -> Response:
    """The package's static files (``web/static``): scripts, styles, images; nothing else."""
    suffix = Path(name).suffix
    if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
        raise HTTPException(404, "not found")
    try:
        data = resources.files("mxcensus.web").joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise HTTPException(404, "not found") from None
    return Response(
        data, media_type=STATIC_TYPES[suffix], headers={"Cache-Control": "max-age=3600"}
    )


def favicon() -> Response:
    return Response(status_code=204)


def _plain(errors: Any) -> Any:
    """Validation errors without the input echoed back (it may be hostile or huge)."""
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def _error(request: Request, status: int, message: str, headers: Any = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status, headers=headers)
    from mxcensus.web.pages import error_page

    return error_page(request, status, message)
