"""Tokens and scopes: with a token file every request needs a token; a scoped token sees
only the services inside its scope through every route (each one walked, with addresses
inside and outside the scope); only an unscoped token may write; failures are logged and
answered 401/403/404 alike whether or not an address exists outside the scope."""

from __future__ import annotations

import ipaddress
import logging
import re
import stat
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute

from mxcensus.cli import main
from mxcensus.web import tokens as tf
from tests.web.census_data import PLACES
from tests.web.conftest import WEEK1, WEEK2, Running

IP = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
DE_NET = ipaddress.ip_network("192.0.2.0/24")  # the hosts of AS3320 (DE) in census_data
FR_HALF = ipaddress.ip_network("198.51.100.0/28")
CENSUS_NETS = [ipaddress.ip_network(p[3].format(0) + "/24") for p in PLACES]


@pytest.fixture(scope="module")
def tokens(service: Running) -> dict[str, str]:
    return {
        "admin": service.add_token("admin"),
        "asn": service.add_token("telekom", "AS3320"),
        "net": service.add_token("orange-half", "198.51.100.0/28"),
        "country": service.add_token("kddi", "JP"),
    }


def census_ips(text: str) -> set[ipaddress.IPv4Address]:
    """The census addresses a body names."""
    found = {ipaddress.ip_address(m) for m in IP.findall(text) if _valid(m)}
    return {a for a in found if any(a in n for n in CENSUS_NETS)}


def parquet_text(data: bytes) -> str:
    """Every value of a Parquet file, as text (its bytes hold addresses half compressed)."""
    import io

    import pyarrow.parquet as pq

    return str(pq.read_table(io.BytesIO(data)).to_pylist())


def _valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def routes(app: object) -> Iterator[object]:
    """Every route of the app, those of included routers too."""
    for route in app.routes:  # type: ignore[attr-defined]
        inner = getattr(route, "original_router", None)
        yield from routes(inner) if inner is not None else (route,)


def paths(app: object) -> Iterator[tuple[str, str]]:
    """(method, concrete path) for every GET route of the app, path parameters filled in
    with values inside and outside any scope."""
    fills = {
        "ip": ["192.0.2.3", "198.51.100.1", "198.51.100.40", "203.0.113.2", "100.64.2.1"],
        "cve_id": ["CVE-2022-41082", "CVE-2023-42115"],
        "fmt": ["csv", "jsonl", "parquet", "shadowserver"],
        "kind": ["asn", "country", "prefix"],
        "name": ["app.js"],
    }
    for route in routes(app):
        methods = getattr(route, "methods", None) or set()
        if "GET" not in methods:
            continue
        path: str = route.path
        names = re.findall(r"\{(\w+)(?::path)?\}", path)
        if not names:
            yield "GET", path
            continue
        if names == ["kind", "value"]:
            for kind, value in (("asn", "3320"), ("asn", "3215"), ("country", "DE"),
                                ("country", "US"), ("prefix", "198.51.100.0/24"),
                                ("prefix", "203.0.113.0/24")):  # fmt: skip
                yield "GET", f"/owners/{kind}/{value}"
            continue
        (name,) = names
        for value in fills[name]:
            yield "GET", re.sub(r"\{\w+(?::path)?\}", value, path)


QUERIES = (
    {},
    {"scan": WEEK1},
    {"scan": WEEK2, "at_risk": "true"},
    {"first": WEEK1, "last": WEEK2},
    {"first": WEEK1, "last": WEEK2, "category": "gone"},
    {"first": WEEK1, "last": WEEK2, "category": "newly seen"},
    {"group_by": "country"},
    {"group_by": ["org", "asn"], "scan": WEEK1},
    {"country": "US"},
    {"prefix": "203.0.113.0/24", "scan": WEEK1},
)


@pytest.mark.parametrize(
    ("who", "inside"),
    [("asn", [DE_NET]), ("net", [FR_HALF]), ("country", [ipaddress.ip_network("100.64.2.0/24")])],
)
def test_a_scoped_token_sees_nothing_outside_its_scope_anywhere(
    service: Running, tokens: dict[str, str], who: str, inside: list[object]
) -> None:
    seen_inside = 0
    checked = 0
    with service.client(tokens[who]) as http:
        for method, path in paths(service.app):
            for query in QUERIES:
                r = http.request(method, path, params=query)
                checked += 1
                assert r.status_code in (200, 204, 400, 403, 404, 422), (path, query, r.status_code)
                body = parquet_text(r.content) if "parquet" in path and r.is_success else r.text
                asked = census_ips(f"{path} {query}")  # the request's own words, echoed
                addresses = census_ips(body) - asked
                outside = {a for a in addresses if not any(a in n for n in inside)}  # type: ignore[operator]
                assert not outside, (who, path, query, sorted(map(str, outside))[:5])
                seen_inside += len(addresses)
    assert checked > 200
    assert seen_inside > 0  # the scope's own services are visible


def test_scoped_counts_are_the_scope_s(service: Running, tokens: dict[str, str]) -> None:
    with service.client(tokens["admin"]) as admin, service.client(tokens["asn"]) as scoped:
        mine = scoped.get("/api/v1/overview", params={"scan": WEEK1}).json()
        de = admin.get("/api/v1/overview", params={"scan": WEEK1, "asn": 3320}).json()
        fr = scoped.get("/api/v1/overview", params={"scan": WEEK1, "country": "FR"}).json()
    assert (mine["hosts"], mine["services"]) == (de["hosts"], de["services"]) != (0, 0)
    assert mine["hosts_by_verdict"] == de["hosts_by_verdict"]
    assert (fr["hosts"], fr["services"]) == (0, 0)


def test_out_of_scope_and_absent_addresses_look_the_same(
    service: Running, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with service.client(tokens["asn"]) as http, caplog.at_level(logging.INFO, "mxcensus.web"):
        elsewhere = http.get("/api/v1/hosts/203.0.113.2")  # exists, outside the scope
        nowhere = http.get("/api/v1/hosts/192.0.2.250")  # inside the scope, never seen
    assert elsewhere.status_code == nowhere.status_code == 404
    assert elsewhere.json()["detail"].replace("203.0.113.2", "X") == nowhere.json()[
        "detail"
    ].replace("192.0.2.250", "X")
    assert "outside its scope" in caplog.text


def test_requests_without_a_valid_token(
    service: Running, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with service.client() as http, caplog.at_level(logging.WARNING, "mxcensus.web"):
        assert http.get("/api/v1/overview").status_code == 401
        assert http.get("/api/v1/overview").headers["www-authenticate"] == "Bearer"
        page = http.get("/services")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        bad = http.get("/api/v1/overview", headers={"Authorization": "Bearer mxc_nope"})
        assert bad.status_code == 401
        assert http.get("/api/v1/openapi.json").status_code == 200
        assert http.get("/login").status_code == 200
        assert http.post("/login", content="token=mxc_wrong").status_code == 401
    assert caplog.text.count("failed login") >= 2


def test_login_sets_a_strict_cookie(service: Running, tokens: dict[str, str]) -> None:
    with service.client() as http:
        r = http.post("/login", content=f"token={tokens['asn']}",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        overview = http.get("/")
        assert overview.status_code == 200 and "telekom" in overview.text
        # a write with the cookie from another site is refused before anything else
        elsewhere = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
        cross = http.post("/api/v1/reassess", params={"scan": WEEK1}, headers=elsewhere)
        assert cross.status_code == 403


def test_only_an_admin_token_writes(
    service: Running, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with service.client(tokens["asn"]) as http, caplog.at_level(logging.WARNING, "mxcensus.web"):
        up = http.post("/api/v1/imports", params={"format": "shodan"}, content=b"{}\n")
        re_ = http.post("/api/v1/reassess", params={"scan": WEEK1})
    assert up.status_code == re_.status_code == 403
    assert "admin only" in caplog.text
    with service.client(tokens["admin"]) as http:
        job = http.post("/api/v1/reassess", params={"scan": WEEK1})
        assert job.status_code == 202
        for _ in range(600):  # bounded: 60 s
            state = next(j for j in http.get("/api/v1/jobs").json() if j["id"] == job.json()["id"])
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
    assert state["state"] == "done", state


def test_a_removed_token_stops_working(service: Running, tokens: dict[str, str]) -> None:
    secret = service.add_token("short-lived", "DE")
    with service.client(secret) as http:
        for _ in range(50):  # the file is looked at again at most once a second
            if http.get("/api/v1/scans").status_code == 200:
                break
            time.sleep(0.1)
        assert http.get("/api/v1/scans").status_code == 200
        tf.remove(service.tokens, "short-lived")
        for _ in range(50):  # the file is looked at again at most once a second
            if http.get("/api/v1/scans").status_code == 401:
                break
            time.sleep(0.1)
        assert http.get("/api/v1/scans").status_code == 401


def test_token_commands(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    db = tmp_path / "c.duckdb"
    main(["token", "add", "cert-de", "--scope", "AS3320", "--scope", "192.0.2.0/24",
          "--scope", "de", "--db", str(db)])  # fmt: skip
    out, _ = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("mxc_") and "AS3320, 192.0.2.0/24" not in out
    path = tf.default_path(db)
    assert secret not in path.read_text() and tf.digest(secret) in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (token,) = tf.read(path)
    assert token.scope == ("192.0.2.0/24", "AS3320", "DE") and not token.admin
    for bad in (["token", "add", "x", "--scope", "nonsense"], ["token", "add", "cert-de"],
                ["token", "remove", "nobody"], ["token", "add", "bad name"]):  # fmt: skip
        with pytest.raises(SystemExit) as done:
            main([*bad, "--db", str(db)])
        assert done.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    main(["token", "list", "--db", str(db)])
    assert "cert-de\t192.0.2.0/24, AS3320, DE" in capsys.readouterr().out
    main(["token", "remove", "cert-de", "--db", str(db)])
    assert tf.read(path) == []


def test_every_api_route_is_walked(service: Running) -> None:
    """The walk above covers every GET route there is (a new route joins it by itself)."""
    walked = {p for _, p in paths(service.app)}
    for route in routes(service.app):
        if isinstance(route, APIRoute) and "GET" in route.methods:
            stem = route.path.split("{")[0]
            assert any(p.startswith(stem) for p in walked), route.path
    assert isinstance(httpx.Client, type)
