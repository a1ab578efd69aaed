"""Probes: one file per protocol, one registry line each (see ``interface.py``).

``PROBES`` maps a probe's name to its instance. Each probe declares its protocol
(``probe.spec``); ``TABLE`` holds every lookup derived from those declarations
(:mod:`mxcensus.probes.table`), and ``PORTS`` maps the well-known ports to the probe that
speaks there and whether TLS starts on the first byte; :func:`probe_for` is what the engine
asks for each port.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mxcensus.errors import UsageError
from mxcensus.probes.imap import ImapProbe
from mxcensus.probes.interface import Probe, ProbeConfig
from mxcensus.probes.managesieve import ManageSieveProbe
from mxcensus.probes.owa import OwaProbe
from mxcensus.probes.pop3 import Pop3Probe
from mxcensus.probes.smtp import SmtpProbe
from mxcensus.probes.table import ProtocolTable
from mxcensus.probes.tls import FIELDS as TLS_FIELDS

PROBES: dict[str, Probe] = {
    p.name: p
    for p in (  # the registry: one line per probe
        SmtpProbe(),
        ImapProbe(),
        Pop3Probe(),
        OwaProbe(),
        ManageSieveProbe(),
    )
}

TABLE = ProtocolTable((p.spec for p in PROBES.values()), common=TLS_FIELDS)

PORTS: dict[int, tuple[str, bool]] = {
    port: (probe.name, service.implicit_tls)
    for probe in PROBES.values()
    for service in probe.spec.services
    for port in service.ports
}
"""Well-known port -> (the probe that speaks there, TLS from the first byte)."""

DEFAULT_PROBE = "smtp"
HTTP_PORT = 80  # owa's optional plain-HTTP port (``ProbeConfig.http``)


def probe_for(port: int, names: Iterable[str] | None = None) -> tuple[Probe, bool] | None:
    """The probe to run on ``port`` and whether TLS is implicit there.

    ``names`` restricts the choice to the enabled probes (all when ``None``). A well-known
    port whose probe is not enabled gets ``None`` (skip it); any other port gets the SMTP
    probe in plain text (with STARTTLS when offered), or the first enabled probe when SMTP
    is not enabled.
    """
    enabled = list(PROBES) if names is None else check_names(names)
    known = PORTS.get(port)
    if known is not None:
        name, implicit = known
        return (PROBES[name], implicit) if name in enabled else None
    if not enabled:
        return None
    name = DEFAULT_PROBE if DEFAULT_PROBE in enabled else enabled[0]
    return PROBES[name], False


def check_names(names: Iterable[str], registry: Mapping[str, Probe] | None = None) -> list[str]:
    """The probe names, in order; an unknown one is a ``UsageError`` naming the valid ones."""
    known = PROBES if registry is None else registry
    out = []
    for name in names:
        if name not in known:
            raise UsageError(f"unknown probe {name!r} (choose from {', '.join(known)})")
        out.append(name)
    return out


def default_ports(
    names: Iterable[str] | None,
    config: ProbeConfig,
    registry: Mapping[str, Probe] | None = None,
) -> tuple[int, ...]:
    """The ports scanned when none are given: each enabled probe's ``ports``, plus plain
    HTTP 80 for owa when ``config.http`` is set. ``registry`` is another probe registry
    (name -> probe) than :data:`PROBES`, e.g. a plugin's."""
    known = PROBES if registry is None else registry
    enabled = list(known) if names is None else check_names(names, known)
    ports: list[int] = []
    for name in enabled:
        ports.extend(p for p in known[name].ports if p not in ports)
    if "owa" in enabled and config.http and HTTP_PORT not in ports:
        ports.append(HTTP_PORT)
    return tuple(ports)
