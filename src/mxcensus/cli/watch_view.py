"""How the CLI shows watches, runs and events: plain text tables (every value from a
scanned server made visible-safe), JSON and neutralised CSV."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from mxcensus.text import visible

if TYPE_CHECKING:
    from mxcensus.store.watches import EventRow, MuteRow
    from mxcensus.watch.manage import WatchDetail, WatchLine

EVENT_COLUMNS = (
    "id", "created_at", "watch", "kind", "state", "ip", "port", "protocol", "cve", "hostname",
    "domain", "asn", "summary", "ticket", "contact",
)  # fmt: skip


def _t(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return visible(str(value), limit=120)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_t(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def watch_table(lines: Sequence[WatchLine]) -> str:
    if not lines:
        return "no watch yet (mxcensus watch add NAME --net CIDR | --domain D | --feed DIR …)"
    rows = [
        (w.spec.name, w.spec.kind, w.spec.schedule or "manual",
         f"{w.last.status} {_t(w.last.started_at)}" if w.last else "never",
         w.next_due, w.open_events, w.pending)
        for w in lines
    ]  # fmt: skip
    return table(("watch", "kind", "schedule", "last run", "next", "open", "unsent"), rows)


def watch_detail(d: WatchDetail) -> str:
    out = [f"watch {d.spec.name}"]
    out += [f"  {label}: {_t(value)}" for label, value in d.spec.describe()]
    out.append("")
    if d.runs:
        out.append(table(
            ("run", "status", "started", "finished", "scan", "problems"),
            [(r.id, r.status, r.started_at, r.finished_at, r.scan, len(r.problems))
             for r in d.runs],
        ))  # fmt: skip
    else:
        out.append("no run yet (mxcensus watch run " + d.spec.name + ")")
    if d.domains:
        out += ["", "per domain (last run):"]
        out.append(table(
            ("domain", "host", "address", "found as", "services", "at risk", "software"),
            [tuple(r) for r in d.domains],
        ))  # fmt: skip
    if d.events_by_kind:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(d.events_by_kind.items()))
        out += ["", f"events: {kinds}"]
    if d.outbox:
        out += ["", "not yet delivered:"]
        out += [f"  {o.ticket} {o.channel} to {_t(o.target)}: {o.attempts} tries, "
                f"{_t(o.last_error)}" for o in d.outbox]  # fmt: skip
    return "\n".join(out)


def run_lines(name: str, outcome: object) -> tuple[list[tuple[str, bool]], bool]:
    """(line, to stderr) pairs for one watch's pass, and whether it went well."""
    from mxcensus.watch.run import RunReport, WatchRunFailed

    if not isinstance(outcome, RunReport):
        problems = outcome.problems if isinstance(outcome, WatchRunFailed) else []
        return [*((f"watch {name}: {_t(p)}", True) for p in problems),
                (f"mxcensus: error: {outcome}", True)], False  # fmt: skip
    lines: list[tuple[str, bool]] = []
    for run, scan, events in outcome.runs:
        lines.append((f"watch {name}: run {run} (scan {scan}): {events} event"
                      f"{'' if events == 1 else 's'}", False))  # fmt: skip
    lines += [(f"watch {name}: {_t(p)}", True) for p in outcome.problems]
    for ticket, contact, n in outcome.tickets:
        lines.append((f"watch {name}: ticket {ticket} for {contact}: {n} event"
                      f"{'' if n == 1 else 's'}", False))  # fmt: skip
    for ticket, channel, target in outcome.sent:
        lines.append((f"watch {name}: sent {ticket} by {channel} to {_t(target)}", False))
    for ticket, channel, error in outcome.failed:
        lines.append((f"mxcensus: error: {ticket} ({channel}) not delivered, kept for the "
                      f"next run: {_t(error)}", True))  # fmt: skip
    for path in outcome.dry_run_files:
        lines.append((f"watch {name}: dry run: wrote {path}", False))
    if outcome.unrouted:
        lines.append((f"watch {name}: {outcome.unrouted} event(s) match no contact and the "
                      "contacts file has no fallback", True))  # fmt: skip
    return lines, not outcome.failed


def event_dict(e: EventRow) -> dict[str, Any]:
    from mxcensus.watch.messages import event_json

    return event_json(e)


def render_events(rows: Sequence[EventRow], fmt: str) -> bytes:
    from mxcensus.errors import UsageError

    if fmt == "json":
        return orjson.dumps([event_dict(e) for e in rows], option=orjson.OPT_INDENT_2) + b"\n"
    if fmt == "csv":
        from mxcensus.export.safe import write_csv

        buf = io.BytesIO()
        write_csv(buf, EVENT_COLUMNS, ([getattr(e, c) for c in EVENT_COLUMNS] for e in rows))
        return buf.getvalue()
    if fmt != "table":
        raise UsageError(f"--format {fmt!r}: one of table, json, csv")
    if not rows:
        return b"no events\n"
    text = table(
        ("id", "when", "watch", "kind", "state", "summary"),
        [(e.id, e.created_at, e.watch, e.kind, e.state, e.summary) for e in rows],
    )
    return (text + "\n").encode()


def mute_table(rows: Sequence[MuteRow]) -> str:
    if not rows:
        return "no mutes"
    return table(
        ("id", "what", "value", "watch", "until", "note"),
        [(m.id, m.what, m.value, m.watch or "all", m.until, m.note) for m in rows],
    )
