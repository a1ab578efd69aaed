"""Property-based fuzzing of every parser that reads what others wrote (issue 18, Fuzzing):
the wire framers (SMTP, IMAP, POP3, ManageSieve), the recorded-HTTP-head parser, every
import format, the target parser, the rule and knowledge loaders. Arbitrary bytes, and real
inputs (the importer fixtures, the shipped rule and knowledge files) cut, spliced and
overwritten, raise nothing but the project's own errors (tests/reliability/fuzz_targets.py).

A short run, derandomised so the test command is repeatable: ``make fuzz`` runs the same
targets coverage-guided (atheris) for as long as it is given. Every crash either finds
becomes a test below with its input inline (``test_found_…``)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxcensus.errors import KnowledgeError
from mxcensus.identify.rules import load_file
from mxcensus.importers.interface import ImportInputError, ImportProblem
from mxcensus.importers.registry import IMPORTERS
from mxcensus.model import Transcript
from tests.reliability.fuzz_targets import KB, TARGETS, mutated_copy, seeds

pytestmark = pytest.mark.timeout(120)  # the bound on a hang: minutes, not a slow example

EXAMPLES = {"rules": 25, "knowledge": 5}
"""Examples per target (the file loaders copy and compile files: fewer); others 120."""


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    """A real input of ``name`` with a few random edits, or arbitrary bytes."""
    base = seeds(name)
    if not base or draw(st.booleans()):
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(base)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        end = draw(st.integers(at, min(len(data), at + 64)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "repeat", "cut"]))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "delete":
            del data[at:end]
        elif kind == "replace":
            data[at:end] = draw(st.binary(max_size=32))
        elif kind == "repeat":
            data[at:at] = bytes(data[at:end]) * draw(st.integers(2, 50))
        else:
            del data[at:]
    return bytes(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_unhandled_exception(name: str) -> None:
    target = TARGETS[name]

    @settings(
        max_examples=EXAMPLES.get(name, 120),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated(name))
    def run(data: bytes) -> None:
        target(data)

    run()


def test_every_target_has_a_seed_or_arbitrary_bytes_reach_it() -> None:
    """The harness' own check: each target runs its seeds without error (a seed that fails
    would make every mutation of it fail for the wrong reason)."""
    for name, target in TARGETS.items():
        for data in seeds(name):
            target(data)


def test_found_a_control_character_in_a_rule_file(tmp_path: Path) -> None:
    """Found by the rules target: YAML's reader error is several lines; one is reported."""
    path = tmp_path / "smtp_banner.yaml"
    path.write_bytes(b"\x00field: smtp.banner\nrules: []\n")
    report = load_file(path)
    assert report.errors == [
        "smtp_banner.yaml:0: malformed YAML: special characters are not allowed"
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # found by the knowledge target: a multi-line message, and an escaping decode error
        (b"\x00advisories: []\n", "exim.yaml: not valid YAML: control characters are not allowed"),
        (b"\x80advisories: []\n", "exim.yaml: not UTF-8 text (byte 0)"),
    ],
)
def test_found_a_knowledge_file_that_is_not_text(data: bytes, message: str) -> None:
    with pytest.raises(KnowledgeError) as err:
        knowledge_file_raising(data)
    assert str(err.value) == message


def knowledge_file_raising(data: bytes) -> None:
    from mxcensus.kb.loader import load

    copy = mutated_copy(KB, "exim.yaml", data)
    try:
        load(copy)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        # found by atheris (import-nmap-xml): expat refuses multi-byte encodings with a
        # ValueError and Python's codec lookup an unknown one with a LookupError
        ("UTF-7", "multi-byte encodings are not supported"),
        ("bogus", "unknown encoding: bogus"),
    ],
)
def test_found_nmap_xml_in_an_encoding_expat_cannot_read(declared: str, message: str) -> None:
    data = f'<?xml version="1.0" encoding="{declared}"?>\n<nmaprun start="1"></nmaprun>\n'
    with pytest.raises(ImportInputError) as err:
        list(IMPORTERS["nmap-xml"].read(io.BytesIO(data.encode()), "scan.xml"))
    assert str(err.value) == f"scan.xml:1: nmap XML in an encoding it cannot read: {message}"


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        # found by atheris (import-masscan): an epoch past year 9999 raised ValueError,
        # OverflowError or OSError out of datetime.fromtimestamp
        ("masscan", b"#masscan\nopen tcp 25 192.0.2.1 170963709637754\nopen tcp 25 192.0.2.2 1\n"),
        ("masscan", b'[\n{"ip": "192.0.2.1", "timestamp": "99999999999999999999", "ports": '
                    b'[{"port": 25, "proto": "tcp", "status": "open"}]},\n'
                    b'{"ip": "192.0.2.2", "timestamp": "1", "ports": '
                    b'[{"port": 25, "proto": "tcp", "status": "open"}]}\n]\n'),
        ("shodan", b'{"ip_str": "192.0.2.1", "port": 25, "timestamp": 1e300, "data": "220 x"}\n'
                   b'{"ip_str": "192.0.2.2", "port": 25, "timestamp": 1, "data": "220 x"}\n'),
    ],
)  # fmt: skip
def test_found_a_timestamp_out_of_range_is_one_malformed_record(fmt: str, data: bytes) -> None:
    items = [x for _, x in IMPORTERS[fmt].read(io.BytesIO(data), "f")]
    assert [t.ip for t in items if isinstance(t, Transcript)] == ["192.0.2.2"]
    (problem,) = [x for x in items if isinstance(x, ImportProblem)]
    assert "out of range" in problem.message, problem


def test_found_nmap_times_out_of_range_fall_back() -> None:
    """nmap's ``start`` and ``starttime`` out of range are taken as absent (found with the
    masscan case: the same fromtimestamp)."""
    data = (
        b'<nmaprun start="99999999999999999999"><host starttime="99999999999999999">'
        b'<address addr="192.0.2.1" addrtype="ipv4"/><ports><port protocol="tcp" portid="25">'
        b'<state state="open"/><service name="smtp"/></port></ports></host></nmaprun>\n'
    )
    (item,) = [x for _, x in IMPORTERS["nmap-xml"].read(io.BytesIO(data), "f")]
    assert isinstance(item, Transcript) and item.ip == "192.0.2.1"
