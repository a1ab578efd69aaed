"""Banner forms and reply texts of the non-Microsoft mail stacks the lab imitates.

Forms follow public fingerprint data (nmap-service-probes, rapid7 recog banner examples);
the wording here is ours.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from mxcensus.lab.model import (
    Handler,
    Host,
    HttpResponse,
    HttpSite,
    LineTexts,
    Service,
    SmtpDialect,
)

# (version, packaging): which Exim versions the population draws, with the distribution that
# shipped them when there is one (Ubuntu puts "Ubuntu" in the banner, Debian does not).
EXIM_RELEASES: tuple[tuple[str, str], ...] = (
    ("4.80", ""),
    ("4.82", "ubuntu"),
    ("4.84_2", "debian"),
    ("4.86_2", "ubuntu"),
    ("4.87", ""),
    ("4.89", "debian"),
    ("4.89_1", ""),
    ("4.90_1", "ubuntu"),
    ("4.91", ""),
    ("4.92", "debian"),
    ("4.92.3", ""),
    ("4.93", "ubuntu"),
    ("4.94.2", "debian"),
    ("4.95", "ubuntu"),
    ("4.96", "debian"),
    ("4.96.1", ""),
    ("4.97", "ubuntu"),
    ("4.97.1", ""),
    ("4.98", ""),
    ("4.98.2", ""),
    ("4.99", ""),
)

EXIM_PATCHED: tuple[str, str] = ("4.99.4", "")
"""What a patched Exim host runs at a later lab epoch (kept out of EXIM_RELEASES, whose
order the seeded population of epoch 0 depends on)."""

SENDMAIL_VERSIONS = ("8.13.8", "8.14.4", "8.14.7", "8.15.2", "8.16.1", "8.17.1", "8.18.1")
MDAEMON_VERSIONS = ("19.5.6", "20.0.4", "21.5.2", "22.0.3", "23.0.2", "23.5.2", "24.0.1")

DOVECOT_IMAP_CAPS = ("IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "LITERAL+")
COURIER_IMAP_CAPS = (
    "IMAP4rev1",
    "UIDPLUS",
    "CHILDREN",
    "NAMESPACE",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "SORT",
    "QUOTA",
    "IDLE",
    "ACL",
    "ACL2=UNION",
)
ZIMBRA_IMAP_CAPS = ("IMAP4rev1", "ID", "LITERAL+", "SASL-IR", "ENABLE", "IDLE", "NAMESPACE")
MDAEMON_IMAP_CAPS = ("IMAP4rev1", "IDLE", "NAMESPACE", "UIDPLUS", "CHILDREN", "AUTH=PLAIN")
HMAIL_IMAP_CAPS = ("IMAP4", "IMAP4rev1", "CHILDREN", "IDLE", "QUOTA", "SORT", "ACL", "NAMESPACE")
DOVECOT_POP3_CAPA = (
    "CAPA",
    "TOP",
    "UIDL",
    "RESP-CODES",
    "PIPELINING",
    "AUTH-RESP-CODE",
    "USER",
    "SASL PLAIN",
)
POP3_CAPA_BASIC = ("TOP", "UIDL", "USER")

DOVECOT_TEXTS = LineTexts(
    capability_ok="OK Pre-login capabilities listed, post-login capabilities have more.",
    id_reply='* ID ("name" "Dovecot")',
    logout="* BYE Logging out\r\n{tag} OK Logout completed.",
    pop3_quit="+OK Logging out",
)
"""Dovecot's words, as Debian's 2.3.19.1 answers (recorded on loopback)."""


def exim_greeting(
    rng: random.Random, name: str, version: str, packaging: str, when: str
) -> tuple[bytes, str, bool]:
    """(greeting, distro, shows the version)."""
    if packaging == "ubuntu":
        if rng.random() < 0.8:
            return f"220 {name} ESMTP Exim {version} Ubuntu {when}\r\n".encode(), "ubuntu", True
        text = (
            f"220-{name} ESMTP Exim {version} Ubuntu {when}\r\n"
            "220-We do not authorize the use of this system to transport unsolicited,\r\n"
            "220 and/or bulk e-mail.\r\n"
        )
        return text.encode(), "ubuntu", True
    roll = rng.random()
    if roll < 0.55:
        text = f"220 {name} ESMTP Exim {version} {when}\r\n"
    elif roll < 0.70:
        text = f"220 {name} ESMTP Exim {version} #{rng.randint(1, 3)} {when}\r\n"
    elif roll < 0.82:
        text = (
            f"220-{name} ESMTP Exim {version} {when}\r\n"
            "220-We do not authorize the use of this system to transport unsolicited,\r\n"
            "220 and/or bulk e-mail.\r\n"
        )
    elif roll < 0.90:
        text = f"220 {name} ESMTP (Exim {version}) {when}\r\n"
    else:
        return f"220 {name} ESMTP Exim {when}\r\n".encode(), packaging, False
    return text.encode(), packaging, True


def _exim_at_least(version: str, minimum: tuple[int, ...]) -> bool:
    parts = tuple(int(p) for p in version.split("_")[0].split("."))
    return parts >= minimum


EXIM_HELP = (
    "214-Commands supported:\r\n214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP"
)
"""Debian's Exim 4.96, recorded (its list does not change with the version)."""


def exim_dialect(name: str, version: str) -> SmtpDialect:
    # in the order Exim sends them (smtp_in.c; Debian's 4.96 recorded): PRDR after STARTTLS
    ext = ["SIZE 52428800", "8BITMIME", "PIPELINING"]
    if _exim_at_least(version, (4, 94)):
        ext.append("PIPECONNECT")
    if _exim_at_least(version, (4, 88)):
        ext.append("CHUNKING")
    ext.append("STARTTLS")
    if _exim_at_least(version, (4, 83)):
        ext.append("PRDR")
    ext.append("HELP")
    return SmtpDialect(
        ehlo_hello=f"{name} Hello {{arg}} [{{ip}}]",
        extensions=tuple(ext),
        helo=f"250 {name} Hello {{arg}} [{{ip}}]",
        starttls_reply="220 TLS go ahead",
        quit_reply=f"221 {name} closing connection",
        not_accepted="503 sender not yet given",
        unknown="500 unrecognized command",
        help=EXIM_HELP,
    )


def postfix_greeting(rng: random.Random, name: str, plain: bool = False) -> tuple[bytes, str]:
    if plain:
        return f"220 {name} ESMTP Postfix\r\n".encode(), ""
    roll = rng.random()
    if roll < 0.5:
        return f"220 {name} ESMTP Postfix\r\n".encode(), ""
    if roll < 0.75:
        return f"220 {name} ESMTP Postfix (Debian/GNU)\r\n".encode(), "debian"
    return f"220 {name} ESMTP Postfix (Ubuntu)\r\n".encode(), "ubuntu"


def postfix_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=name,
        extensions=(
            "PIPELINING",
            "SIZE 10240000",
            "VRFY",
            "ETRN",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
        ),
        helo=f"250 {name}",
        starttls_reply="220 2.0.0 Ready to start TLS",
        quit_reply="221 2.0.0 Bye",
        not_accepted="503 5.5.1 Error: need MAIL command",
        unknown="502 5.5.2 Error: command not recognized",
    )


def sendmail_help(version: str) -> str:
    """Sendmail's HELP: its helpfile opens with the version (sendmail/helpfile)."""
    return (
        f"214-2.0.0 This is sendmail version {version}\r\n214-2.0.0 Topics:\r\n"
        "214-2.0.0 \tHELO\tEHLO\tMAIL\tRCPT\tDATA\r\n214-2.0.0 \tRSET\tNOOP\tQUIT\tHELP\tVRFY\r\n"
        "214-2.0.0 \tEXPN\tVERB\tETRN\tDSN\tAUTH\r\n214-2.0.0 \tSTARTTLS\r\n"
        "214 2.0.0 End of HELP info"
    )


def sendmail_dialect(name: str, version: str = "") -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=f"{name} Hello {{arg}} [{{ip}}], pleased to meet you",
        extensions=(
            "ENHANCEDSTATUSCODES",
            "PIPELINING",
            "8BITMIME",
            "SIZE",
            "DSN",
            "ETRN",
            "STARTTLS",
            "DELIVERBY",
            "HELP",
        ),
        helo=f"250 {name} Hello {{arg}} [{{ip}}], pleased to meet you",
        starttls_reply="220 2.0.0 Ready to start TLS",
        quit_reply=f"221 2.0.0 {name} closing connection",
        unknown="500 5.5.1 Command unrecognized",
        help=sendmail_help(version) if version else "",
    )


def opensmtpd_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=f"{name} Hello {{arg}} [{{ip}}], pleased to meet you",
        extensions=("8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 36700160", "DSN", "STARTTLS", "HELP"),
        helo=f"250 {name} Hello {{arg}} [{{ip}}], pleased to meet you",
        starttls_reply="220 2.0.0 Ready to start TLS",
        quit_reply="221 2.0.0 Bye",
        unknown="500 5.5.1 Invalid command: Command unrecognized",
        help=(  # smtp_session.c
            "214-2.0.0 This is OpenSMTPD\r\n214-2.0.0 To report bugs in the implementation,"
            " please contact bugs@openbsd.org\r\n214-2.0.0 with full details\r\n"
            "214 2.0.0 End of HELP info"
        ),
    )


def mdaemon_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=f"{name} Hello {{arg}}, pleased to meet you",
        extensions=(
            "ETRN",
            "AUTH LOGIN CRAM-MD5 PLAIN",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "SIZE",
        ),
        helo=f"250 {name} Hello {{arg}}, pleased to meet you",
        starttls_reply="220 Ready to start TLS",
        quit_reply="221 See ya in cyberspace",
        help="214 Help system currently inactive.",  # recog smtp_help.xml
    )


def hmailserver_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=name,
        extensions=("SIZE 20480000", "AUTH LOGIN", "STARTTLS", "HELP"),
        helo="250 Hello.",
        starttls_reply="220 Ready to start TLS",
        quit_reply="221 goodbye",
        help="211 DATA HELO EHLO MAIL NOOP QUIT RCPT RSET SAML TURN VRFY",  # nmap Help probe
    )


def generic_dialect(name: str) -> SmtpDialect:
    return SmtpDialect(
        ehlo_hello=name,
        extensions=("PIPELINING", "SIZE 10240000", "8BITMIME", "STARTTLS"),
        helo=f"250 {name}",
        starttls_reply="220 Ready to start TLS",
        quit_reply="221 Bye",
    )


def dovecot_services(rng: random.Random, distro: str, all_ports: bool = False) -> list[Service]:
    label = {"debian": "Dovecot (Debian) ready.", "ubuntu": "Dovecot (Ubuntu) ready."}.get(
        distro, "Dovecot ready."
    )
    caps = (*DOVECOT_IMAP_CAPS, "AUTH=PLAIN")
    plain_caps = " ".join((*DOVECOT_IMAP_CAPS, "STARTTLS", "LOGINDISABLED"))
    tls_caps = " ".join(caps)
    ident: dict[str, Any] = {
        "product": "dovecot",
        "vendor": "dovecot",
        "precision": "product",
        "texts": DOVECOT_TEXTS,
    }
    out: list[Service] = []
    if all_ports or rng.random() < 0.8:
        out.append(
            Service(
                143,
                "imap",
                Handler.IMAP,
                starttls=True,
                greeting=f"* OK [CAPABILITY {plain_caps}] {label}\r\n".encode(),
                capabilities=caps,
                **ident,
            )
        )
        out.append(
            Service(
                993,
                "imaps",
                Handler.IMAP,
                implicit_tls=True,
                greeting=f"* OK [CAPABILITY {tls_caps}] {label}\r\n".encode(),
                capabilities=caps,
                **ident,
            )
        )
    if all_ports or rng.random() < 0.5:
        out.append(
            Service(
                110,
                "pop3",
                Handler.POP3,
                starttls=True,
                greeting=f"+OK {label}\r\n".encode(),
                capabilities=DOVECOT_POP3_CAPA,
                **ident,
            )
        )
        out.append(
            Service(
                995,
                "pop3s",
                Handler.POP3,
                implicit_tls=True,
                greeting=f"+OK {label}\r\n".encode(),
                capabilities=DOVECOT_POP3_CAPA,
                **ident,
            )
        )
    return out


PIGEONHOLE_SIEVE = (
    "fileinto reject envelope encoded-character vacation subaddress comparator-i;ascii-numeric "
    "relational regex imap4flags copy include variables body enotify environment mailbox date "
    "index ihave duplicate mime foreverypart extracttext"
)
"""The Sieve extensions Debian 12's Pigeonhole lists."""


def dovecot_distro(greeting: bytes) -> str | None:
    """The distribution a Dovecot greeting names ("" for none), None when it is not Dovecot's."""
    for distro in ("debian", "ubuntu"):
        if f"Dovecot ({distro.title()})".encode() in greeting:
            return distro
    return "" if b"Dovecot ready." in greeting else None


def managesieve_service(distro: str) -> Service:
    """Dovecot's Pigeonhole ManageSieve on 4190, STARTTLS offered, as Debian's answers."""
    name = {"debian": "Dovecot (Debian)", "ubuntu": "Dovecot (Ubuntu)"}.get(distro, "Dovecot")
    caps = (
        f'"IMPLEMENTATION" "{name} Pigeonhole"',
        f'"SIEVE" "{PIGEONHOLE_SIEVE}"',
        '"NOTIFY" "mailto"',
        '"SASL" ""',
        '"VERSION" "1.0"',
    )
    shown = (*caps[:-1], '"STARTTLS"', caps[-1])
    greeting = "".join(c + "\r\n" for c in shown) + f'OK "{name} ready."\r\n'
    return Service(
        4190,
        "managesieve",
        Handler.MANAGESIEVE,
        starttls=True,
        greeting=greeting.encode(),
        capabilities=caps,
        product="dovecot",
        vendor="dovecot",
        precision="product",
        evidence=("managesieve.banner",),
        note="Pigeonhole names Dovecot, not its version",
    )


def http_date(when: str) -> str:
    return when.replace("+0000", "GMT")


def zimbra_site(name: str, when: str) -> HttpSite:
    date = http_date(when)
    page = (
        b'<!DOCTYPE html>\n<html class="user_font_size_normal" lang="en">\n<head>\n'
        b"<title>Zimbra Web Client Sign In</title>\n"
        b'<meta name="description" content="Zimbra provides open source server and client '
        b'software for messaging and collaboration.">\n'
        b'<link rel="stylesheet" type="text/css" '
        b'href="/css/common,login,zhtml,skin.css?skin=harmony&v=201711210851">\n'
        b'</head>\n<body onload="onLoad();">\n'
        b'<form method="post" name="loginForm" action="/" accept-charset="UTF-8">\n'
        b'<input type="hidden" name="loginOp" value="login"/>\n'
        b'<input type="hidden" name="login_csrf" value="lab"/>\n'
        b'</form>\n<div class="Footer">Zimbra :: the leader in open source messaging and '
        b"collaboration</div>\n</body>\n</html>\n"
    )
    base: tuple[tuple[str, str], ...] = (("Server", "nginx"), ("Date", date))
    login = HttpResponse(
        200,
        (
            *base,
            ("Content-Type", "text/html;charset=utf-8"),
            ("Set-Cookie", "ZM_TEST=true;Secure"),
            ("Set-Cookie", "ZM_LOGIN_CSRF=lab;Secure;HttpOnly"),
            ("X-Frame-Options", "SAMEORIGIN"),
        ),
        page,
    )
    not_found = HttpResponse(
        404, (*base, ("Content-Type", "text/html")), b"<html><body>404 Not Found</body></html>\n"
    )
    return HttpSite(routes=(("/", login), ("/zimbra/", login)), fallback=not_found)


def https_redirect(name: str, server: str = "nginx", date: str = "") -> HttpSite:
    headers: list[tuple[str, str]] = [("Server", server)]
    if date:
        headers.append(("Date", date))
    headers += [("Location", f"https://{name}/"), ("Content-Type", "text/html")]
    move = HttpResponse(
        301, tuple(headers), b"<html><head><title>301 Moved Permanently</title></head></html>\n"
    )
    return HttpSite(routes=(), fallback=move)


CUSTOM = "Mail Service ready"
"""The greeting an administrator put in place of the product's (research recordings of
Debian's Exim, Postfix and Dovecot with ``smtp_banner`` / ``smtpd_banner`` /
``login_greeting`` set to it)."""

_FROM_DIALOGUE: dict[tuple[str, str], str] = {
    ("smtp", "exim"): "product",  # EHLO shape, HELP, QUIT
    ("smtp", "postfix"): "product",  # EHLO shape, HELP (its unknown-command reply)
    ("smtp", "opensmtpd"): "product",  # EHLO shape, HELP
    ("smtp", "sendmail"): "version",  # HELP names the version
    ("smtp", "ms-exchange"): "product",  # EHLO keywords and shape, QUIT
    ("smtp", "ms-iis-smtp"): "product",  # EHLO shape (the Windows SMTP service's list)
    ("smtp", "mdaemon"): "product",  # HELP, QUIT
    ("smtp", "hmailserver"): "product",  # HELP
    ("imap", "dovecot"): "product",  # CAPABILITY reply, ID, LOGOUT
    ("imap", "courier"): "product",  # CAPABILITY list
    ("pop3", "dovecot"): "product",  # CAPA (AUTH-RESP-CODE)
}
"""What the rest of the dialogue still tells of a service whose greeting names nothing
(the precision; a service absent here is unknown once its greeting is hidden)."""


def _family(protocol: str) -> str:
    return {"submission": "smtp", "smtps": "smtp", "imaps": "imap", "pop3s": "pop3"}.get(
        protocol, protocol
    )


def _hide(svc: Service, name: str) -> Service:
    family = _family(svc.protocol)
    if family not in ("smtp", "imap", "pop3") or not svc.greeting:
        return svc
    if family == "smtp":
        greeting = f"220 {name} ESMTP {CUSTOM}\r\n"
    elif family == "imap":
        keep = svc.greeting.startswith(b"* OK [CAPABILITY") and svc.product == "dovecot"
        code = svc.greeting.split(b"] ", 1)[0].decode("latin-1") + "] " if keep else ""
        greeting = f"* OK {code}{CUSTOM}.\r\n"
    else:
        greeting = f"+OK {CUSTOM}.\r\n"
    known = _FROM_DIALOGUE.get((family, svc.product))
    if known is None:
        return replace(
            svc, greeting=greeting.encode(), hidden=True, product="unknown", vendor="",
            version="", precision="none", evidence=(),
        )  # fmt: skip
    return replace(
        svc,
        greeting=greeting.encode(),
        hidden=True,
        version=svc.version if known == "version" else "",
        precision=known,
        evidence=(f"{family}.dialogue",),
        note="the greeting was customised: the rest of the dialogue names the product",
    )


def hidden_variant(host: Host) -> Host:
    """The same host with customised greetings (SMTP, IMAP, POP3): what an identifier can
    still know of each service is what the rest of its dialogue shows; the host's visible
    version is what its other services (OWA, HELP) still show."""
    services = tuple(_hide(s, host.hostname) for s in host.services)
    shown = [
        s for s in services if s.product == host.product and s.version and s.precision != "none"
    ]
    if host.kind == "exchange" or shown:
        visible, precision = host.visible_version, host.precision
    else:
        visible = ""
        precision = "product" if any(s.product == host.product for s in services) else "none"
    return replace(
        host,
        visible_version=visible,
        precision=precision,
        services=services,
    )
