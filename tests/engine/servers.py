"""Loopback SMTP-ish servers that count connections per (ip, port), for engine tests."""

from __future__ import annotations

import asyncio
import collections
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CountingServers:
    """Greets on every (ip, port) after ``delay`` seconds; counts accepted connections."""

    def __init__(self, addrs: list[tuple[str, int]], delay: float = 0.0) -> None:
        self.addrs = addrs
        self.delay = delay
        self.counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self.open: collections.Counter[str] = collections.Counter()  # per /24, now
        self.peak: collections.Counter[str] = collections.Counter()  # per /24, highest
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[asyncio.Server] = []

    async def _start(self) -> None:
        for ip, port in self.addrs:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
            self.servers.append(
                await asyncio.start_server(self._handler(ip, port), sock=sock, backlog=512)
            )

    async def _stop(self) -> None:
        for s in self.servers:
            s.close()
        for s in self.servers:
            await s.wait_closed()

    def _handler(self, ip: str, port: int):  # type: ignore[no-untyped-def]
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.counts[(ip, port)] += 1
            net = ip.rsplit(".", 1)[0]
            self.open[net] += 1
            self.peak[net] = max(self.peak[net], self.open[net])
            try:
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(b"220 test ESMTP ready\r\n")
                await writer.drain()
                await reader.readline()
                writer.write(b"221 bye\r\n")
                await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                self.open[net] -= 1
                writer.close()

        return handle

    def snapshot(self) -> dict[tuple[str, int], int]:
        return asyncio.run_coroutine_threadsafe(self._snap(), self.loop).result(5)

    async def _snap(self) -> dict[tuple[str, int], int]:
        return dict(self.counts)


@contextmanager
def counting_servers(addrs: list[tuple[str, int]], delay: float = 0.0) -> Iterator[CountingServers]:
    srv = CountingServers(addrs, delay)
    srv.thread.start()
    fut = asyncio.run_coroutine_threadsafe(srv._start(), srv.loop)
    fut.result(10)
    try:
        yield srv
    finally:
        asyncio.run_coroutine_threadsafe(srv._stop(), srv.loop).result(10)
        srv.loop.call_soon_threadsafe(srv.loop.stop)
        srv.thread.join(5)
        srv.loop.close()


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])
