"""The protocol table: lookups derived from the probes' declarations, and clashes refused."""

from __future__ import annotations

import pytest

from mxcensus.identify.rules import FIELDS, RULES_DIR
from mxcensus.probes import PORTS, PROBES, TABLE
from mxcensus.probes.interface import Cut, ProtocolSpec, RuleField, Service
from mxcensus.probes.table import ProtocolTable


def _spec(family: str, *services: Service, field: str = "") -> ProtocolSpec:
    f = field or f"{family}.banner"
    return ProtocolSpec(
        family=family,
        services=services,
        fields=(RuleField(f, f.replace(".", "_") + ".yaml", steps=("greeting",)),),
        banner=f,
        cut=Cut.WHOLE,
    )


def test_every_probe_declares_its_protocol_and_the_port_table_follows() -> None:
    assert [s.family for s in TABLE.specs] == [p.spec.family for p in PROBES.values()]
    for port, (name, implicit) in PORTS.items():
        spec = PROBES[name].spec
        assert spec.tls_on(port) is implicit
        assert TABLE.by_port[port] is spec
    for probe in PROBES.values():
        assert set(probe.ports) <= set(PORTS), probe.name


def test_each_rule_file_is_a_declared_field() -> None:
    assert set(FIELDS.values()) == set(TABLE.fields)
    assert {p.name for p in RULES_DIR.glob("*.yaml")} == set(FIELDS)
    for spec in TABLE.specs:
        assert spec.banner in TABLE.fields, spec.family
        if not spec.http:
            assert any(f.steps for f in spec.fields), spec.family


@pytest.mark.parametrize(
    ("port", "name", "family"),
    [
        (25, "", "smtp"), (2525, "", "smtp"), (9999, "ESMTP", "smtp"), (443, "smtp-ssl", "smtp"),
        (993, "", "imap"), (1, "imap4-ssl", "imap"), (995, "", "pop3"), (8443, "", "http"),
        (22, "ssh", None), (22, "", None),
    ],
)  # fmt: skip
def test_family_by_name_then_port(port: int, name: str, family: str | None) -> None:
    assert TABLE.family_of(port, name) == family


@pytest.mark.parametrize(
    ("family", "port", "tls", "name", "protocol"),
    [
        ("smtp", 25, None, "", "smtp"), ("smtp", 587, None, "", "submission"),
        ("smtp", 465, None, "", "smtps"), ("smtp", 2525, True, "", "smtps"),
        ("smtp", 2525, None, "smtp-ssl", "smtps"), ("smtp", 465, False, "", "smtp"),
        ("imap", 993, None, "", "imaps"), ("pop3", 110, None, "", "pop3"),
        ("http", 8443, None, "", "https"), ("http", 8080, None, "", "http"),
    ],
)  # fmt: skip
def test_protocol_names(family: str, port: int, tls: bool | None, name: str, protocol: str) -> None:
    assert TABLE.protocol_of(family, port, tls=tls, name=name) == protocol


def test_a_protocol_without_an_implicit_tls_name_keeps_its_plain_name() -> None:
    table = ProtocolTable([_spec("x", Service("x", (7000,)))])
    assert table.protocol_of("x", 7000, tls=True) == "x"
    assert table.default_port("x") == 7000
    assert table.tls_protocols == frozenset()


@pytest.mark.parametrize(
    ("a", "b", "what"),
    [
        (_spec("x", Service("x", (7000,))), _spec("y", Service("y", (7000,))), "port 7000"),
        (_spec("x", Service("x", (1,))), _spec("y", Service("y", (2,), aliases=("X",))), "'x'"),
        (_spec("x", Service("x", (1,))), _spec("x", Service("y", (2,))), "family 'x'"),
        (
            _spec("x", Service("x", (1,)), field="f.banner"),
            _spec("y", Service("y", (2,)), field="f.banner"),
            "rule field 'f.banner'",
        ),
    ],
)
def test_a_clash_is_refused_when_the_table_is_built(
    a: ProtocolSpec, b: ProtocolSpec, what: str
) -> None:
    with pytest.raises(ValueError, match=f"{what}.*declared twice"):
        ProtocolTable([a, b])
