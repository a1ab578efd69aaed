"""The simulated population, generated from a seed.

Host *i* depends only on ``(seed, i)`` (its own ``random.Random``), so a population of 200
hosts is the first 200 hosts of a population of 2,000, and each worker process can build its
share without the others. Banner forms follow public fingerprint data (nmap's
nmap-service-probes, rapid7 recog's smtp/imap/pop banner files); Exchange builds are rows of
``data/exchange_builds.csv``, copied from the project's reference table
(shared/reference/exchange-builds.csv, Microsoft's build-number page as of 2026-08-20),
chosen below, at and above the ProxyLogon (Mar21SU), ProxyShell (Apr/May21SU) and
ProxyNotShell (Nov22SU) fixes.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.lab import exchange, mailstacks
from mxcensus.lab.model import HOSTILE_KINDS, Handler, Host, Service
from mxcensus.probes import PORTS
from mxcensus.vocabulary import PRODUCTS

DEFAULT_BASE = "127.64.0.0"
MAX_EPOCH = 1000
ALL_PORTS: tuple[int, ...] = tuple(PORTS)
"""The ports the lab can serve: every well-known port of the probes' protocol table."""

# weights of the kinds of well-behaved hosts
KIND_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("exim", 30),
    ("postfix", 17),
    ("exchange", 22),
    ("sendmail", 5),
    ("opensmtpd", 3),
    ("iis-smtp", 3),
    ("mdaemon", 3),
    ("hmailserver", 3),
    ("zimbra", 4),
    ("courier", 4),
    ("dovecot", 6),
)


@dataclass(frozen=True, slots=True)
class LabConfig:
    size: int = 200
    seed: int = 1
    base: str = DEFAULT_BASE
    hostile_fraction: float = 0.05
    ports: tuple[int, ...] = ALL_PORTS  # ports the lab serves; others are dropped
    tarpit_interval: float = 2.0  # seconds between bytes of a tarpit greeting
    slow_delay: float = 0.5  # seconds between lines of a slow multi-line reply
    giant_size: int = 10 * 1024 * 1024
    greet_pause: float = 5.0  # seconds an Exim with a greet pause waits before its banner
    epoch: int = 0  # the population later on: some hosts patched, some new, some gone
    hidden_fraction: float = 0.0  # well-behaved hosts whose greetings name no product

    def check(self) -> None:
        if self.size < 1:
            raise UsageError(f"lab --size: must be at least 1, got {self.size}")
        if not 0 <= self.epoch <= MAX_EPOCH:
            raise UsageError(f"lab --epoch: must be between 0 and {MAX_EPOCH}, got {self.epoch}")
        if not 0.0 <= self.hidden_fraction <= 1.0:
            raise UsageError(
                f"lab --hidden-fraction: must be between 0 and 1, got {self.hidden_fraction}"
            )
        if not 0.0 <= self.hostile_fraction <= 1.0:
            raise UsageError(
                f"lab --hostile-fraction: must be between 0 and 1, got {self.hostile_fraction}"
            )
        bad = [p for p in self.ports if p not in ALL_PORTS]
        if bad or not self.ports:
            raise UsageError(
                f"lab --ports: {bad or 'none'} not served; choose from "
                + ",".join(map(str, ALL_PORTS))
            )
        addresses(self.base, span(self))  # validates base and range


def parse_ports(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) not in ALL_PORTS:
            raise UsageError(
                f"lab --ports: {part!r} is not a lab port; choose from "
                + ",".join(map(str, ALL_PORTS))
            )
        out.append(int(part))
    if not out:
        raise UsageError("lab --ports: no port given")
    return tuple(dict.fromkeys(out))


def free_base(size: int, ports: Iterable[int] = ALL_PORTS) -> str:
    """A base in 127.128.0.0–127.254.0.0 whose first addresses are free on ``ports``.

    For ``--base auto``: several labs (parallel tests, several engineers) on one machine
    must not collide. The check binds and releases a few sockets, so it is a good guess,
    not a reservation.
    """
    chooser = random.SystemRandom()
    for _ in range(20):
        base = f"127.{chooser.randrange(128, 255)}.0.0"
        probe = addresses(base, min(size, 3))
        if all(_bindable(a, p) for a in probe for p in ports):
            return base
    raise UsageError("lab --base auto: found no free range in 127.128.0.0/9; give --base")


def _bindable(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def addresses(base: str, size: int) -> list[str]:
    """The addresses of hosts 0..size-1: after ``base``, skipping x.x.x.0 and x.x.x.255."""
    try:
        start = ipaddress.IPv4Address(base)
    except ValueError as exc:
        raise UsageError(f"lab --base: {base!r} is not an IPv4 address") from exc
    loop = ipaddress.IPv4Network("127.0.0.0/8")
    if start not in loop:
        raise UsageError(f"lab --base: {base} is not in 127.0.0.0/8; the lab serves loopback only")
    out: list[str] = []
    n = int(start) + 1
    end = int(loop.broadcast_address)
    while len(out) < size:
        if n >= end:
            raise UsageError(f"lab --size: {size} hosts after {base} do not fit in 127.0.0.0/8")
        if n & 0xFF not in (0, 255):
            out.append(str(ipaddress.IPv4Address(n)))
        n += 1
    return out


def generate(config: LabConfig) -> list[Host]:
    """The whole population at ``config.epoch``, deterministic in ``config``."""
    config.check()
    return [make_host(config, i, address, patched) for i, address, patched in members(config)]


def members(config: LabConfig) -> list[tuple[int, str, bool]]:
    """(index, address, patched) of the hosts present at ``config.epoch``
    (:mod:`mxcensus.lab.epochs`); at epoch 0 every host 0..size-1, unpatched."""
    from mxcensus.lab.epochs import present

    alive = present(config.seed, config.size, config.epoch)
    where = addresses(config.base, span(config))
    return [(i, where[i], patched) for i, patched in alive]


def span(config: LabConfig) -> int:
    """How many addresses the population may use up to its epoch (new hosts come after)."""
    from mxcensus.lab.epochs import appeared_per_epoch

    return config.size + config.epoch * appeared_per_epoch(config.size)


def host_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"mxcensus-lab:{seed}:{index}")


def make_host(config: LabConfig, index: int, address: str, patched: bool = False) -> Host:
    """Host ``index``; ``patched``: the same host after its owner installed the newest
    release (Exim, Exchange: every random draw stays the same, only the version moves)."""
    rng = host_rng(config.seed, index)
    hostile = rng.random() < config.hostile_fraction
    when = _banner_date(rng)
    if hostile:
        host = _hostile_host(config, rng, index, address, when)
    else:
        kind = _weighted(rng, KIND_WEIGHTS)
        build = _PATCHED.get(kind, _BUILDERS[kind]) if patched else _BUILDERS[kind]
        host = build(rng, index, address, when)
        host = _with_managesieve(rng, host)
        host = _with_hidden(config, index, host)
    services = tuple(s for s in host.services if s.port in config.ports)
    return replace(host, services=services)


def _with_managesieve(rng: random.Random, host: Host) -> Host:
    """Most Dovecot installations also run Pigeonhole's ManageSieve (4190). Drawn after
    everything else of the host, so the rest of the population stays as it was."""
    imap = next((s for s in host.services if s.port == 143 and s.product == "dovecot"), None)
    distro = mailstacks.dovecot_distro(imap.greeting) if imap is not None else None
    if distro is None or rng.random() >= 0.6:
        return host
    return replace(host, services=(*host.services, mailstacks.managesieve_service(distro)))


def _with_hidden(config: LabConfig, index: int, host: Host) -> Host:
    """One host in ``1 / hidden_fraction`` has customised greetings
    (:func:`mailstacks.hidden_variant`), drawn from a stream of its own: with the fraction 0
    the population is exactly as without it."""
    if not config.hidden_fraction:
        return host
    draw = random.Random(f"mxcensus-lab-hidden:{config.seed}:{index}").random()
    return mailstacks.hidden_variant(host) if draw < config.hidden_fraction else host


def _weighted(rng: random.Random, weights: Sequence[tuple[str, int]]) -> str:
    names = [n for n, _ in weights]
    return rng.choices(names, weights=[w for _, w in weights], k=1)[0]


def _banner_date(rng: random.Random) -> str:
    """A fixed banner date per host, so the truth names the exact banner."""
    start = datetime(2024, 8, 13, 10, 0, 0, tzinfo=UTC)
    moment = start + timedelta(seconds=rng.randrange(0, 2 * 365 * 86400))
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _hostname(rng: random.Random, index: int, roles: Iterable[str] = ("mx", "mail", "smtp")) -> str:
    role = rng.choice(list(roles))
    domain = rng.choice(("example.org", "example.net", "example.com"))
    return f"{role}{index}.{domain}"


def _vendor(product: str) -> str:
    return PRODUCTS[product].vendor


# -- well-behaved hosts -----------------------------------------------------------------


def _exim(rng: random.Random, index: int, address: str, when: str, patched: bool = False) -> Host:
    name = _hostname(rng, index)
    release = rng.choice(mailstacks.EXIM_RELEASES)
    if patched:
        release = mailstacks.EXIM_PATCHED
    version, style = release
    greeting, distro, shows_version = mailstacks.exim_greeting(rng, name, version, style, when)
    shown = version if shows_version else ""
    precision = "version" if shows_version else "product"
    common: dict[str, Any] = {
        "product": "exim",
        "vendor": "exim",
        "version": shown,
        "precision": precision,
        "evidence": ("smtp.banner",) if shows_version else (),
    }
    dialect = mailstacks.exim_dialect(name, version)
    services = [
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.7,
            greeting=greeting,
            smtp=dialect,
            **common,
        ),
    ]
    if rng.random() < 0.6:
        services.append(
            Service(
                587,
                "submission",
                Handler.SMTP,
                starttls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    if rng.random() < 0.4:
        services.append(
            Service(
                465,
                "smtps",
                Handler.SMTP,
                implicit_tls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    if rng.random() < 0.5:
        services.extend(mailstacks.dovecot_services(rng, distro))
    return Host(
        index,
        address,
        name,
        "exim",
        "exim",
        "exim",
        version,
        shown,
        precision,
        product_line=f"Exim {version.split('_')[0][:4]}",
        distro=distro,
        services=tuple(services),
    )


def _postfix(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index)
    greeting, distro = mailstacks.postfix_greeting(rng, name)
    dialect = mailstacks.postfix_dialect(name)
    common: dict[str, Any] = {"product": "postfix", "vendor": "postfix", "precision": "product"}
    services = [
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.8,
            greeting=greeting,
            smtp=dialect,
            **common,
        ),
    ]
    if rng.random() < 0.6:
        services.append(
            Service(
                587,
                "submission",
                Handler.SMTP,
                starttls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    if rng.random() < 0.3:
        services.append(
            Service(
                465,
                "smtps",
                Handler.SMTP,
                implicit_tls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    if rng.random() < 0.6:
        services.extend(mailstacks.dovecot_services(rng, distro))
    return Host(
        index,
        address,
        name,
        "postfix",
        "postfix",
        "postfix",
        "",
        "",
        "product",
        product_line="Postfix",
        distro=distro,
        services=tuple(services),
    )


def _sendmail(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index)
    version = rng.choice(mailstacks.SENDMAIL_VERSIONS)
    greeting = f"220 {name} ESMTP Sendmail {version}/{version}; {when}\r\n".encode()
    dialect = mailstacks.sendmail_dialect(name, version)
    common: dict[str, Any] = {
        "product": "sendmail",
        "vendor": "sendmail",
        "version": version,
        "precision": "version",
        "evidence": ("smtp.banner",),
    }
    services = [
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.5,
            greeting=greeting,
            smtp=dialect,
            **common,
        )
    ]
    if rng.random() < 0.3:
        services.append(
            Service(
                587,
                "submission",
                Handler.SMTP,
                starttls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    return Host(
        index,
        address,
        name,
        "sendmail",
        "sendmail",
        "sendmail",
        version,
        version,
        "version",
        product_line="Sendmail",
        services=tuple(services),
    )


def _opensmtpd(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index)
    greeting = f"220 {name} ESMTP OpenSMTPD\r\n".encode()
    dialect = mailstacks.opensmtpd_dialect(name)
    common: dict[str, Any] = {"product": "opensmtpd", "vendor": "openbsd", "precision": "product"}
    services = [
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.8,
            greeting=greeting,
            smtp=dialect,
            **common,
        )
    ]
    if rng.random() < 0.5:
        services.append(
            Service(
                587,
                "submission",
                Handler.SMTP,
                starttls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    if rng.random() < 0.3:
        services.append(
            Service(
                465,
                "smtps",
                Handler.SMTP,
                implicit_tls=True,
                greeting=greeting,
                smtp=dialect,
                **common,
            )
        )
    return Host(
        index,
        address,
        name,
        "opensmtpd",
        "opensmtpd",
        "openbsd",
        "",
        "",
        "product",
        product_line="OpenSMTPD",
        services=tuple(services),
    )


def _iis_smtp(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index, ("mail", "exchange", "smtp"))
    version = rng.choice(("6.0.3790.3959", "6.0.3790.4675", "6.0.3790.1830"))
    # the double space before the date is what these servers send
    greeting = (
        f"220 {name} Microsoft ESMTP MAIL Service, Version: {version} ready at  {when}\r\n"
    ).encode()
    dialect = exchange.iis_smtp_dialect(name)
    services = (
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.3,
            greeting=greeting,
            smtp=dialect,
            product="ms-iis-smtp",
            vendor="microsoft",
            version=version,
            precision="version",
            evidence=("smtp.banner",),
            note="Windows Server 2003 SMTP service, the MTA of Exchange 2003",
        ),
    )
    return Host(
        index,
        address,
        name,
        "iis-smtp",
        "ms-iis-smtp",
        "microsoft",
        version,
        version,
        "version",
        product_line="IIS SMTP 6.0",
        services=services,
    )


def _mdaemon(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index, ("mail", "mx"))
    version = rng.choice(mailstacks.MDAEMON_VERSIONS)
    common: dict[str, Any] = {
        "product": "mdaemon",
        "vendor": "mdaemon",
        "version": version,
        "precision": "version",
    }
    greeting = f"220 {name} ESMTP MDaemon {version}; {when}\r\n".encode()
    dialect = mailstacks.mdaemon_dialect(name)
    stamp = when.replace(",", "").replace(" ", "").replace(":", "")[:14]
    services = [
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.7,
            greeting=greeting,
            smtp=dialect,
            evidence=("smtp.banner",),
            **common,
        ),
        Service(
            587,
            "submission",
            Handler.SMTP,
            starttls=True,
            greeting=greeting,
            smtp=dialect,
            evidence=("smtp.banner",),
            **common,
        ),
        Service(
            143,
            "imap",
            Handler.IMAP,
            starttls=True,
            greeting=f"* OK {name} IMAP4rev1 MDaemon {version} ready\r\n".encode(),
            capabilities=mailstacks.MDAEMON_IMAP_CAPS,
            evidence=("imap.banner",),
            **common,
        ),
        Service(
            110,
            "pop3",
            Handler.POP3,
            starttls=True,
            greeting=(
                f"+OK {name} POP MDaemon {version} ready <MDAEMON-{stamp}.AA{index:07d}@{name}>\r\n"
            ).encode(),
            capabilities=mailstacks.POP3_CAPA_BASIC,
            evidence=("pop3.banner",),
            **common,
        ),
    ]
    return Host(
        index,
        address,
        name,
        "mdaemon",
        "mdaemon",
        "mdaemon",
        version,
        version,
        "version",
        product_line="MDaemon",
        services=tuple(services),
    )


def _hmailserver(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index, ("mail", "mx"))
    version = rng.choice(("5.6.7-B2425", "5.6.8-B2574", "5.6.9-B2641"))
    dialect = mailstacks.hmailserver_dialect(name)
    services = (
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.5,
            greeting=f"220 {name} ESMTP\r\n".encode(),
            smtp=dialect,
            product="hmailserver",
            vendor="hmailserver",
            precision="product",
            evidence=("smtp.help",),
            note="hMailServer's default SMTP welcome names no product; its HELP does",
        ),
        Service(
            143,
            "imap",
            Handler.IMAP,
            starttls=rng.random() < 0.5,
            greeting=f"* OK IMAPrev1 Service Ready - hMailServer {version}\r\n".encode(),
            capabilities=mailstacks.HMAIL_IMAP_CAPS,
            product="hmailserver",
            vendor="hmailserver",
            version=version,
            precision="version",
            evidence=("imap.banner",),
        ),
        Service(
            110,
            "pop3",
            Handler.POP3,
            greeting=b"+OK POP3\r\n",
            capabilities=mailstacks.POP3_CAPA_BASIC,
            note="hMailServer's default POP3 welcome names no product",
        ),
    )
    return Host(
        index,
        address,
        name,
        "hmailserver",
        "hmailserver",
        "hmailserver",
        version,
        version,
        "version",
        product_line="hMailServer",
        services=services,
    )


def _zimbra(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index, ("mail", "zimbra", "webmail"))
    greeting, _distro = mailstacks.postfix_greeting(rng, name, plain=True)
    dialect = mailstacks.postfix_dialect(name)
    pf: dict[str, Any] = {
        "product": "postfix",
        "vendor": "postfix",
        "precision": "product",
        "note": "Zimbra's MTA is Postfix",
    }
    zm: dict[str, Any] = {"product": "zimbra", "vendor": "synacor", "precision": "product"}
    site = mailstacks.zimbra_site(name, when)
    imap_greeting = f"* OK {name} Zimbra IMAP4rev1 server ready\r\n".encode()
    pop_greeting = f"+OK {name} Zimbra POP3 server ready\r\n".encode()
    services = (
        Service(25, "smtp", Handler.SMTP, starttls=True, greeting=greeting, smtp=dialect, **pf),
        Service(
            587, "submission", Handler.SMTP, starttls=True, greeting=greeting, smtp=dialect, **pf
        ),
        Service(
            143,
            "imap",
            Handler.IMAP,
            starttls=True,
            greeting=imap_greeting,
            capabilities=mailstacks.ZIMBRA_IMAP_CAPS,
            evidence=("imap.banner",),
            **zm,
        ),
        Service(
            993,
            "imaps",
            Handler.IMAP,
            implicit_tls=True,
            greeting=imap_greeting,
            capabilities=mailstacks.ZIMBRA_IMAP_CAPS,
            evidence=("imap.banner",),
            **zm,
        ),
        Service(
            110,
            "pop3",
            Handler.POP3,
            starttls=True,
            greeting=pop_greeting,
            capabilities=mailstacks.POP3_CAPA_BASIC,
            evidence=("pop3.banner",),
            **zm,
        ),
        Service(
            995,
            "pop3s",
            Handler.POP3,
            implicit_tls=True,
            greeting=pop_greeting,
            capabilities=mailstacks.POP3_CAPA_BASIC,
            evidence=("pop3.banner",),
            **zm,
        ),
        Service(
            443,
            "https",
            Handler.HTTP,
            implicit_tls=True,
            http=site,
            evidence=("http.body", "http.cookie"),
            **zm,
        ),
        Service(
            80,
            "http",
            Handler.HTTP,
            http=mailstacks.https_redirect(name),
            note="redirects to https",
        ),
    )
    return Host(
        index,
        address,
        name,
        "zimbra",
        "zimbra",
        "synacor",
        "",
        "",
        "product",
        product_line="Zimbra",
        services=services,
    )


def _courier(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index, ("mail", "imap"))
    greeting, distro = mailstacks.postfix_greeting(rng, name)
    dialect = mailstacks.postfix_dialect(name)
    year = rng.choice(("2008", "2011", "2015", "2018"))
    imap_greeting = (
        f"* OK [CAPABILITY {' '.join(mailstacks.COURIER_IMAP_CAPS)}] Courier-IMAP ready. "
        f"Copyright 1998-{year} Double Precision, Inc.  "
        "See COPYING for distribution information.\r\n"
    ).encode()
    cr: dict[str, Any] = {"product": "courier", "vendor": "courier", "precision": "product"}
    services = (
        Service(
            25,
            "smtp",
            Handler.SMTP,
            starttls=rng.random() < 0.7,
            greeting=greeting,
            smtp=dialect,
            product="postfix",
            vendor="postfix",
            precision="product",
        ),
        Service(
            143,
            "imap",
            Handler.IMAP,
            starttls=True,
            greeting=imap_greeting,
            capabilities=mailstacks.COURIER_IMAP_CAPS,
            **cr,
        ),
        Service(
            993,
            "imaps",
            Handler.IMAP,
            implicit_tls=True,
            greeting=imap_greeting,
            capabilities=mailstacks.COURIER_IMAP_CAPS,
            **cr,
        ),
        Service(
            110,
            "pop3",
            Handler.POP3,
            starttls=True,
            greeting=b"+OK Hello there.\r\n",
            capabilities=mailstacks.POP3_CAPA_BASIC,
            **cr,
        ),
    )
    return Host(
        index,
        address,
        name,
        "courier",
        "courier",
        "courier",
        "",
        "",
        "product",
        product_line="Courier-IMAP",
        distro=distro,
        services=services,
    )


def _dovecot(rng: random.Random, index: int, address: str, when: str) -> Host:
    name = _hostname(rng, index, ("imap", "mail", "pop"))
    distro = rng.choice(("", "debian", "ubuntu"))
    services = tuple(mailstacks.dovecot_services(rng, distro, all_ports=True))
    return Host(
        index,
        address,
        name,
        "dovecot",
        "dovecot",
        "dovecot",
        "",
        "",
        "product",
        product_line="Dovecot",
        distro=distro,
        services=services,
    )


def _exchange(
    rng: random.Random, index: int, address: str, when: str, patched: bool = False
) -> Host:
    return exchange.exchange_host(
        rng, index, address, when, _hostname(rng, index, ("mail", "exchange", "owa")), patched
    )


_BUILDERS = {
    "exim": _exim,
    "postfix": _postfix,
    "sendmail": _sendmail,
    "opensmtpd": _opensmtpd,
    "iis-smtp": _iis_smtp,
    "mdaemon": _mdaemon,
    "hmailserver": _hmailserver,
    "zimbra": _zimbra,
    "courier": _courier,
    "dovecot": _dovecot,
    "exchange": _exchange,
}


_PATCHED: dict[str, Any] = {
    "exim": functools.partial(_exim, patched=True),
    "exchange": functools.partial(_exchange, patched=True),
}
"""The kinds whose owners patch between epochs (the seeds' story: Exim and Exchange)."""


# -- hostile hosts ----------------------------------------------------------------------

_HOSTILE_BANNERS: dict[str, tuple[str, ...]] = {
    "html-banner": (
        "220 <script>alert(1)</script> ESMTP service ready",
        "220 <img src=x onerror=alert(1)> mail service ready",
        '220 "><svg onload=alert(document.domain)> ready',
    ),
    "ansi-banner": (
        "220 \x1b[31;1mWELCOME\x1b[0m \x1b]0;pwned\x07 ESMTP ready",
        "220 \x1b[2J\x1b[Hscreen cleared \x1b[5mblink\x1b[0m",
    ),
    "csv-banner": (
        '220 =HYPERLINK("http://example.invalid/x","click me") ready',
        "220 +cmd|' /C calc'!A0 ready",
        "220 @SUM(1+1)*cmd|' /C calc'!A0 ready",
        "220 -2+3+cmd|' /C calc'!A0 ready",
    ),
}


def _hostile_host(
    config: LabConfig, rng: random.Random, index: int, address: str, when: str
) -> Host:
    kind = rng.choice(HOSTILE_KINDS)
    if kind == "greet-pause":  # a real Exim that waits before its banner (an ACL delay)
        exim = _exim(rng, index, address, when)
        paused = tuple(
            replace(
                svc,
                greet_delay=config.greet_pause,
                note="greet pause: a client that speaks first gets 554",
            )
            if svc.port == 25
            else svc
            for svc in exim.services
        )
        return replace(exim, kind="hostile:greet-pause", hostile=kind, services=paused)
    name = f"h{index}.hostile.example"
    dialect = mailstacks.generic_dialect(name)
    greeting = f"220 {name} ESMTP ready\r\n".encode()
    services: list[Service]
    if kind == "tarpit":
        slow = b"220 " + b"-" * 1000 + b"\r\n"
        services = [Service(25, "smtp", Handler.TARPIT, greeting=slow, outcome="timeout")]
    elif kind == "silent":
        services = [
            Service(25, "smtp", Handler.SILENT, outcome="timeout"),
            Service(143, "imap", Handler.SILENT, outcome="timeout"),
        ]
    elif kind == "reset":
        services = [Service(25, "smtp", Handler.RESET, outcome="reset")]
    elif kind == "drop":
        services = [Service(25, "smtp", Handler.DROP, outcome="closed")]
    elif kind == "garbage":
        noise = bytes([rng.randrange(0, 32)]) + rng.randbytes(1021) + b"\r\n"
        services = [
            Service(
                25, "smtp", Handler.GARBAGE, greeting=noise, noise=noise, outcome="protocol-error"
            )
        ]
    elif kind == "giant":
        services = [
            Service(
                25,
                "smtp",
                Handler.GIANT,
                greeting=b"220 " + b"A" * 60,
                giant_size=config.giant_size,
                outcome="too-large",
            )
        ]
    elif kind == "slow-multiline":
        text = (
            f"220-{name} slow service\r\n220-please wait\r\n220-still here\r\n"
            f"220 {name} ESMTP ready\r\n"
        )
        services = [
            Service(
                25,
                "smtp",
                Handler.SMTP,
                greeting=text.encode(),
                smtp=dialect,
                line_delay=config.slow_delay,
            )
        ]
    elif kind == "broken-starttls":
        services = [
            Service(
                25,
                "smtp",
                Handler.SMTP,
                starttls=True,
                broken_starttls=True,
                greeting=greeting,
                smtp=dialect,
                noise=rng.randbytes(256),
                outcome="tls-error",
                note="banner and EHLO are fine; noise after STARTTLS",
            )
        ]
    elif kind == "broken-tls":
        services = [
            Service(25, "smtp", Handler.SMTP, greeting=greeting, smtp=dialect),
            Service(
                465,
                "smtps",
                Handler.BROKEN_TLS,
                implicit_tls=True,
                noise=b"\x00\xff" + rng.randbytes(300),
                outcome="tls-error",
            ),
            Service(
                993,
                "imaps",
                Handler.BROKEN_TLS,
                implicit_tls=True,
                noise=b"* OK not tls at all\r\n",
                outcome="tls-error",
            ),
        ]
    else:
        text = rng.choice(_HOSTILE_BANNERS[kind]) + "\r\n"
        services = [Service(25, "smtp", Handler.SMTP, greeting=text.encode(), smtp=dialect)]
    return Host(
        index,
        address,
        name,
        f"hostile:{kind}",
        "unknown",
        "",
        "",
        "",
        "none",
        hostile=kind,
        services=tuple(services),
    )
