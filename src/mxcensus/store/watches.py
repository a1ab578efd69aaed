"""The watches' part of the store (migration 7): watch lists, runs, events, mutes, outbox.

Every method that changes more than one row is one transaction. The rules that make a
watch safe to kill at any instant live here:

- a run is ``running`` until :meth:`WatchStore.complete_run` writes its events, its
  hostnames, its feed files and ``done`` in one transaction; a run found ``running`` by
  the next one was killed and becomes ``abandoned`` — its events were never written, so it
  is redone, never half-counted;
- a notification is put in the outbox whole (ticket, Message-ID, payload) in the same
  transaction that gives its events to the ticket (:meth:`WatchStore.file_ticket`); it
  is ``pending`` until :meth:`WatchStore.mark_sent`, so a crash before that resends the
  very same message later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from mxcensus.errors import UsageError
from mxcensus.model import ScanId
from mxcensus.store.db import Store

_NO_ENDPOINT = (None,) * 5
"""The ip, port, protocol, hostname and asn of an event about no service (a problem)."""


class RunRow(NamedTuple):
    id: str
    watch: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    scan: str | None
    kind: str
    feed_day: str | None
    problems: list[str]


class EventRow(NamedTuple):
    id: int
    watch: str
    run: str
    created_at: datetime
    kind: str
    ip: str | None
    port: int | None
    protocol: str | None
    cve: str | None
    hostname: str | None
    domain: str | None
    asn: int | None
    summary: str
    evidence: dict[str, Any]
    state: str
    ticket: str | None
    contact: str | None


class MuteRow(NamedTuple):
    id: int
    what: str
    value: str
    watch: str | None
    until: datetime | None
    note: str | None
    created_at: datetime


class OutboxRow(NamedTuple):
    ticket: str
    channel: str
    watch: str
    contact: str
    target: str
    created_at: datetime
    state: str
    attempts: int
    next_attempt: datetime
    last_error: str | None
    sent_at: datetime | None
    message_id: str | None
    payload: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One channel of a ticket, ready to send."""

    channel: str
    target: str
    message_id: str | None
    payload: str


_EVENT_COLS = (
    "id, watch, run, created_at, kind, ip, port, protocol, cve, hostname, domain, asn, summary,"
    " evidence, state, ticket, contact"
)
_RUN_COLS = "id, watch, started_at, finished_at, status, scan, kind, feed_day, problems"
_OUTBOX_COLS = (
    "ticket, channel, watch, contact, target, created_at, state, attempts, next_attempt,"
    " last_error, sent_at, message_id, payload"
)
_EVENT_INSERT = (
    ("watch", "text"), ("run", "text"), ("created_at", "time"), ("kind", "text"),
    ("ip", "text"), ("port", "int"), ("protocol", "text"), ("cve", "text"),
    ("hostname", "text"), ("domain", "text"), ("asn", "int"), ("summary", "text"),
    ("evidence", "text"),
)  # fmt: skip
_NAME_INSERT = (
    ("scan", "text"), ("ip", "text"), ("hostname", "text"), ("source", "text"),
    ("domain", "text"),
)  # fmt: skip
_WATCH_TABLES = (
    ("watches", "name"), ("watch_runs", "watch"), ("watch_events", "watch"),
    ("watch_outbox", "watch"), ("watch_feed_files", "watch"), ("watch_mutes", "watch"),
)  # fmt: skip
EVENT_STATES = ("open", "notified", "acked", "muted", "unrouted")


def _domain_of(problem: str) -> str | None:
    """The domain a problem line is about (``domain example.org: …``)."""
    head, _, _ = problem.partition(":")
    return head[7:] if head.startswith("domain ") else None


def _run(row: tuple[Any, ...]) -> RunRow:
    return RunRow._make((*row[:-1], orjson.loads(row[-1]) if row[-1] else []))


def _event(row: tuple[Any, ...]) -> EventRow:
    values = list(row)
    values[13] = orjson.loads(values[13])
    return EventRow(*values)


class WatchStore:
    """The watch tables of one open :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.con = store.con

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        with self.store.transaction():
            yield

    def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    # -- watches ---------------------------------------------------------------------------

    def add_watch(self, name: str, spec: str, now: datetime, *, replace: bool) -> None:
        exists = self.store.row("SELECT 1 FROM watches WHERE name = ?", [name]) is not None
        if exists and not replace:
            raise UsageError(f"watch {name}: exists already (--replace changes it)")
        with self._tx():
            self.con.execute("DELETE FROM watches WHERE name = ?", [name])
            self.con.execute("INSERT INTO watches VALUES (?, ?, ?)", [name, spec, now])

    def watch_spec(self, name: str) -> str:
        row = self.store.row("SELECT spec FROM watches WHERE name = ?", [name])
        if row is None:
            raise UsageError(f"watch {name!r}: no such watch in {self.store.path}")
        return str(row[0])

    def watch_specs(self) -> list[tuple[str, str]]:
        return [
            (str(n), str(s)) for n, s in self._all("SELECT name, spec FROM watches ORDER BY name")
        ]

    def remove_watch(self, name: str) -> int:
        """Remove the watch, its runs, events and outbox (its scans stay); its events."""
        self.watch_spec(name)
        (events,) = self.store.row("SELECT count(*) FROM watch_events WHERE watch = ?", [name])
        with self._tx():
            for table, col in _WATCH_TABLES:
                self.con.execute(f"DELETE FROM {table} WHERE {col} = ?", [name])
        return int(events)

    # -- runs ------------------------------------------------------------------------------

    def runs(self, watch: str, limit: int = 20) -> list[RunRow]:
        rows = self._all(
            f"SELECT {_RUN_COLS} FROM watch_runs WHERE watch = ? ORDER BY started_at DESC LIMIT ?",
            [watch, limit],
        )
        return [_run(r) for r in rows]

    def last_done(self, watch: str) -> RunRow | None:
        row = self.store.row(
            f"SELECT {_RUN_COLS} FROM watch_runs WHERE watch = ? AND status = 'done'"
            " ORDER BY finished_at DESC LIMIT 1",
            [watch],
        )
        return _run(row) if row else None

    def last_started(self, watch: str) -> datetime | None:
        """When the last run that counts (done, or failed: it ran) started."""
        row = self.store.row(
            "SELECT max(started_at) FROM watch_runs WHERE watch = ? AND status IN ('done',"
            " 'failed')",
            [watch],
        )
        return row[0] if row else None

    def take_over_killed(self, watch: str, now: datetime) -> list[RunRow]:
        """Runs of ``watch`` left ``running`` (their process died: the caller holds the
        watch's lock): now ``abandoned``. Returned so their scans can be resumed."""
        rows = self._all(
            f"SELECT {_RUN_COLS} FROM watch_runs WHERE watch = ? AND status = 'running'"
            " ORDER BY started_at",
            [watch],
        )
        if rows:
            self.con.execute(
                "UPDATE watch_runs SET status = 'abandoned', finished_at = ? WHERE watch = ?"
                " AND status = 'running'",
                [now, watch],
            )
        return [_run(r) for r in rows]

    def start_run(
        self, run: str, watch: str, kind: str, now: datetime, feed_day: str | None
    ) -> None:
        self.con.execute(
            "INSERT INTO watch_runs VALUES (?, ?, ?, NULL, 'running', NULL, ?, ?, NULL)",
            [run, watch, now, kind, feed_day],
        )

    def set_run_scan(self, run: str, scan: ScanId) -> None:
        self.con.execute("UPDATE watch_runs SET scan = ? WHERE id = ?", [scan, run])

    def fail_run(self, run: str, problems: Sequence[str], now: datetime) -> None:
        self.con.execute(
            "UPDATE watch_runs SET status = 'failed', finished_at = ?, problems = ? WHERE id = ?",
            [now, orjson.dumps(list(problems)).decode(), run],
        )

    def complete_run(
        self,
        run: str,
        watch: str,
        events: Iterable[Any],
        *,
        feed_files: Iterable[tuple[str, str]] = (),
        problems: Sequence[str] = (),
        now: datetime,
        batch: int = 5_000,
    ) -> int:
        """The run's events (``watch.events.Event``: its ``endpoint`` None for a problem,
        whose service columns stay NULL), its feed files ((sha256, path)) and
        ``done``: one transaction. Returns the events stored."""
        count = 0
        with self._tx():
            rows: list[list[Any]] = []
            for e in events:
                ip, port, protocol, hostname, asn = e.endpoint or _NO_ENDPOINT
                rows.append([
                    watch, run, now, e.kind, ip, port, protocol, e.cve, hostname,
                    e.domain, asn, e.summary, orjson.dumps(e.evidence).decode(),
                ])  # fmt: skip
                count += 1
                if len(rows) >= batch:
                    self._insert_events(rows)
                    rows = []
            if rows:
                self._insert_events(rows)
            for sha, path in feed_files:
                self.con.execute(
                    "INSERT INTO watch_feed_files VALUES (?, ?, ?, ?)", [watch, sha, path, run]
                )
            self.con.execute(
                "UPDATE watch_runs SET status = 'done', finished_at = ?, problems = ? WHERE id = ?",
                [now, orjson.dumps(list(problems)).decode(), run],
            )
        return count

    def _insert_events(self, rows: list[list[Any]]) -> None:
        """One batch as an Arrow table in one INSERT (executemany binds row by row: ~1,000
        events a second)."""
        self._insert_arrow(
            "INSERT INTO watch_events (id, watch, run, created_at, kind, ip, port, protocol,"
            " cve, hostname, domain, asn, summary, evidence, state) SELECT"
            " nextval('watch_event_ids'), * , 'open' FROM _rows",
            _EVENT_INSERT,
            rows,
        )

    def _insert_arrow(
        self,
        sql: str,
        columns: Sequence[tuple[str, str]],
        rows: list[list[Any]],
        params: dict[str, Any] | None = None,
    ) -> None:
        import pyarrow as pa

        kinds = {"text": pa.string(), "int": pa.int64(), "time": pa.timestamp("us", tz="UTC")}
        table = pa.table(
            {
                name: pa.array([r[i] for r in rows], kinds[kind])
                for i, (name, kind) in enumerate(columns)
            }
        )
        self.con.register("_rows", table)
        try:
            self.con.execute(sql, params or {})
        finally:
            self.con.unregister("_rows")

    def add_problems(self, watch: str, run: str, problems: Sequence[str], now: datetime) -> None:
        """``problem`` events of a failed run (a done run stores them with its others)."""
        if problems:
            self._insert_events([
                [watch, run, now, "problem", None, None, None, None, None, _domain_of(p), None,
                 p, "{}"]
                for p in problems
            ])  # fmt: skip

    def replace_names(self, scan: str, names: Iterable[Any]) -> None:
        """The hostnames a scan probed its addresses under (``resolve.Name``), replacing
        any stored before (a resumed run writes them again)."""
        with self._tx():
            self.con.execute("DELETE FROM scan_names WHERE scan = ?", [scan])
            rows = [[scan, n.ip, n.hostname, n.source, n.domain] for n in names]
            if rows:
                self._insert_arrow("INSERT INTO scan_names SELECT * FROM _rows", _NAME_INSERT,
                                   rows)  # fmt: skip

    def feed_seen(self, watch: str) -> set[str]:
        return {str(r[0]) for r in self._all(
            "SELECT sha256 FROM watch_feed_files WHERE watch = ?", [watch])}  # fmt: skip

    def names_of(self, scan: str) -> list[tuple[str, str, str, str | None]]:
        """(domain, hostname, ip, source) of a scan's named addresses, by domain."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._all(
                "SELECT domain, hostname, ip, source FROM scan_names WHERE scan = ?"
                " ORDER BY domain, source, hostname, ip",
                [scan],
            )
        ]

    def domain_services(self, scan: str) -> list[tuple[Any, ...]]:
        """Per (domain, hostname, ip): exposed services, at-risk ones, worst verdict."""
        return self._all(
            """
            SELECT n.domain, n.hostname, n.ip, min(n.source),
                   count(s.port) FILTER (WHERE s.outcome NOT IN ('refused', 'unreachable',
                                         'connect-timeout', 'excluded')),
                   count(s.port) FILTER (WHERE s.worst_status IN ('vulnerable',
                                         'potentially-vulnerable') OR s.eol IS TRUE),
                   string_agg(DISTINCT s.product || coalesce(' ' || s.version, ''), ', ')
                       FILTER (WHERE s.product <> 'unknown')
            FROM scan_names n
            LEFT JOIN services s ON s.scan = n.scan AND s.ip = n.ip
            WHERE n.scan = ?
            GROUP BY n.domain, n.hostname, n.ip
            ORDER BY n.domain, n.hostname, n.ip
            """,
            [scan],
        )

    # -- events ----------------------------------------------------------------------------

    def events(
        self,
        *,
        watch: str | None = None,
        since: datetime | None = None,
        kinds: Sequence[str] = (),
        states: Sequence[str] = (),
        ids: Sequence[int] = (),
        ticket: str | None = None,
        limit: int | None = None,
    ) -> list[EventRow]:
        conds: list[str] = ["true"]
        params: list[Any] = []
        for col, value in (("watch", watch), ("ticket", ticket)):
            if value is not None:
                conds.append(f"{col} = ?")
                params.append(value)
        if since is not None:
            conds.append("created_at >= ?")
            params.append(since)
        lists: tuple[tuple[str, Sequence[Any]], ...] = (
            ("kind", kinds),
            ("state", states),
            ("id", ids),
        )
        for col, values in lists:
            if values:
                conds.append(f"{col} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        sql = f"SELECT {_EVENT_COLS} FROM watch_events WHERE {' AND '.join(conds)} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_event(r) for r in self._all(sql, params)]

    def set_state(self, ids: Sequence[int], state: str, now: datetime) -> int:
        """Acknowledge (or otherwise mark) events not yet given to a ticket; the count."""
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        with self._tx():
            (n,) = self.store.row(
                f"SELECT count(*) FROM watch_events WHERE id IN ({marks})",
                list(ids),
            )
            if n != len(set(ids)):
                raise UsageError("events: no event with some of those ids (see mxcensus events)")
            self.con.execute(
                f"UPDATE watch_events SET state = ?, state_at = ? WHERE id IN ({marks})"
                " AND state IN ('open', 'unrouted', 'muted', 'acked')",
                [state, now, *ids],
            )
        return int(n)

    def mark_routed(self, changes: Iterable[tuple[int, str, str | None]], now: datetime) -> None:
        """(event id, new state, contact) for events that will not go to a ticket now."""
        rows = [[eid, state, contact] for eid, state, contact in changes]
        if rows:
            self._insert_arrow(
                "UPDATE watch_events e SET state = r.state, contact = r.contact, state_at = $now"
                " FROM _rows r WHERE e.id = r.id",
                (("id", "int"), ("state", "text"), ("contact", "text")),
                rows,
                {"now": now},
            )

    # -- mutes -----------------------------------------------------------------------------

    def add_mute(
        self, what: str, value: str, watch: str | None, until: datetime | None,
        note: str | None, now: datetime,
    ) -> int:  # fmt: skip
        (mid,) = self.store.row("SELECT nextval('watch_mute_ids')")
        self.con.execute(
            "INSERT INTO watch_mutes VALUES (?, ?, ?, ?, ?, ?, ?)",
            [mid, what, value, watch, until, note, now],
        )
        return int(mid)

    def remove_mute(self, mid: int) -> None:
        if self.store.row("SELECT 1 FROM watch_mutes WHERE id = ?", [mid]) is None:
            raise UsageError(f"events unmute {mid}: no such mute (see mxcensus events mutes)")
        self.con.execute("DELETE FROM watch_mutes WHERE id = ?", [mid])

    def mutes(self, now: datetime | None = None) -> list[MuteRow]:
        sql = "SELECT id, what, value, watch, until, note, created_at FROM watch_mutes"
        params: list[Any] = []
        if now is not None:
            sql += " WHERE until IS NULL OR until > ?"
            params.append(now)
        return [MuteRow(*r) for r in self._all(sql + " ORDER BY id", params)]

    # -- tickets and the outbox ------------------------------------------------------------

    def last_ticket(self, watch: str, contact: str) -> datetime | None:
        row = self.store.row(
            "SELECT max(created_at) FROM watch_outbox WHERE watch = ? AND contact = ?"
            " AND state <> 'dry-run'",
            [watch, contact],
        )
        return row[0] if row else None

    def file_ticket(
        self,
        ticket: str,
        watch: str,
        contact: str,
        event_ids: Sequence[int],
        outgoing: Sequence[Outgoing],
        now: datetime,
        *,
        dry_run: bool = False,
    ) -> None:
        """The ticket's messages into the outbox and its events to it: one transaction.
        A dry run stores the messages as ``dry-run`` and leaves the events open."""
        with self._tx():
            for o in outgoing:
                self.con.execute(
                    f"INSERT INTO watch_outbox ({_OUTBOX_COLS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, NULL, ?, ?)",
                    [ticket, o.channel, watch, contact, o.target, now,
                     "dry-run" if dry_run else "pending", now, o.message_id, o.payload],
                )  # fmt: skip
            if not dry_run and event_ids:
                self._insert_arrow(
                    "UPDATE watch_events e SET state = 'notified', ticket = $ticket,"
                    " contact = $contact, state_at = $now FROM _rows r WHERE e.id = r.id",
                    (("id", "int"),),
                    [[i] for i in event_ids],
                    {"ticket": ticket, "contact": contact, "now": now},
                )

    def due(self, now: datetime, watch: str | None = None) -> list[OutboxRow]:
        sql = (
            f"SELECT {_OUTBOX_COLS} FROM watch_outbox WHERE state = 'pending' AND next_attempt <= ?"
        )
        params: list[Any] = [now]
        if watch is not None:
            sql += " AND watch = ?"
            params.append(watch)
        return [OutboxRow(*r) for r in self._all(sql + " ORDER BY created_at, ticket", params)]

    def outbox(self, watch: str | None = None, states: Sequence[str] = ()) -> list[OutboxRow]:
        conds, params = ["true"], []
        if watch is not None:
            conds.append("watch = ?")
            params.append(watch)
        if states:
            conds.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        return [
            OutboxRow(*r)
            for r in self._all(
                f"SELECT {_OUTBOX_COLS} FROM watch_outbox WHERE {' AND '.join(conds)}"
                " ORDER BY created_at, ticket, channel",
                params,
            )
        ]

    def attempt(self, ticket: str, channel: str, retry_at: datetime) -> None:
        """Count an attempt before it is made (so a crash during it counts too); unless
        it succeeds, the next pass tries again from ``retry_at``."""
        self.con.execute(
            "UPDATE watch_outbox SET attempts = attempts + 1, next_attempt = ?"
            " WHERE ticket = ? AND channel = ?",
            [retry_at, ticket, channel],
        )

    def note_error(self, ticket: str, channel: str, error: str) -> None:
        self.con.execute(
            "UPDATE watch_outbox SET last_error = ? WHERE ticket = ? AND channel = ?",
            [error, ticket, channel],
        )

    def mark_sent(self, ticket: str, channel: str, now: datetime) -> None:
        self.con.execute(
            "UPDATE watch_outbox SET state = 'sent', sent_at = ?, last_error = NULL"
            " WHERE ticket = ? AND channel = ?",
            [now, ticket, channel],
        )
