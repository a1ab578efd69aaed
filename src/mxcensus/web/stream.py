"""Streaming a download: an export writer (which writes to a binary file) runs in a thread
of its own and hands its output over a bounded queue to the response, a chunk at a time —
so a download of ten million services holds a few chunks, never the file. A client that
goes away stops the writer at its next write."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

CHUNK = 256 * 1024
DEPTH = 8


class Gone(Exception):
    """The client stopped reading."""


class _Pipe:
    """The writer's side: a write-only binary file whose chunks go to the queue."""

    def __init__(self, q: queue.Queue[bytes | BaseException | None], stop: threading.Event):
        self._q = q
        self._stop = stop
        self._buf = bytearray()
        self._written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._stop.is_set():
            raise Gone()
        self._buf += data
        self._written += len(data)
        if len(self._buf) >= CHUNK:
            self._put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def _put(self, item: bytes | BaseException | None) -> None:
        while True:
            if self._stop.is_set():
                raise Gone()
            try:
                self._q.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return self._written

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def finish(self) -> None:
        if self._buf:
            self._put(bytes(self._buf))
            self._buf.clear()


def streamed(write: Callable[[BinaryIO], object]) -> Iterator[bytes]:
    """The bytes ``write(file)`` writes, as they come. An error in the writer ends the
    stream early (the response is cut: a client sees an incomplete download, never a
    complete-looking wrong one)."""
    q: queue.Queue[bytes | BaseException | None] = queue.Queue(DEPTH)
    stop = threading.Event()
    pipe = _Pipe(q, stop)

    def run() -> None:
        try:
            write(pipe)  # type: ignore[arg-type]
            pipe.finish()
            pipe._put(None)
        except Gone:
            return
        except Exception as exc:  # noqa: BLE001 - handed to the response, which ends it
            try:
                pipe._put(exc)
            except Gone:
                return

    thread = threading.Thread(target=run, name="mxcensus-download", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
