"""Port lists: ``25,465,587``, ``1000-1010``; each port 1–65535."""

from __future__ import annotations

from mxcensus.errors import UsageError


def parse_ports(text: str) -> tuple[int, ...]:
    ports: set[int] = set()
    for item in text.split(","):
        part = item.strip()
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise UsageError(f"-p {text}: {part!r} is not a port number or range") from None
        for p in (a, b):
            if not 1 <= p <= 65535:
                raise UsageError(f"-p {text}: port {p} is outside 1-65535")
        if b < a:
            raise UsageError(f"-p {text}: range {part} ends before it starts")
        ports.update(range(a, b + 1))
    return tuple(sorted(ports))
