"""Simulated Microsoft Exchange servers and how much of their build each one shows.

A real Exchange server gives its build away in one of these ways, from most to least precise:
the ECP export-tool manifest (``version="15.1.2375.7"``) or the ``X-OWA-Version`` header
(full build, ``build4``); the OWA resource path in the logon page (``/owa/auth/15.1.2375/…``,
the CU only, ``build3``; Exchange 2007/2010 put the full build there); or nothing but its
SMTP banner (``product``). Each simulated host has one ``exposure`` and the truth says what
a correct identifier can know from it.
"""

from __future__ import annotations

import csv
import random
from functools import cache
from importlib import resources
from typing import Any

from mxcensus.lab.mailstacks import http_date, https_redirect
from mxcensus.lab.model import Handler, Host, HttpResponse, HttpSite, Service, SmtpDialect

LINE_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("Exchange Server 2007", 1),
    ("Exchange Server 2010", 3),
    ("Exchange Server 2013", 4),
    ("Exchange Server 2016", 7),
    ("Exchange Server 2019", 7),
    ("Exchange Server SE", 2),
)

IIS_VERSION = {
    "Exchange Server 2007": "7.0",
    "Exchange Server 2010": "7.5",
    "Exchange Server 2013": "8.5",
    "Exchange Server 2016": "10.0",
    "Exchange Server 2019": "10.0",
    "Exchange Server SE": "10.0",
}

ECP_MANIFEST_PATH = "/ecp/current/exporttool/microsoft.exchange.ediscovery.exporttool.application"


@cache
def builds() -> tuple[dict[str, str], ...]:
    """The Exchange builds the lab draws from (product, release_name, build_short, …)."""
    text = resources.files("mxcensus.lab").joinpath("data/exchange_builds.csv").read_text()
    return tuple(csv.DictReader(text.splitlines()))


def exchange_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=f"{name} Hello [{{ip}}]",
        extensions=(
            "SIZE 37748736",
            "PIPELINING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "X-ANONYMOUSTLS",
            "AUTH NTLM",
            "X-EXPS GSSAPI NTLM",
            "8BITMIME",
            "BINARYMIME",
            "CHUNKING",
            "XRDST",
        ),
        helo=f"250 {name} Hello [{{ip}}]",
        starttls_reply="220 2.0.0 SMTP server ready",
        quit_reply="221 2.0.0 Service closing transmission channel",
        not_accepted="530 5.7.1 Client was not authenticated",
        unknown="500 5.3.3 Unrecognized command",
    )


def iis_smtp_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=f"{name} Hello [{{ip}}]",
        extensions=(
            "TURN",
            "SIZE 2097152",
            "ETRN",
            "PIPELINING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "8bitmime",
            "BINARYMIME",
            "CHUNKING",
            "VRFY",
            "STARTTLS",
            "OK",
        ),
        helo=f"250 {name} Hello [{{ip}}]",
        starttls_reply="220 2.0.0 SMTP server ready",
        quit_reply=f"221 2.0.0 {name} Service closing transmission channel",
        not_accepted="503 5.5.2 Need mail command",
        unknown="500 5.3.3 Unrecognized command",
    )


def _exposures(line: str) -> tuple[tuple[str, int], ...]:
    if line == "Exchange Server 2007":
        return (("smtp-only", 1), ("owa-path", 1))
    if line == "Exchange Server 2010":
        return (("smtp-only", 1), ("owa-path", 2), ("x-owa-version", 1))
    return (("smtp-only", 2), ("owa-path", 3), ("x-owa-version", 3), ("ecp-manifest", 3))


def _pick(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([n for n, _ in weights], weights=[w for _, w in weights], k=1)[0]


def exchange_host(
    rng: random.Random, index: int, address: str, when: str, name: str, patched: bool = False
) -> Host:
    """``patched``: the newest build of the line the host would run (its last SU)."""
    line = _pick(rng, LINE_WEIGHTS)
    row = rng.choice([r for r in builds() if r["product"] == line])
    if patched:
        row = max(
            (r for r in builds() if r["product"] == line),
            key=lambda r: tuple(int(p) for p in r["build_short"].split(".")),
        )
    build = row["build_short"]
    exposure = _pick(rng, _exposures(line))
    modern = line not in ("Exchange Server 2007", "Exchange Server 2010")

    visible, precision, evidence = _shown(exposure, build, modern)
    services = _smtp_services(rng, name, when)
    if exposure != "smtp-only":
        services += _web_services(
            rng, name, line, build, exposure, when, visible, precision, evidence
        )
    return Host(
        index,
        address,
        name,
        "exchange",
        "ms-exchange",
        "microsoft",
        build,
        visible,
        precision,
        product_line=line,
        release=row["release_name"],
        exposure=exposure,
        services=tuple(services),
    )


def _shown(exposure: str, build: str, modern: bool) -> tuple[str, str, tuple[str, ...]]:
    """What of ``build`` an exposure shows: (version, precision, evidence)."""
    if exposure == "smtp-only":
        return "", "product", ()
    if exposure == "owa-path":
        if modern:  # 2013+ OWA paths carry three parts of the build
            return ".".join(build.split(".")[:3]), "build3", ("http.owa-path",)
        return build, "build4", ("http.owa-path",)
    if exposure == "x-owa-version":
        return build, "build4", ("http.header.x-owa-version", "http.owa-path")
    return build, "build4", ("ecp.manifest", "http.owa-path")


def _smtp_services(rng: random.Random, name: str, when: str) -> list[Service]:
    """Port 25 always, 587 for half the hosts: the same greeting and dialect on both."""
    smtp_ident: dict[str, Any] = {
        "product": "ms-exchange",
        "vendor": "microsoft",
        "precision": "product",
        "evidence": ("smtp.banner",),
    }
    greeting = f"220 {name} Microsoft ESMTP MAIL Service ready at {when}\r\n".encode()
    dialect = exchange_dialect(name)
    ports = (25, 587) if rng.random() < 0.5 else (25,)
    return [
        Service(
            port,
            "smtp" if port == 25 else "submission",
            Handler.SMTP,
            starttls=True,
            greeting=greeting,
            smtp=dialect,
            **smtp_ident,
        )
        for port in ports
    ]


def _web_services(
    rng: random.Random,
    name: str,
    line: str,
    build: str,
    exposure: str,
    when: str,
    visible: str,
    precision: str,
    evidence: tuple[str, ...],
) -> list[Service]:
    """OWA on 443 showing what the exposure shows; for half the hosts IIS's redirect on 80."""
    web = [
        Service(
            443,
            "https",
            Handler.HTTP,
            implicit_tls=True,
            http=owa_site(name, line, build, exposure, when),
            product="ms-exchange",
            vendor="microsoft",
            version=visible,
            precision=precision,
            evidence=evidence,
        )
    ]
    if rng.random() < 0.5:
        redirect = https_redirect(name, f"Microsoft-IIS/{IIS_VERSION[line]}", http_date(when))
        web.append(
            Service(
                80,
                "http",
                Handler.HTTP,
                http=redirect,
                note="IIS redirects to https; no product evidence",
            )
        )
    return web


def owa_site(name: str, line: str, build: str, exposure: str, when: str) -> HttpSite:
    """The HTTPS responses of one Exchange server's OWA/ECP/EWS virtual directories."""
    modern = line not in ("Exchange Server 2007", "Exchange Server 2010")
    build3 = ".".join(build.split(".")[:3])
    server = (
        ("Server", f"Microsoft-IIS/{IIS_VERSION[line]}"),
        ("request-id", "2f5b8c1e-7a43-4c61-9a0e-5d1c3b9e0a11"),
        ("X-Powered-By", "ASP.NET"),
        ("X-FEServer", name.split(".")[0].upper()),
        ("Date", http_date(when)),
    )
    owa_hdr = (("X-OWA-Version", build),) if exposure in ("x-owa-version",) else ()
    if modern:
        resources_path = f"/owa/auth/{build3}/themes/resources"
        script = f"/owa/auth/{build3}/scripts/premium/flogon.js"
        title = "Outlook" if line != "Exchange Server 2013" else "Outlook Web App"
    else:
        resources_path = f"/owa/{build}/themes/base"
        script = f"/owa/{build}/scripts/premium/flogon.js"
        title = "Outlook Web App" if line == "Exchange Server 2010" else "Microsoft Exchange"
    logon_url = f"https://{name}/owa/auth/logon.aspx?url=https%3a%2f%2f{name}%2fowa%2f&reason=0"
    page = _logon_page(name, title, resources_path, script)
    html = ("Content-Type", "text/html; charset=utf-8")
    redirect = HttpResponse(
        302,
        (*server, *owa_hdr, ("Location", logon_url), ("Cache-Control", "no-cache"), html),
        b"<html><head><title>Object moved</title></head><body><h2>Object moved to "
        b'<a href="/owa/auth/logon.aspx">here</a>.</h2></body></html>\n',
    )
    logon = HttpResponse(
        200, (*server, *owa_hdr, ("Cache-Control", "no-cache, no-store"), html), page
    )
    not_found = HttpResponse(
        404,
        (*server, html),
        b"<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head>"
        b"<body><h2>404 - File or directory not found.</h2></body></html>\n",
    )
    ews = HttpResponse(
        401,
        (*server, ("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM"), html),
        b"",
    )
    routes: list[tuple[str, HttpResponse]] = [
        ("/", HttpResponse(302, (*server, ("Location", f"https://{name}/owa/"), html), b"")),
        ("/owa", redirect),
        ("/owa/", redirect),
        ("/owa/auth/logon.aspx", logon),
        ("/ews/exchange.asmx", ews),
    ]
    if exposure == "ecp-manifest":
        manifest = _ecp_manifest(build)
        routes.append(
            (
                ECP_MANIFEST_PATH,
                HttpResponse(
                    200, (*server, ("Content-Type", "application/x-ms-application")), manifest
                ),
            )
        )
    return HttpSite(routes=tuple(routes), fallback=not_found)


def _logon_page(name: str, title: str, resources_path: str, script: str) -> bytes:
    """OWA's forms-based logon page, as the versions the lab serves shape it."""
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n'
        "<!-- Copyright (c) Microsoft Corporation.  All rights reserved. -->\n"
        f"<html><head><title>{title}</title>\n"
        '<meta http-equiv="X-UA-Compatible" content="IE=10">\n'
        f'<link rel="shortcut icon" href="{resources_path}/favicon.ico" type="image/x-icon">\n'
        f'<link type="text/css" rel="stylesheet" href="{resources_path}/logon.css">\n'
        f'<script type="text/javascript" src="{script}"></script>\n'
        '</head><body class="signInBg">\n'
        '<form action="/owa/auth.owa" method="POST" name="logonForm" '
        'ENCTYPE="application/x-www-form-urlencoded" autocomplete="off">\n'
        '<input type="hidden" name="destination" value="https://' + name + '/owa/">\n'
        '<input type="hidden" name="flags" value="4">\n'
        f'<img src="{resources_path}/owa_text_blue.png" alt="{title}">\n'
        "</form></body></html>\n"
    ).encode()


def _ecp_manifest(build: str) -> bytes:
    """The eDiscovery export tool's ClickOnce manifest under /ecp/, which names the build."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<asmv1:assembly xsi:schemaLocation="urn:schemas-microsoft-com:asm.v1 '
        'assembly.adaptive.xsd" manifestVersion="1.0" '
        'xmlns:asmv1="urn:schemas-microsoft-com:asm.v1" '
        'xmlns="urn:schemas-microsoft-com:asm.v2" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '  <assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.application" '
        f'version="{build}" publicKeyToken="b1d1a6c45aa418ce" language="neutral" '
        'processorArchitecture="msil" xmlns="urn:schemas-microsoft-com:asm.v1" />\n'
        '  <description asmv2:publisher="Microsoft Corporation" '
        'xmlns:asmv2="urn:schemas-microsoft-com:asm.v2">Microsoft Exchange eDiscovery '
        "Export Tool</description>\n"
        "</asmv1:assembly>\n"
    ).encode()
