"""Banners per second for identify (+ assess when available) on one core.

Generates N banners from the rule examples of the banner fields (smtp.banner, smtp.ehlo,
imap.banner, pop3.banner) and, unless ``--banners-only``, of the dialogue fields (the EHLO
shape, HELP, QUIT, IMAP CAPABILITY/ID/LOGOUT, POP3 CAPA, certificate subject and issuer:
``DIALOGUE``) with varied host names and dates so that no two are equal, then times:

- mxcensus: ``identify_field(field, banner)``, alone and with ``assess(ident, None)``,
  both as ``mxcensus identify`` calls it (remembered per identification object) and raw;
- baseline: a plain loop of ``re.search`` over the same patterns as written in the rule
  files (compiled as written: no keyword prefilter, no literal-prefix rewrite), in file
  order, first match wins, building the same identification, alone and with a plain
  ``assess(ident, None)`` call.

Rates are banners per second of this process's CPU time (``time.process_time``): on a
shared machine wall-clock time mostly measures the other processes. Prints rates per
repetition, their medians and the ratios, a reference speed of the core and the machine's
load average (to judge how much the other processes slowed this one). ``--breakdown`` adds
microseconds per banner of the bench loop alone (a do-nothing call), of the keyword
prefilter alone (``RuleSet.candidates``: words, keyword set, plan lookup) and of
``identify_field``; the rest of identify is the regexes and the caches. Usage:
    python bench/identify.py [--n 1000000] [--repeat 3] [--baseline-n 200000] [--breakdown]
        [--banners-only]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from mxcensus.identify import identify_field, rulesets
from mxcensus.identify.rules import SHAPE_OF, Rule

BANNERS = ("smtp.banner", "smtp.ehlo", "imap.banner", "pop3.banner")
DIALOGUE = (
    "smtp.ehlo-shape", "smtp.help", "smtp.quit", "imap.capability", "imap.id", "imap.logout",
    "pop3.capa", "tls.subject", "tls.issuer",
)  # fmt: skip
FIELDS = BANNERS + DIALOGUE
HOST = re.compile(
    r"(?<![\w-])(?:[A-Za-z][\w-]*\.)*"
    r"(?:example\.(?:org|com|net|de|fr|es|it|kr|cn|cz|mx)|google\.com|gmail\.com"
    r"|protection\.outlook\.com|outlook\.office365\.com)\b"
)
DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), +\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d")
KEEP = ("google.com", "gmail.com", "protection.outlook.com", "outlook.office365.com")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _assessor() -> Callable[[Any], Any]:
    """assess(ident, None) as ``mxcensus identify`` calls it (remembered per object)."""
    from mxcensus.banners import assess_memo

    return assess_memo()


def _raw_assessor() -> Callable[[Any], Any]:
    from mxcensus.assess import assess

    return lambda ident: assess(ident, None)


def _vary(text: str, n: int, rng: random.Random, field: str = "") -> str:
    def host(m: re.Match[str]) -> str:
        name = m.group(0)
        if name.startswith("www."):  # a URL in a reply, not the server's name
            return name
        keep = next(
            (s for s in KEEP if name.endswith(s)),
            None,
        )
        return f"mx{n}.{keep}" if keep else f"mx{n}.d{rng.randrange(1000)}.example.net"

    out, hosts = HOST.subn(host, text)
    date = (
        f"{rng.choice(DAYS)}, {rng.randrange(1, 29)} {rng.choice(MONTHS)} "
        f"{rng.randrange(2001, 2027)} {rng.randrange(24):02d}:{rng.randrange(60):02d}:"
        f"{rng.randrange(60):02d}"
    )
    out = DATE.sub(date, out)
    if not hosts and field not in DIALOGUE:  # equal dialogues repeat across servers
        out = out.rstrip("\r\n") + f" id{n}"
    return out


def generate(
    n: int, seed: int = 7, fields: tuple[str, ...] = FIELDS
) -> list[tuple[str, str, Rule]]:
    rng = random.Random(seed)
    sets = rulesets()
    pool = [(f, r, ex.input) for f in fields for r in sets[f].rules for ex in r.examples]
    return [
        (f, _vary(text, i, rng, f), rule)
        for i, (f, rule, text) in enumerate(rng.choices(pool, k=n))
    ]


def run_ours(items: list[tuple[str, str, Rule]], assess: Callable[[Any], Any] | None) -> float:
    t0 = time.process_time()
    if assess is None:
        for field, text, _ in items:
            identify_field(field, text)
    else:
        for field, text, _ in items:
            assess(identify_field(field, text))
    return len(items) / (time.process_time() - t0)


def run_baseline(items: list[tuple[str, str, Rule]], assess: Callable[[Any], Any] | None) -> float:
    patterns = {
        f: [(r, re.compile(r.written, re.ASCII)) for r in rulesets()[f].rules] for f in FIELDS
    }
    unknown = identify_field("smtp.banner", "")
    t0 = time.process_time()
    for field, text, _ in items:
        ident = unknown
        shape = SHAPE_OF.get(field)
        if shape is not None:
            text = shape(text)
        for rule, rx in patterns[field]:
            m = rx.search(text)
            if m is not None:
                ident = rule.build(m, field)  # the same identification, from the rule's cache
                break
        if assess is not None:
            assess(ident)
    return len(items) / (time.process_time() - t0)


def breakdown(items: list[tuple[str, str, Rule]]) -> dict[str, float]:
    """Microseconds per banner: the loop alone, the prefilter alone, identify_field."""
    sets = rulesets()
    candidates = {f: sets[f].candidates for f in FIELDS}

    def nothing(field: str, text: str) -> None:
        return None

    out = {}
    t0 = time.process_time()
    for field, text, _ in items:
        nothing(field, text)
    out["loop (a do-nothing call)"] = time.process_time() - t0
    t0 = time.process_time()
    for field, text, _ in items:
        candidates[field](text)
    out["keyword prefilter (candidates)"] = time.process_time() - t0
    t0 = time.process_time()
    for field, text, _ in items:
        identify_field(field, text)
    out["identify_field"] = time.process_time() - t0
    return {k: v / len(items) * 1e6 for k, v in out.items()}


def reference() -> float:
    """Plain Python function calls per second: how fast this core is right now."""

    def f(x: int) -> int:
        return x

    t0 = time.process_time()
    for i in range(1_000_000):
        f(i)
    return 1_000_000 / (time.process_time() - t0)


def check(items: list[tuple[str, str, Rule]], sample: int) -> int:
    """How many generated banners (of a sample) are no longer matched by their own rule."""
    wrong = 0
    for field, text, rule in items[:sample]:
        ident = identify_field(field, text)
        if not ident.evidence or ident.evidence[0].rule != rule.address:
            wrong += 1
    return wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-n", type=int, default=200_000, help="baseline sample size")
    ap.add_argument("--breakdown", action="store_true", help="also time the parts of identify")
    ap.add_argument(
        "--banners-only", action="store_true", help="the banner fields only (the old mix)"
    )
    args = ap.parse_args()

    t0 = time.process_time()
    items = generate(args.n, fields=BANNERS if args.banners_only else FIELDS)
    distinct = len({t for _, t, _ in items})
    rules = len({r.address for *_, r in items})
    took = time.process_time() - t0
    dialogue = sum(1 for f, _, _ in items if f in DIALOGUE)
    print(
        f"generated {len(items):,} banners ({distinct:,} distinct; {dialogue:,} of dialogue "
        f"fields) in {took:.1f}s from {rules} rules"
    )
    wrong = check(items, min(len(items), 50_000))
    print(f"self-check: {wrong} of {min(len(items), 50_000):,} not matched by their own rule")
    base_items = items[: args.baseline_n]
    runs: dict[str, Callable[[], float]] = {
        "identify": lambda: run_ours(items, None),
        "identify+assess": lambda: run_ours(items, _assessor()),
        "identify+raw assess": lambda: run_ours(items, _raw_assessor()),
        "baseline": lambda: run_baseline(base_items, None),
        "baseline+raw assess": lambda: run_baseline(base_items, _raw_assessor()),
    }
    rows: dict[str, list[float]] = {k: [] for k in runs}
    refs = []
    for i in range(args.repeat):
        refs.append(reference())
        for name, run in runs.items():
            rows[name].append(run())
        print(
            f"  run {i + 1}: "
            + "  ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rows.items())
            + f"  (reference: {refs[-1] / 1e6:.1f}M calls/s)"
        )
    med = {k: statistics.median(v) for k, v in rows.items()}
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"median reference: {statistics.median(refs) / 1e6:.1f}M plain function calls/s "
        f"(machine load 1/5/15 min: {load} on {os.cpu_count()} cores)"
    )
    for k, v in med.items():
        n = len(base_items) if k.startswith("baseline") else len(items)
        print(f"median {k:>20}: {v:>10,.0f} banners/s over {n:,}")
    print(f"ratio identify / baseline: {med['identify'] / med['baseline']:.1f}x (target >= 3x)")
    ratio = med["identify+assess"] / med["baseline+raw assess"]
    print(f"ratio identify+assess / baseline+raw assess: {ratio:.1f}x (target >= 3x)")
    print(f"identify+assess: {med['identify+assess']:,.0f}/s (target >= 200,000)")
    if args.breakdown:
        parts = [breakdown(items) for _ in range(args.repeat)]
        for k in parts[0]:
            us = statistics.median(p[k] for p in parts)
            print(f"breakdown {k:>31}: {us:5.2f} us/banner (median)")


if __name__ == "__main__":
    main()
