"""How the CLI shows what the library does: progress bars (rich, on a terminal only),
one-screen summaries, and output to the terminal or a file. Rendering only: nothing here
decides anything, and the library never imports it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mxcensus.model import printable

if TYPE_CHECKING:
    from mxcensus.demo import DemoResult
    from mxcensus.engine.ingest import IngestDone
    from mxcensus.engine.parts import PartsDone
    from mxcensus.engine.run import ShardState
    from mxcensus.engine.session import ScanDone, ScanEvent
    from mxcensus.importers.run import ImportProgress, ImportResult
    from mxcensus.store.results import Totals

SHOWN_PROBLEMS = 5


# -- terminal and files ------------------------------------------------------------------


def terminal(output: Path | None) -> tuple[int, bool]:
    """Width and colour for terminal tables: colour only on a terminal, never in a file."""
    tty = output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return shutil.get_terminal_size((120, 24)).columns, tty


def written(path: Path, what: str) -> None:
    """The one line that confirms ``-o FILE`` (on stderr: stdout stays the data's)."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} KB"
    sys.stderr.write(f"mxcensus: wrote {what} to {path} ({shown})\n")


def _bar(*columns: Any, stderr: bool = False, console: Any = None) -> Any:
    """A transient rich progress bar with ``columns`` (rich loads only when one is drawn)."""
    from rich.console import Console
    from rich.progress import Progress

    return Progress(*columns, console=console or Console(stderr=stderr), transient=True)


# -- scans -------------------------------------------------------------------------------


def outcome_text(outcomes: dict[str, int]) -> str:
    return " · ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))


class ScanDisplay:
    """A scan's events as progress bars on stdout: probing, then analysing. Off, it
    draws nothing (pass it as the observer either way)."""

    def __init__(self, enabled: bool, console: Any = None) -> None:
        self.enabled = enabled
        self.console = console  # a rich Console; default: stdout's
        self._bar: Any = None
        self._phase = ""

    def __enter__(self) -> ScanDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def __call__(self, event: ScanEvent) -> None:
        if not self.enabled:
            return
        from mxcensus.engine.session import Analysing, Started

        if isinstance(event, Started):
            self._start("scanning", event.total)
        elif isinstance(event, Analysing):
            if self._phase != "analysing":
                self._start("analysing", event.total)
            self._bar.update(self._task, completed=event.written)
        elif self._bar is not None:
            self._bar.update(self._task, completed=event.done, rate=event.rate,
                             outcomes=outcome_text(event.outcomes),
                             shards=shard_text(event.shards))  # fmt: skip

    def _start(self, phase: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._stop()
        head = (TextColumn(phase), BarColumn(), MofNCompleteColumn())
        if phase == "scanning":
            self._bar = _bar(*head, TextColumn("{task.fields[rate]:>8.0f}/s"),
                             TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                             TextColumn("{task.fields[shards]}"),
                             TextColumn("{task.fields[outcomes]}"),
                             console=self.console)  # fmt: skip
        else:
            self._bar = _bar(*head, TimeElapsedColumn(), console=self.console)
        self._phase = phase
        self._task = self._bar.add_task(phase, total=total, rate=0.0, outcomes="", shards="")
        self._bar.start()

    def stop(self) -> None:
        """Take the bar off the screen (before printing a line); the next event redraws."""
        self._stop()
        self._phase = ""

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def shard_text(shards: tuple[ShardState, ...]) -> str:
    """A cluster's shards in a few words: running · done · retried."""
    if not shards:
        return ""
    running = sum(s.status in ("running", "waiting") for s in shards)
    done = sum(s.status == "done" for s in shards)
    retried = sum(s.attempts > 1 for s in shards)
    return f"shards {running} running · {done} done · {retried} retried"


def scan_summary(done: ScanDone, status: str = "finished") -> list[str]:
    """One screen: what was scanned, found, and how fast; a cluster's shards after it."""
    r, targets = done.result, done.plan.targets
    return [
        f"scan       {r.scan}  ({status})",
        f"targets    {r.total} endpoints = {targets.addresses.size} addresses × "
        f"{len(done.plan.ports)} port(s); {targets.blocked} blocklisted, "
        f"{targets.excluded} excluded",
        f"services   {done.services} stored, {r.outcomes.get('ok', 0)} answered the full dialogue",
        f"outcomes   {outcome_text(r.outcomes) or '-'}",
        f"duration   {r.duration:.2f} s, {r.rate:.0f} targets/s ({r.probed} probed in this run)",
        *shard_summary(r.shards, r.total),
    ]


SHOWN_SHARDS = 32


def shard_summary(shards: tuple[ShardState, ...], total: int) -> list[str]:
    """Per shard: targets, results, attempts, node and time; and that the shards' targets
    add up to the scan's (every target in exactly one shard). Past :data:`SHOWN_SHARDS`,
    the retried shards and the slowest."""
    if not shards:
        return []
    whole = sum(s.total for s in shards)
    check = "every target in one shard" if whole == total else f"NOT the scan's {total}"
    counts = " + ".join(str(s.total) for s in shards[:8]) + (" + …" if len(shards) > 8 else "")
    lines = [
        f"shards     {len(shards)}: {counts} = {whole} targets ({check})",
        f"           {shard_text(shards)}",
    ]
    shown = list(shards)
    if len(shown) > SHOWN_SHARDS:
        retried = [s for s in shown if s.attempts > 1]
        slow = sorted(shown, key=lambda s: -s.seconds)[:10]
        shown = list(dict.fromkeys(retried[:SHOWN_SHARDS] + slow))
        lines.append(f"           (the retried and the 10 slowest of {len(shards)})")
    for s in shown:
        tries = f"{s.attempts} attempts" if s.attempts != 1 else "1 attempt"
        node = f"  node {s.node[:12]}" if s.node else ""
        lines.append(
            f"  {s.key:<24} {s.done:>10}/{s.total:<10} {s.status:<8} {tries:<11} "
            f"{s.seconds:7.1f} s{node}"
        )
    return lines


def parts_summary(done: PartsDone) -> list[str]:
    """One shard of a Job: where its parts are and what they hold."""
    r = done.result
    state = "complete already, nothing to do" if done.already else "complete"
    return [
        f"shard      {done.plan.index} of {done.plan.shards}  ({state})",
        f"parts      {done.parts} in {printable(done.where.encode(), 300)}",
        f"targets    {r.total} endpoints of the shard, {done.rows} results "
        f"(one each; the marker written last)",
        f"outcomes   {outcome_text(r.outcomes) or '-'}",
        f"duration   {r.duration:.2f} s, {r.rate:.0f} targets/s ({r.probed} probed in this run)",
        "next       mxcensus ingest URI --name NAME, once every shard is complete",
    ]


class IngestDisplay:
    """An ingest's parts, then its analysis, as a progress bar on stdout (or nothing)."""

    def __init__(self, enabled: bool) -> None:
        self.scan = ScanDisplay(enabled)

    def __enter__(self) -> IngestDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.scan._stop()

    def __call__(self, event: object) -> None:
        if not self.scan.enabled:
            return
        from mxcensus.engine.ingest import Ingesting
        from mxcensus.engine.session import Analysing

        if isinstance(event, Ingesting):
            if self.scan._phase != "ingesting":
                self.scan._start("ingesting", event.total)
            self.scan._bar.update(self.scan._task, completed=event.parts)
        elif isinstance(event, Analysing):
            self.scan(event)


def ingest_summary(done: IngestDone) -> list[str]:
    state = "finished" if done.finished else "unfinished: shards are missing"
    return [
        f"scan       {done.scan} {printable(done.name.encode(), 100)}  ({state})",
        f"shards     {len(done.complete)} of {done.shards} complete and in the store; "
        f"{len(done.missing)} missing, {len(done.incomplete)} incomplete",
        f"ingested   {done.parts} new part(s), {done.rows} results in this run; "
        f"{done.results} in the scan",
        f"services   {done.services} stored" if done.services else "services   unchanged",
    ]


# -- imports -----------------------------------------------------------------------------


@contextmanager
def import_progress(*, enabled: bool = True) -> Iterator[Any]:
    """A progress callback drawing a bar on stderr, or None when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

    bar = _bar(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
               TimeRemainingColumn(), stderr=True)  # fmt: skip
    task = bar.add_task("importing", total=None, what="")
    analysing = None

    def update(p: ImportProgress) -> None:
        nonlocal analysing
        if p.phase == "analyse":
            if analysing is None:
                bar.update(task, visible=False)
                analysing = bar.add_task("analysing", total=None, what="")
            bar.update(analysing, total=max(p.transcripts, 1), completed=p.services,
                       what=f"{p.services:>12,} of {p.transcripts:,} services")  # fmt: skip
            return
        size = f"{p.bytes_done / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB"
        bar.update(task, total=max(p.bytes_total, 1), completed=p.bytes_done,
                   what=f"{size} {p.records:>12,} records")  # fmt: skip

    with bar:
        yield update


def _where(r: ImportResult) -> str:
    """ "   (first at f.json:17, f.json:500 …)" — the first malformed records' places."""
    if not r.malformed:
        return ""
    shown = ", ".join(f"{p.path.rsplit('/', 1)[-1]}:{p.line}" for p in r.problems[:3])
    more = " …" if r.malformed > 3 else ""
    return f"   (first at {printable(shown.encode(), 200)}{more})"


def import_summary(r: ImportResult) -> tuple[str, str]:
    """(summary for stdout, malformed-record report for stderr — empty when none)."""
    files = f"{len(r.files)} file" + ("s" if len(r.files) != 1 else "")
    rate = r.records / r.seconds if r.seconds > 0 else 0.0
    lines = [
        f"imported {r.fmt} ({files}, {r.bytes_read / 1e6:.1f} MB) into scan {r.scan}",
        f"  records      {r.records:>12,}",
        f"  transcripts  {r.transcripts:>12,}",
        f"  skipped      {r.skipped:>12,}   (no mail or web service)",
        f"  malformed    {r.malformed:>12,}" + _where(r),
        f"  services     {r.services:>12,}   (identified, assessed, enriched)"
        if r.analyzed
        else "  services     not analysed",
        f"  time         {r.seconds:>12.1f} s ({rate:,.0f} records/s)",
    ]
    warn: list[str] = []
    if r.malformed:
        shown = r.problems[:SHOWN_PROBLEMS]
        warn.append(f"mxcensus: warning: {r.malformed:,} malformed record(s) skipped; the first:")
        warn.extend(f"  {printable(str(p).encode(), 300)}" for p in shown)
        if r.malformed > len(shown):
            warn.append(f"  … and {r.malformed - len(shown):,} more")
    return "\n".join(lines), "\n".join(warn)


# -- the demo ----------------------------------------------------------------------------


def _hosts_where(t: Totals) -> tuple[int, int]:
    """(end-of-support hosts, hosts at risk) of a scan: the continents' rows add up to
    the scan's hosts (each host is placed once; those without a continent under None)."""
    rows = t.places.get("continent", ())
    return sum(r.eol_hosts for r in rows), sum(r.at_risk_hosts for r in rows)


def _change(before: int, after: int) -> str:
    return f"{after - before:+,}" if after != before else "0"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 owner``, ``4 owners``, ``0 owners``."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def demo_summary(res: DemoResult) -> list[str]:
    """The demo's last screen: headline numbers, the top risks, the change since the first
    scan and the commands to go on with (at most 80 columns wide)."""
    from mxcensus.demo import SCANS
    from mxcensus.report.names import line_label

    s = res.summary
    a, b = s.after, s.before
    eol_a, risk_a = _hosts_where(a)
    eol_b, risk_b = _hosts_where(b)
    countries = sum(1 for r in a.places.get("country", ()) if r.place)
    continents = sum(1 for r in a.places.get("continent", ()) if r.place)
    pct = f" ({100 * risk_a / a.hosts:.0f} %)" if a.hosts else ""
    vul, pot = "vulnerable", "potentially-vulnerable"
    lines = [
        "",
        f"{SCANS[1]}: {plural(a.services, 'service')} on {plural(a.hosts, 'host')} in "
        f"{plural(countries, 'country', 'countries')} on {plural(continents, 'continent')}",
        f"  {plural(risk_a, 'host')} at risk{pct}: {a.hosts_by_verdict[vul]:,} vulnerable, "
        f"{a.hosts_by_verdict[pot]:,} potentially vulnerable",
        f"  {plural(eol_a, 'host')} past end of support",
    ]
    if s.top:
        lines += ["", f"{'Top risks (services)':<40}{'vulnerable':>12}{'potentially':>13}"]
        lines += [
            f"  {_clip(str(line_label(r.keys[0])), 38):<38}{r.vulnerable:>12,}{r.potentially:>13,}"
            for r in s.top
        ]
    head = f"{'Since ' + SCANS[0] + ' (hosts)':<34}{SCANS[0]:>10}{SCANS[1]:>10}{'change':>10}"
    rows = (
        ("hosts", b.hosts, a.hosts),
        ("at risk", risk_b, risk_a),
        ("vulnerable", b.hosts_by_verdict[vul], a.hosts_by_verdict[vul]),
        ("potentially vulnerable", b.hosts_by_verdict[pot], a.hosts_by_verdict[pot]),
        ("past end of support", eol_b, eol_a),
    )
    lines += ["", head]
    lines += [f"  {k:<32}{x:>10,}{y:>10,}{_change(x, y):>10}" for k, x, y in rows]
    churn = {c.category: c.hosts for c in s.churn}
    moves = (("fixed", "fixed"), ("newly at risk", "newly at risk"), ("newly seen", "new"),
             ("gone", "gone"))  # fmt: skip
    lines.append("  " + ", ".join(f"{label} {churn.get(key, 0):,}" for key, label in moves))
    db = res.db
    lines += [
        "",
        f"Stored in {db} (the lab's networks: {res.geo_db.name}).",
        "Next:",
        f"  mxcensus report --db {db} --format html -o report.html",
        f"  mxcensus trend --db {db}",
        f"  mxcensus explain {s.example or 'IP:PORT'} --db {db}",
        f"  mxcensus notify --db {db} --per asn --out notices",
        f"  mxcensus serve --db {db}",
    ]
    return lines


def _clip(text: str, width: int) -> str:
    text = printable(text.encode(), 300)
    return text if len(text) <= width else text[: width - 1] + "…"


# -- identify ----------------------------------------------------------------------------

_WORST = ("vulnerable", "potentially-vulnerable")
SHOWN_CVES = 3


def identify_text(r: dict[str, Any]) -> str:
    """One identified banner for a person: what it is, how precisely, the worst verdicts
    (KEV first) and end of support, the banner; ``--format json`` has everything."""
    from mxcensus.report.names import NOT_SEEN, line_label, product_label

    product = str(product_label(r.get("product")))
    version = r.get("version") or ""
    head = f"{product} {version}".strip()
    line = line_label(r.get("product_line"))
    if r.get("product_line") and line not in (product, head) and NOT_SEEN not in str(line):
        head += f" — {line}"
    lines = [f"{head}  [{r.get('protocol', '')}; precision {r.get('precision', 'none')}]"]
    cves = [c for c in r.get("cves") or () if c.get("status") in _WORST]
    if cves:
        worst = "vulnerable" if any(c["status"] == "vulnerable" for c in cves) else _WORST[1]
        top = sorted((c for c in cves if c["status"] == worst),
                     key=lambda c: (not c.get("kev"), c["id"]))  # fmt: skip
        shown = ", ".join(c["id"] + (" (KEV)" if c.get("kev") else "") for c in top[:SHOWN_CVES])
        more = len(cves) - min(len(top), SHOWN_CVES)
        lines.append(f"  {worst}: {shown}" + (f" and {more} more" if more else ""))
    unknown = sum(1 for c in r.get("cves") or () if c.get("status") == "unknown")
    if unknown:
        lines.append(f"  {plural(unknown, 'CVE')} cannot be judged from this banner")
    elif r.get("cves") and not cves:
        lines.append(f"  not vulnerable to the {plural(len(r['cves']), 'CVE')} judged")
    eol = r.get("eol") or {}
    if eol.get("eol") is True:
        since = f" since {eol['date']}" if eol.get("date") else ""
        lines.append(f"  end of support{since}")
    elif eol.get("eol") is False:
        lines.append("  supported")
    elif eol.get("reason"):
        lines.append(f"  end of support: unknown ({eol['reason']})")
    if r.get("product") == "unknown":
        lines.append("  not identified" + (f": {r['reason']}" if r.get("reason") else ""))
    lines.append(f"  banner: {_clip(str(r.get('banner') or ''), 70)}")
    return "\n".join(lines) + "\n"
