"""The probe registry and the port table the engine uses."""

from __future__ import annotations

from mxcensus.probes import PORTS, PROBES, probe_for


def test_registry_keys_are_probe_names() -> None:
    assert all(name == p.name for name, p in PROBES.items())


def test_well_known_ports() -> None:
    chosen = probe_for(465)
    assert chosen is not None and chosen[0].name == "smtp" and chosen[1] is True
    chosen = probe_for(25)
    assert chosen is not None and chosen == (PROBES["smtp"], False)
    assert set(PORTS) == {25, 465, 587, 143, 993, 110, 995, 80, 443}


def test_unknown_port_defaults_to_plain_smtp() -> None:
    assert probe_for(2525) == (PROBES["smtp"], False)
    assert probe_for(2525, ["smtp"]) == (PROBES["smtp"], False)


def test_disabled_probe_skips_its_port() -> None:
    assert probe_for(25, []) is None
