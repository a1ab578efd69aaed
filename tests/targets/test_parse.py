from __future__ import annotations

import io
from ipaddress import ip_address
from pathlib import Path

import pytest

from mxcensus.errors import TargetError, UsageError
from mxcensus.targets import load_targets, parse_ports
from mxcensus.targets.intervals import addr_of


def addrs(targets: list[str]) -> list[str]:
    t = load_targets(targets, allow_reserved=True)
    return [str(addr_of(t.addresses.nth(i))) for i in range(t.addresses.size)]


def test_ip_cidr_range_and_short_range() -> None:
    assert addrs(["127.0.0.5"]) == ["127.0.0.5"]
    assert addrs(["127.0.0.0/30"]) == [f"127.0.0.{i}" for i in range(4)]
    assert addrs(["127.0.0.1/30"]) == [f"127.0.0.{i}" for i in range(4)]  # host bits allowed
    assert addrs(["127.0.0.254-127.0.1.1"]) == [
        "127.0.0.254",
        "127.0.0.255",
        "127.0.1.0",
        "127.0.1.1",
    ]
    assert addrs(["127.0.0.1-3"]) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def test_overlaps_merge_and_ipv6() -> None:
    assert addrs(["127.0.0.1", "127.0.0.0/31", "127.0.0.1-127.0.0.2"]) == [
        "127.0.0.0",
        "127.0.0.1",
        "127.0.0.2",
    ]
    assert addrs(["::1"]) == ["::1"]


def test_localhost_resolves_and_keeps_its_name() -> None:
    t = load_targets(["localhost"], allow_reserved=True)
    assert t.addresses.size >= 1
    assert set(t.hostnames.values()) == {"localhost"}


def test_public_space_is_allowed_without_flag() -> None:
    t = load_targets(["8.8.8.0/24"])
    assert t.addresses.size == 256


def test_large_cidr_drops_reserved_parts_silently() -> None:
    t = load_targets(["0.0.0.0/0"])
    assert t.blocked > 0
    assert t.addresses.size == 2**32 - t.blocked
    for bad in ("10.1.2.3", "127.0.0.1", "192.168.1.1", "224.0.0.1", "255.255.255.255"):
        assert int(ip_address(bad)) not in t.addresses


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("300.1.2.3", "300.1.2.3: not a valid IP address"),
        ("10.0.0.0/33", "10.0.0.0/33: not a valid CIDR"),
        ("10.0.0.9-10.0.0.1", "ends before it starts"),
        ("no such host!", "not an IP address, CIDR, range or hostname"),
        ("10.1.2.3", "10.1.2.3: reserved address space (private-use"),
        ("127.0.0.1", "add --allow-reserved"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_bad_or_reserved_targets_name_the_input(target: str, needle: str) -> None:
    with pytest.raises(TargetError) as exc:
        load_targets([target])
    assert needle in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("target", ["224.0.0.1", "0.1.2.3", "255.255.255.255", "ff02::1"])
def test_multicast_broadcast_and_zero_never_even_with_flag(target: str) -> None:
    with pytest.raises(TargetError, match="never scanned"):
        load_targets([target], allow_reserved=True)


def test_exclusions_and_empty_result() -> None:
    t = load_targets(["127.0.0.0/24"], exclude=["127.0.0.0/25"], allow_reserved=True)
    assert t.addresses.size == 128
    assert t.excluded == 128
    with pytest.raises(TargetError, match="no targets left after exclusions"):
        load_targets(["127.0.0.0/24"], exclude=["127.0.0.0/24"], allow_reserved=True)
    with pytest.raises(TargetError, match=r"--exclude: example\.org"):
        load_targets(["127.0.0.1"], exclude=["example.org"], allow_reserved=True)


def test_exclude_file(tmp_path: Path) -> None:
    f = tmp_path / "ex.txt"
    f.write_text("# ours\n127.0.0.0/26\n127.0.0.64-127.0.0.127  # more\n")
    t = load_targets(["127.0.0.0/24"], exclude_file=f, allow_reserved=True)
    assert t.addresses.size == 128


def test_list_formats(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("127.0.0.1\n# comment\n\n127.0.0.2, 127.0.0.3\n127.0.1.0/31\n")
    masscan_l = tmp_path / "m.lst"
    masscan_l.write_text(
        "#masscan\nopen tcp 25 127.0.2.1 1700000000\nopen tcp 587 127.0.2.2 1700000001\n# end\n"
    )
    masscan_j = tmp_path / "m.json"
    masscan_j.write_text(
        '[\n{   "ip": "127.0.3.1",   "timestamp": "1700000000", "ports": [ {"port": 25, '
        '"proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64} ] }\n,\n'
        '{   "ip": "127.0.3.2",   "timestamp": "1700000000", "ports": [ {"port": 25} ] }\n]\n'
    )
    zmap = tmp_path / "zmap.csv"
    zmap.write_text("saddr\n127.0.4.1\n127.0.4.2\n")
    got = {
        f.name: load_targets([], input_list=f, allow_reserved=True).addresses.to_text()
        for f in (plain, masscan_l, masscan_j, zmap)
    }
    assert got == {
        "plain.txt": ["127.0.0.1-127.0.0.3", "127.0.1.0-127.0.1.1"],
        "m.lst": ["127.0.2.1-127.0.2.2"],
        "m.json": ["127.0.3.1-127.0.3.2"],
        "zmap.csv": ["127.0.4.1-127.0.4.2"],
    }


def test_stdin() -> None:
    t = load_targets(["-"], stdin=io.StringIO("127.0.0.7\n127.0.0.8\n"), allow_reserved=True)
    assert t.addresses.to_text() == ["127.0.0.7-127.0.0.8"]


def test_file_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot read target list"):
        load_targets([], input_list=tmp_path / "missing.txt")
    f = tmp_path / "t.txt"
    f.write_text("127.0.0.1\n300.1.2.3\n")
    with pytest.raises(TargetError, match=r"t\.txt:2: 300\.1\.2\.3"):
        load_targets([], input_list=f, allow_reserved=True)
    f.write_text("8.8.8.8\n10.0.0.1\n")
    with pytest.raises(TargetError, match=r"t\.txt:2.*reserved"):
        load_targets([], input_list=f)
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TargetError, match="not a text file"):
        load_targets([], input_list=binary)


def test_params_roundtrip() -> None:
    from mxcensus.targets.space import Targets

    t = load_targets(["127.0.0.0/30", "127.0.9.9", "localhost"], allow_reserved=True)
    back = Targets.from_params(t.to_params())
    assert back.addresses == t.addresses
    assert back.hostnames == t.hostnames


def test_ports() -> None:
    assert parse_ports("25,465, 587") == (25, 465, 587)
    assert parse_ports("1000-1002,25") == (25, 1000, 1001, 1002)
    for bad in ("0", "70000", "abc", "", "30-20"):
        with pytest.raises(UsageError):
            parse_ports(bad)
