"""A connector that replays a server dialogue from a text file, for probe tests without
sockets (the seam ``mxcensus.probes.connect.Connector``).

File format, one item per line (``#`` starts a comment line)::

    S: <bytes the server sends, CRLF appended>
    C: <bytes the client must send, CRLF appended>
    TLS                  the client must upgrade now (start_tls succeeds)
    SILENCE              the server says nothing more (reads time out)

Consecutive ``S:`` lines are sent as one chunk. When the script ends the server closes.
Anything the client sends that the script did not expect is recorded in ``mismatches``
and the server closes the connection.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

from mxcensus.model import Certificate, TlsInfo
from mxcensus.probes.connect import ReadTimeout, Stream, TlsFailure

HERE = Path(__file__).parent / "dialogues"

REPLAY_TLS = TlsInfo(
    version="TLSv1.2",
    cipher="ECDHE-RSA-AES256-GCM-SHA384",
    chain=(
        Certificate(
            subject="CN=replay.test.invalid",
            issuer="CN=replay.test.invalid",
            sans=("replay.test.invalid",),
            not_before=datetime(2026, 1, 1, tzinfo=UTC),
            not_after=datetime(2027, 1, 1, tzinfo=UTC),
            serial="1",
            sha256="00" * 32,
            self_signed=True,
        ),
    ),
)


def load(name: str) -> list[tuple[str, bytes]]:
    script: list[tuple[str, bytes]] = []
    for line in (HERE / name).read_bytes().split(b"\n"):
        line = line.rstrip(b"\r")
        if not line or line.startswith(b"#"):
            continue
        if line in (b"TLS", b"SILENCE"):
            script.append((line.decode(), b""))
            continue
        kind, sep, data = line.partition(b": ")
        if kind not in (b"S", b"C") or not sep:
            raise ValueError(f"{name}: bad line {line!r}")
        script.append((kind.decode(), data + b"\r\n"))
    return script


class ReplayStream:
    def __init__(self, script: list[tuple[str, bytes]], mismatches: list[str]) -> None:
        self.script = list(script)
        self.mismatches = mismatches
        self.closed = False
        self.written = b""

    async def read(self, deadline: float) -> bytes:
        if self.closed or not self.script:
            return b""
        kind, _ = self.script[0]
        if kind == "SILENCE":
            raise ReadTimeout("replayed silence")
        if kind != "S":
            self.mismatches.append(f"client read while the script expects {kind}")
            return b""
        out = b""
        while self.script and self.script[0][0] == "S":
            out += self.script.pop(0)[1]
        return out

    def write(self, data: bytes) -> None:
        self.written += data
        while self.written:
            if not self.script or self.script[0][0] != "C":
                self.mismatches.append(f"unexpected client bytes {self.written!r}")
                self.closed = True
                return
            expected = self.script[0][1]
            if not expected.startswith(self.written[: len(expected)]):
                self.mismatches.append(f"sent {self.written!r}, expected {expected!r}")
                self.closed = True
                return
            if len(self.written) < len(expected):
                return
            self.script.pop(0)
            self.written = self.written[len(expected) :]

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, deadline: float
    ) -> TlsInfo:
        if self.script and self.script[0][0] == "TLS":
            self.script.pop(0)
            return REPLAY_TLS
        raise TlsFailure("the replayed server does not speak TLS here")

    def close(self) -> None:
        self.closed = True


class ReplayConnector:
    def __init__(self, name: str) -> None:
        self.script = load(name)
        self.mismatches: list[str] = []
        self.streams: list[ReplayStream] = []

    async def connect(self, ip: str, port: int, deadline: float) -> Stream:
        stream = ReplayStream(self.script, self.mismatches)
        self.streams.append(stream)
        return stream
