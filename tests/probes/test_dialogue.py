"""Error → Outcome mapping, and the promise that no server behaviour makes a probe raise."""

from __future__ import annotations

import asyncio
import errno
import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.model import Outcome, Step, TlsInfo
from mxcensus.probes import PROBES
from mxcensus.probes.connect import ConnectTimeout, ReadTimeout, Stream, TlsFailure
from mxcensus.probes.dialogue import Closed, classify
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.wire import FramingError, TooLarge


@pytest.mark.parametrize(
    ("exc", "connecting", "outcome"),
    [
        (ConnectionRefusedError(), True, Outcome.REFUSED),
        (ConnectTimeout("x"), True, Outcome.CONNECT_TIMEOUT),
        (TimeoutError(), True, Outcome.CONNECT_TIMEOUT),
        (OSError(errno.EHOSTUNREACH, "No route to host"), True, Outcome.UNREACHABLE),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), True, Outcome.UNREACHABLE),
        (ReadTimeout("x"), False, Outcome.TIMEOUT),
        (TimeoutError(), False, Outcome.TIMEOUT),
        (ConnectionResetError(), False, Outcome.RESET),
        (BrokenPipeError(), False, Outcome.RESET),
        (Closed(), False, Outcome.CLOSED),
        (TlsFailure("wrong version number"), False, Outcome.TLS_ERROR),
        (ssl.SSLError(1, "bad"), False, Outcome.TLS_ERROR),
        (FramingError("x"), False, Outcome.PROTOCOL_ERROR),
        (TooLarge(10, b"x"), False, Outcome.TOO_LARGE),
        (ValueError("surprise"), False, Outcome.ERROR),
    ],
)
def test_classify(exc: BaseException, connecting: bool, outcome: Outcome) -> None:
    got, error = classify(exc, connecting=connecting)
    assert got is outcome
    assert isinstance(error, str)


class _Failing:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def connect(self, ip: str, port: int, deadline: float) -> Stream:
        raise self.exc


@pytest.mark.parametrize("name", sorted(PROBES))
def test_connect_timeout_and_unreachable(name: str) -> None:
    probe = type(PROBES[name])(_Failing(ConnectTimeout("slow")))  # type: ignore[call-arg]
    t = asyncio.run(probe.run(Endpoint("127.0.0.1", 1), ProbeConfig()))
    assert t.outcome is Outcome.CONNECT_TIMEOUT and t.steps == ()
    probe = type(PROBES[name])(_Failing(OSError(errno.EHOSTUNREACH, "No route")))  # type: ignore[call-arg]
    t = asyncio.run(probe.run(Endpoint("127.0.0.1", 1), ProbeConfig()))
    assert t.outcome is Outcome.UNREACHABLE


class _Fuzz:
    """A server that answers anything with the given chunks, then closes (or goes silent)."""

    def __init__(self, chunks: list[bytes], end: str, tls_ok: bool) -> None:
        self.chunks = chunks
        self.end = end
        self.tls_ok = tls_ok

    async def connect(self, ip: str, port: int, deadline: float) -> Stream:
        return _FuzzStream(list(self.chunks), self.end, self.tls_ok)


class _FuzzStream:
    def __init__(self, chunks: list[bytes], end: str, tls_ok: bool) -> None:
        self.chunks, self.end, self.tls_ok = chunks, end, tls_ok

    async def read(self, deadline: float) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.end == "timeout":
            raise ReadTimeout("fuzz")
        if self.end == "reset":
            raise ConnectionResetError("fuzz")
        return b""

    def write(self, data: bytes) -> None:
        pass

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, deadline: float
    ) -> TlsInfo:
        if self.tls_ok:
            return TlsInfo(version="TLSv1.2", cipher="fuzz")
        raise TlsFailure("fuzz")

    def close(self) -> None:
        pass


_PIECES = [
    b"220 ",
    b"220-",
    b"250-STARTTLS\r\n",
    b"250 ok\r\n",
    b"* OK [CAPABILITY STARTTLS] hi\r\n",
    b"a1 OK done\r\n",
    b"a2 OK go\r\n",
    b"+OK\r\n",
    b"STLS\r\n",
    b".\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: /owa/x\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"{3}\r\n",
    b"\r\n",
    b"\x00\xff",
    b"\x1b[31m",
]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(PROBES)),
    chunks=st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=12)), max_size=12).map(
        lambda xs: [b"".join(xs[i : i + 2]) for i in range(0, len(xs), 2)]
    ),
    end=st.sampled_from(["close", "timeout", "reset"]),
    tls_ok=st.booleans(),
    implicit=st.booleans(),
)
def test_no_server_behaviour_makes_a_probe_raise(
    name: str, chunks: list[bytes], end: str, tls_ok: bool, implicit: bool
) -> None:
    probe = type(PROBES[name])(_Fuzz(chunks, end, tls_ok))  # type: ignore[call-arg]
    config = ProbeConfig(max_reply_bytes=64, max_body_bytes=16)
    t = asyncio.run(probe.run(Endpoint("127.0.0.1", 2525, tls=implicit), config))
    assert isinstance(t.outcome, Outcome)
    assert (t.outcome is Outcome.OK) == (t.error == "")
    assert all(isinstance(s, Step) and len(s.received) <= 64 for s in t.steps)
