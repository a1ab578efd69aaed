"""The protocol table: every port, family and protocol-name lookup of the project, derived
from what the probes declare (:class:`~mxcensus.probes.interface.ProtocolSpec`).

``mxcensus.probes.TABLE`` is the one instance, built from the registry. The engine's port
table, identify's dispatch and rule files, the importers' service naming, the Shadowserver
export's report families and the lab's ports all read it; none keeps a list of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from mxcensus.probes.interface import ProtocolSpec, RuleField

K = TypeVar("K")
V = TypeVar("V")


class ProtocolTable:
    """Lookups over a set of protocol declarations; a clash (a port, a name or a rule field
    declared twice) is a ``ValueError`` when the table is built."""

    def __init__(self, specs: Iterable[ProtocolSpec], common: Iterable[RuleField] = ()) -> None:
        self.specs = tuple(specs)
        self.common = tuple(common)
        """rule fields every protocol's transcripts feed (the TLS certificate's subject and
        issuer), read from the transcript rather than from a step"""
        self.families: dict[str, ProtocolSpec] = {}
        """family -> its declaration"""
        self.protocols: dict[str, ProtocolSpec] = {}
        """protocol name (``Transcript.protocol``) -> its declaration"""
        self.names: dict[str, ProtocolSpec] = {}
        """protocol names and the aliases other scanners use, lower-case -> declaration"""
        self.by_port: dict[int, ProtocolSpec] = {}
        """well-known ports and the other ports imports meet a protocol on"""
        self.fields: dict[str, RuleField] = {}
        """rule field name -> its declaration"""
        tls_names: set[str] = set()
        tls_ports: set[int] = set()
        tls_seen: set[int] = set()
        for spec in self.specs:
            _put(self.families, spec.family, spec, "family")
            for service in spec.services:
                _put(self.protocols, service.name, spec, "protocol")
                for name in (service.name, *service.aliases):
                    _put(self.names, name.lower(), spec, "protocol name")
                for port in (*service.ports, *service.seen_on):
                    _put(self.by_port, port, spec, "port")
                if service.implicit_tls:
                    tls_names.update(n.lower() for n in (service.name, *service.aliases))
                    tls_ports.update(service.ports)
                    tls_seen.update((*service.ports, *service.seen_on))
            for f in spec.fields:
                _put(self.fields, f.name, f, "rule field")
        for f in self.common:
            _put(self.fields, f.name, f, "rule field")
        self.tls_names = frozenset(tls_names)
        """names that mean TLS from the first byte (``smtps``, nmap's ``imap-ssl`` …)"""
        self.tls_ports = frozenset(tls_ports)
        """well-known ports where TLS starts on the first byte (465, 993, 995, 443 …)"""
        self.tls_seen = frozenset(tls_seen)
        """those and the other implicit-TLS ports imports meet (8443 …)"""
        self.tls_protocols = frozenset(
            s.name for spec in self.specs for s in spec.services if s.implicit_tls
        )
        """protocol names whose transport is TLS from the first byte"""

    def family_of(self, port: int, name: str = "") -> str | None:
        """The family of a service another scanner named ``name`` (a protocol name or an
        alias, any case) on ``port``, else the family of the port; None when neither is ours."""
        spec = self.names.get(name.strip().lower()) if name else None
        if spec is None:
            spec = self.by_port.get(port)
        return None if spec is None else spec.family

    def protocol_of(
        self, family: str, port: int, *, tls: bool | None = None, name: str = ""
    ) -> str:
        """The protocol name of a ``family`` service on ``port``. ``tls``: whether TLS was
        implicit; None: as the port and the other scanner's ``name`` say."""
        implicit = (
            tls
            if tls is not None
            else (port in self.tls_seen or name.strip().lower() in self.tls_names)
        )
        return self.families[family].protocol(port, implicit)

    def default_port(self, family: str) -> int:
        """The family's first well-known port (its plain one when it has one)."""
        spec = self.families[family]
        plain = [s for s in spec.services if not s.implicit_tls and s.ports]
        return (plain or [s for s in spec.services if s.ports])[0].ports[0]


def _put(table: dict[K, V], key: K, value: V, what: str) -> None:
    if key in table:
        raise ValueError(f"protocol table: {what} {key!r} declared twice")
    table[key] = value
