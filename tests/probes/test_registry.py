"""The probe registry and the port table the engine uses."""

from __future__ import annotations

import pytest

from mxcensus.errors import UsageError
from mxcensus.probes import PORTS, PROBES, default_ports, probe_for
from mxcensus.probes.interface import ProbeConfig


def test_registry_keys_are_probe_names() -> None:
    assert all(name == p.name for name, p in PROBES.items())


def test_well_known_ports() -> None:
    chosen = probe_for(465)
    assert chosen is not None and chosen[0].name == "smtp" and chosen[1] is True
    chosen = probe_for(25)
    assert chosen is not None and chosen == (PROBES["smtp"], False)
    assert set(PORTS) == {25, 465, 587, 143, 993, 110, 995, 80, 443, 4190}
    assert PORTS[4190] == ("managesieve", False)


def test_unknown_port_defaults_to_plain_smtp() -> None:
    assert probe_for(2525) == (PROBES["smtp"], False)
    assert probe_for(2525, ["smtp"]) == (PROBES["smtp"], False)


def test_disabled_probe_skips_its_port() -> None:
    assert probe_for(25, []) is None


def test_unknown_probe_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown probe 'smpt'"):
        probe_for(25, ["smpt"])


def test_default_ports() -> None:
    assert default_ports(None, ProbeConfig()) == (25, 465, 587, 143, 993, 110, 995, 443, 4190)
    assert default_ports(["managesieve"], ProbeConfig(http=True)) == (4190,)
    assert default_ports(["owa"], ProbeConfig(http=True)) == (443, 80)
    assert default_ports(["smtp"], ProbeConfig(http=True)) == (25, 465, 587)


def test_every_port_of_the_table_has_its_probe() -> None:
    for port, (name, implicit) in PORTS.items():
        assert probe_for(port) == (PROBES[name], implicit)
    assert probe_for(443, ["smtp"]) is None
