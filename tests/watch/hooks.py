"""A real HTTP receiver for webhooks on loopback, in a thread of the test process.

It checks every request's signature with the shared secret (as a receiver must:
``mxcensus.watch.delivery.verify``), records it, and answers from a plan: a list of
behaviours consumed one per request — an HTTP status (``500``) or ``"hang"`` (answer
nothing for longer than the sender waits) — then ``200`` for ever.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mxcensus.watch.delivery import SIGNATURE_HEADER, TICKET_HEADER, verify


@dataclass
class Received:
    ticket: str
    body: bytes
    signed: bool
    answered: int | str


@dataclass
class Receiver:
    secret: bytes
    plan: list[int | str] = field(default_factory=list)
    hang_seconds: float = 3.0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> int | str:
        with self.lock:
            return self.plan.pop(0) if self.plan else 200


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 10_000_000))
            signed = verify(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, ""),
                            time.time())  # fmt: skip
            answer = receiver.next_answer() if signed else 401
            with receiver.lock:
                receiver.received.append(
                    Received(self.headers.get(TICKET_HEADER, ""), body, signed, answer)
                )
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                return
            assert isinstance(answer, int)
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def webhook_receiver(secret: bytes, plan: list[int | str] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(secret, list(plan or ()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mxcensus"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
