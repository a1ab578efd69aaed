"""Fuzz targets: each takes arbitrary bytes and raises only on a bug.

A target feeds its bytes to one parser and accepts exactly the errors that parser promises
(the project's own types: :class:`~mxcensus.wire.WireError`, an importer's
:class:`~mxcensus.importers.interface.ImportInputError`, :class:`~mxcensus.errors.TargetError`,
:class:`~mxcensus.errors.UsageError`, :class:`~mxcensus.errors.KnowledgeError`; the rule loader
promises never to raise at all); anything else escapes, and so does a broken invariant (a
wire parser holding more than its bound, an imported transcript that does not survive the
store's serialisation). The same targets run under hypothesis in the test command
(tests/reliability/test_fuzz.py, bounded) and under atheris, coverage-guided, in ``make
fuzz`` (tests/reliability/fuzz.py). ``SEEDS`` are real inputs to start mutating from.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mxcensus.errors import KnowledgeError, TargetError, UsageError
from mxcensus.importers import _common
from mxcensus.importers.interface import ImportInputError, ImportProblem, Skipped
from mxcensus.importers.registry import IMPORTERS
from mxcensus.model import Transcript
from mxcensus.serialize import dumps, loads
from mxcensus.wire import WireError, imap, managesieve, pop3, smtp

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "importers" / "fixtures"
RULES = ROOT / "src" / "mxcensus" / "identify" / "rules"
KB = ROOT / "src" / "mxcensus" / "kb" / "data"
LIMIT = 512
"""The wire parsers' bound in the targets: small, so that inputs reach it."""

Target = Callable[[bytes], None]


def _chunks(data: bytes) -> Iterator[bytes]:
    """``data`` cut where its own bytes say (the first byte seeds the cut sizes), as a
    socket would deliver it."""
    if not data:
        return
    step = data[0] % 17 + 1
    rest = data[1:]
    at = 0
    while at < len(rest):
        size = (rest[at] % (step * 8)) + 1
        yield rest[at : at + size]
        at += size


def _wire(make: Callable[[], object], drain: Callable[[object, int], object]) -> Target:
    def run(data: bytes) -> None:
        parser = make()
        try:
            for i, chunk in enumerate(_chunks(data)):
                parser.feed(chunk)  # type: ignore[attr-defined]
                for _ in range(len(chunk) + 1):  # bounded: one message per byte at most
                    if drain(parser, i) is None:
                        break
                assert len(parser.pending()) <= LIMIT  # type: ignore[attr-defined]
        except WireError:
            pass

    return run


def _smtp(p: object, _i: int) -> object:
    reply = p.next_reply()  # type: ignore[attr-defined]
    if reply is not None:
        smtp.ehlo_keywords(reply)
    return reply


def _imap(p: object, _i: int) -> object:
    r = p.next_response()  # type: ignore[attr-defined]
    if r is not None:
        imap.capabilities(r)
    return r


def _pop3(p: object, i: int) -> object:
    return p.next_response(multiline=bool(i % 2))  # type: ignore[attr-defined]


def _sieve(p: object, _i: int) -> object:
    r = p.next_response()  # type: ignore[attr-defined]
    if r is not None:
        managesieve.capabilities(r)
    return r


def http_head(data: bytes) -> None:
    """The recorded-HTTP-head parsers the importers share (bytes and stored-text forms)."""
    code, headers, _ = _common.http_head(data)
    assert code is None or code >= 0
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers)
    # the stored form of bytes is their latin-1 text (importers/_common.stored_text)
    assert _common.http_head_text(data.decode("latin-1"))[0] == code


SHADOWSERVER_NAME = "2024-03-02-scan_smtp-fuzz.csv"


def _importer(fmt: str) -> Target:
    importer = IMPORTERS[fmt]
    name = SHADOWSERVER_NAME if fmt == "shadowserver" else f"fuzz.{fmt}"

    def run(data: bytes) -> None:
        try:
            for _line, item in importer.read(io.BytesIO(data), name):
                if isinstance(item, Transcript):
                    assert loads(dumps(item)) == item  # what the store will hold
                else:
                    assert isinstance(item, (ImportProblem, Skipped)), item
        except ImportInputError:
            pass

    return run


@contextmanager
def _no_dns() -> Iterator[None]:
    """Hostnames are not resolved here (the fuzzer would send their lookups off-host)."""
    from mxcensus.targets import parse

    real = parse._resolve

    def refuse(name: str, label: str) -> object:
        raise TargetError(f"{label}: not resolved while fuzzing")

    parse._resolve = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        parse._resolve = real


def targets_spec(data: bytes) -> None:
    from mxcensus.targets import parse
    from mxcensus.targets.ports import parse_ports

    text = data.decode("utf-8", "replace")
    with _no_dns():
        for line in text.splitlines()[:20] or [text]:
            with suppress(TargetError, UsageError):
                parse.parse_spec(line, "fuzz")
            with suppress(TargetError, UsageError):
                parse.parse_exclusions([line], None)
    with suppress(TargetError, UsageError):
        parse_ports(text)


def mutated_copy(directory: Path, name: str, data: bytes) -> Path:
    """A temporary copy of ``directory`` whose file ``name`` holds ``data``."""
    tmp = Path(tempfile.mkdtemp(prefix="mxfuzz-"))
    copy = tmp / directory.name
    shutil.copytree(directory, copy)
    (copy / name).write_bytes(data)
    return copy


def rule_file(data: bytes) -> None:
    """A rule file (smtp_banner.yaml) holding ``data``: never raises, problems reported."""
    from mxcensus.identify.rules import load_file

    tmp = Path(tempfile.mkdtemp(prefix="mxfuzz-"))
    try:
        path = tmp / "smtp_banner.yaml"
        path.write_bytes(data)
        report = load_file(path)
        assert all(isinstance(e, str) and "\n" not in e for e in report.errors), report.errors
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def knowledge_file(data: bytes) -> None:
    """The knowledge base with exim.yaml holding ``data``: loads or a KnowledgeError."""
    from mxcensus.kb.loader import load

    copy = mutated_copy(KB, "exim.yaml", data)
    try:
        load(copy)
    except KnowledgeError as exc:
        assert "\n" not in str(exc), str(exc)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)


TARGETS: dict[str, Target] = {
    "smtp": _wire(lambda: smtp.ReplyParser(LIMIT), _smtp),
    "imap": _wire(lambda: imap.ResponseParser(LIMIT), _imap),
    "pop3": _wire(lambda: pop3.ResponseParser(LIMIT), _pop3),
    "managesieve": _wire(lambda: managesieve.ResponseParser(LIMIT), _sieve),
    "http-head": http_head,
    **{f"import-{fmt}": _importer(fmt) for fmt in sorted(IMPORTERS)},
    "targets": targets_spec,
    "rules": rule_file,
    "knowledge": knowledge_file,
}

SEEDS: dict[str, list[Path]] = {
    "smtp": [],
    "imap": [],
    "pop3": [],
    "managesieve": [],
    "http-head": [],
    "import-censys": [FIXTURES / "censys-hosts.json"],
    "import-masscan": [FIXTURES / "masscan.json", FIXTURES / "masscan.txt"],
    "import-nmap-xml": sorted(FIXTURES.glob("nmap-*.xml")),
    "import-shadowserver": sorted(FIXTURES.glob("*.csv")),
    "import-shodan": [FIXTURES / "shodan-mail.json"],
    "import-zgrab2": [FIXTURES / "zgrab2-mail.json"],
    "targets": [],
    "rules": [RULES / "smtp_banner.yaml"],
    "knowledge": [KB / "exim.yaml"],
}

SEED_BYTES: dict[str, list[bytes]] = {
    "smtp": [b"\x03220 mx ESMTP\r\n250-a\r\n250-SIZE 10\r\n250 HELP\r\n", b"\x01220-x\n220 y\n"],
    "imap": [b"\x02* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\na1 OK {3}\r\nabc\r\n"],
    "pop3": [b"\x02+OK ready\r\n+OK\r\nSTLS\r\nUSER\r\n.\r\n-ERR no\r\n"],
    "managesieve": [b'\x02"IMPLEMENTATION" "Dovecot"\r\n"SIEVE" {5}\r\nfileo\r\nOK "hi"\r\n'],
    "http-head": [b"HTTP/1.1 302 Found\r\nServer: x\r\nX-OWA-Version: 15.2\r\n\r\nbody"],
    "targets": [b"127.0.0.1\n10.0.0.0/8\n192.0.2.1-20\n2001:db8::/126\n25,465-587"],
}


def seeds(name: str) -> list[bytes]:
    """The real inputs ``name`` starts from (files cut to 64 KiB: mutations stay cheap)."""
    return SEED_BYTES.get(name, []) + [p.read_bytes()[:65536] for p in SEEDS.get(name, [])]
