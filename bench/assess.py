"""How fast is assess() per service, with the per-(product, version) cache warm?

Target: assess together with identify at >= 200,000 banners/s on one core, so assess alone
should cost well under 5 µs per call. Prints medians of several runs and the ratio against a
baseline loop measured in the same run (a dict lookup per service), so the figure means
something on a shared machine.

    python bench/assess.py [--n 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.model import Identification, Outcome, Precision, Step, Transcript, Transport


def population(n: int, seed: int = 1) -> list[tuple[Identification, Transcript]]:
    rng = random.Random(seed)
    k = kb.get()
    builds = sorted(k.builds)
    exim = [r.version for r in k.releases["exim"]]
    when = datetime(2026, 9, 1, tzinfo=UTC)
    ehlos = [
        b"250-mx Hello\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 HELP\r\n",
        b"250-mx Hello\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-STARTTLS\r\n250 HELP\r\n",
        b"250-mx Hello\r\n250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 HELP\r\n",
    ]
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.45:
            ident = Identification("exim", version=rng.choice(exim), precision=Precision.VERSION)
        elif r < 0.60:
            b = rng.choice(builds)
            prec = rng.choice([Precision.BUILD4, Precision.BUILD3])
            v = b if prec is Precision.BUILD4 else b.rsplit(".", 1)[0]
            ident = Identification("ms-exchange", version=v, precision=prec)
        elif r < 0.85:
            ident = Identification("postfix", precision=Precision.PRODUCT)
        elif r < 0.95:
            ident = Identification("dovecot", precision=Precision.PRODUCT)
        else:
            ident = Identification.unknown("no match")
        t = Transcript(
            ip=f"192.0.2.{i % 250}",
            port=25,
            protocol="smtp",
            transport=Transport.PLAIN,
            observed_at=when,
            outcome=Outcome.OK,
            steps=(
                Step("greeting", received=b"220 mx ESMTP\r\n", code=220),
                # every host's EHLO names the host and the client: never the same bytes twice
                Step(
                    "ehlo",
                    received=f"250-mx{i}.example Hello scanner [192.0.2.1]\r\n".encode()
                    + rng.choice(ehlos),
                    code=250,
                ),
            ),
        )
        out.append((ident, t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    kb.get()
    print(f"knowledge load: {time.perf_counter() - t0:.3f} s")
    pop = population(args.n)
    t0 = time.perf_counter()
    for ident, t in pop[:50_000]:
        assess(ident, t)  # warm the caches (first sight of each product/version)
    print(f"warm-up (cold cache, 50,000 services): {time.perf_counter() - t0:.3f} s")
    table = {i.product: 1 for i, _ in pop}
    base, real = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        for ident, _t in pop:
            table.get(ident.product)
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for ident, t in pop:
            assess(ident, t)
        real.append(time.perf_counter() - t0)
    b, r = statistics.median(base), statistics.median(real)
    print(f"services per run: {args.n:,}, runs: {args.runs}")
    print(f"baseline dict lookup: {b / args.n * 1e6:.3f} µs/service")
    print(f"assess (warm cache):  {r / args.n * 1e6:.3f} µs/service = {args.n / r:,.0f} services/s")
    print(f"ratio assess/baseline: {r / b:.1f}x")
    groups: dict[str, list[tuple[Identification, Transcript]]] = {}
    for ident, t in pop:
        groups.setdefault(ident.product, []).append((ident, t))
    for product, items in sorted(groups.items()):
        t0 = time.perf_counter()
        for ident, t in items:
            assess(ident, t)
        per = (time.perf_counter() - t0) / len(items)
        print(f"  {product:12} {len(items):7,} services  {per * 1e6:7.3f} µs/service")


if __name__ == "__main__":
    main()
