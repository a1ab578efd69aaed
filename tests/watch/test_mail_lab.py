"""A watch over the lab at two epochs, domains resolved by a real NSD, owners told through
a real Exim on loopback: the right owner gets one message with the right events and a
Shadowserver CSV, the interval holds, an acknowledged event is not sent, the events
match the lab's truth exactly, and a run killed between "sent" and "recorded" sends the
same message again (same ticket, same Message-ID), once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mxcensus.lab.api import Lab
from mxcensus.lab.population import LabConfig, free_base, span
from mxcensus.store.db import Store
from mxcensus.store.watches import EventRow
from mxcensus.watch.events import NOT_EXPOSED
from mxcensus.watch.manage import WatchInput, ack, add_watch, detail, list_events
from mxcensus.watch.run import RunOptions, run_watch
from tests.conftest import SRC
from tests.servers import MailSink, mail_sink_server
from tests.watch.dns import nsd_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE, SEED = 40, 11
PORTS = (25, 443)


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    with mail_sink_server(domains=("example.test",)) as s:
        yield s


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def body_of(message: Any) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return str(part.get_payload(decode=True).decode("utf-8"))


def csv_ips(message: Any) -> set[str]:
    ips = set()
    for p in message.walk():
        if p.get_filename():
            rows = csv.DictReader(io.StringIO(p.get_payload(decode=True).decode()))
            ips |= {r["ip"] for r in rows}
    return ips


def event_ips(body: str) -> set[str]:
    return {ln[3:].split(" ")[0] for ln in body.splitlines() if ln.startswith("== ")}


def test_two_epochs_told_to_their_owners_through_exim(tmp_path: Path, sink: MailSink) -> None:
    base = free_base(span(LabConfig(size=SIZE, epoch=1)), PORTS)
    net = f"{base.rsplit('.', 1)[0]}.0/26"
    low = f"{base.rsplit('.', 1)[0]}.0/28"
    with contextlib.ExitStack() as stack:
        lab0 = stack.enter_context(Lab(SIZE, SEED, base=base, hostile_fraction=0.0, ports=PORTS))
        truth0 = lab0.truth["hosts"]
        smtp_hosts = lab0.serving(25)
        mx1, mx2 = smtp_hosts[1], smtp_hosts[3]  # both inside the /28: the domain wins
        records = [
            "alpha MX 10 mx1.alpha", "alpha MX 20 mx2.alpha", f"mx1.alpha A {mx1}",
            f"mx2.alpha A {mx2}", "mx2.alpha AAAA ::1", "gamma MX 0 .",
            "never MX 10 mx.never", "mx.never A 0.0.0.7",
        ]  # fmt: skip
        resolver = stack.enter_context(nsd_server(records))
        db, clock = setup(tmp_path, sink, net, low, resolver)
        first = run_watch("lab", RunOptions(db=db, clock=clock))
        assert first.failed == [] and len(first.sent) == 3
        messages = sink.wait_for(3)
        assert len(messages) == 3
        by_rcpt = {m["Envelope-to"]: m for m in messages}
        assert set(by_rcpt) == {"alpha@example.test", "low@example.test", "cert@example.test"}
        alpha = body_of(by_rcpt["alpha@example.test"])
        assert event_ips(alpha) == {mx1, mx2} and "mx1.alpha.test" in alpha
        lowbody = body_of(by_rcpt["low@example.test"])
        assert lowbody.startswith("Guten Tag low-net")
        assert {mx1, mx2}.isdisjoint(event_ips(lowbody))
        assert all(ip.startswith(low.rsplit(".", 1)[0]) and int(ip.rsplit(".", 1)[1]) < 16
                   for ip in event_ips(lowbody))  # fmt: skip
        cert = body_of(by_rcpt["cert@example.test"])
        assert "domain never.test: mx.never.test (mx:never.test) -> 0.0.0.7" in cert
        assert "domain gamma.test: no MX host (null MX)" in cert
        for m in messages:
            subject = " ".join(str(m["Subject"]).split())
            assert subject.startswith(f"[{m['X-Mxcensus-Ticket']}] mxcensus:")
            assert csv_ips(m) and csv_ips(m) <= event_ips(body_of(m))
        check_hostnames(db, first.runs[0][1], mx1)
        view = {(d, h, ip): (src, n) for d, h, ip, src, n, *_ in detail(db, "lab").domains}
        assert view[("alpha.test", "mx1.alpha.test", mx1)][0] == "mx:alpha.test"
        assert view[("alpha.test", "mx1.alpha.test", mx1)][1] >= 1  # its port 25 answered
        assert view[("alpha.test", "mx2.alpha.test", "::1")][0] == "mx:alpha.test"

        clock.now += timedelta(hours=1)
        quiet = run_watch("lab", RunOptions(db=db, clock=clock))
        assert [n for _, _, n in quiet.runs] == [0] and quiet.sent == []

        lab0.stop()
        lab1 = stack.enter_context(
            Lab(SIZE, SEED, base=base, hostile_fraction=0.0, ports=PORTS, epoch=1)
        )
        clock.now += timedelta(hours=1)
        third = run_watch("lab", RunOptions(db=db, clock=clock))
        assert third.sent == [] and len(sink.wait_for(4, timeout=1)) == 3  # the interval holds
        (run, scan, _) = third.runs[0]
        events = [e for e in list_events(db, watch="lab") if e.run == run]
        assert_matches_truth(events, truth0, lab1.truth["hosts"], db, first.runs[0][1], scan)
        acked = next(e for e in events if e.ip in event_ips(lowbody) and e.kind != "problem")
        ack(db, [acked.id])

        clock.now += timedelta(days=1)
        fourth = run_watch("lab", RunOptions(db=db, clock=clock))
        assert fourth.failed == [] and fourth.sent
        later = sink.wait_for(3 + len(fourth.sent))[3:]
        assert len(later) == len(fourth.sent)
        sent_ids = {int(w[1:]) for m in later for w in body_of(m).split() if w[:1] == "#"
                    and w[1:].isdigit()}  # fmt: skip
        told = {e.id for e in events if e.kind != "problem"}
        assert acked.id not in sent_ids and told - {acked.id} <= sent_ids
        assert len({m["X-Mxcensus-Ticket"] for m in [*messages, *later]}) == 3 + len(later)


def setup(tmp: Path, sink: MailSink, net: str, low: str, resolver: str) -> tuple[Path, Clock]:
    contacts = tmp / "contacts.yaml"
    contacts.write_text(
        f"""fallback: {{email: [cert@example.test], interval: 1d}}
contacts:
  - name: alpha-owner
    match: [alpha.test]
    email: [alpha@example.test]
  - name: low-net
    match: ["{low}"]
    email: [low@example.test]
    language: de
"""
    )
    password = tmp / "smtp.pw"
    password.write_text(sink.password + "\n")
    db = tmp / "w.duckdb"
    add_watch(db, WatchInput(
        name="lab", net=[net], domain=["alpha.test", "gamma.test", "never.test", "nx.test"],
        resolver=resolver, dns_timeout=2.0, contacts=contacts, smtp=sink.smtp,
        smtp_user=sink.user, smtp_password_file=password, smtp_ca=sink.server.cert.cert,
        sender="watch@cert.example.test", ports=",".join(map(str, PORTS)),
        allow_reserved=True, every="1d",
    ).to_watch())  # fmt: skip
    return db, Clock()


def check_hostnames(db: Path, scan: str | None, mx1: str) -> None:
    """The MX host was probed under its name, and the export says where the name came from."""
    with Store.open(db, read_only=True) as store:
        records = [r for r in store.iter_records(scan or "") if r["ip"] == mx1]
    assert records and all(r["hostname"] == "mx1.alpha.test" for r in records)
    assert {r["hostname_source"] for r in records} == {"mx:alpha.test"}


def exposed(db: Path, scan: str | None) -> dict[tuple[str, int], dict[str, Any]]:
    with Store.open(db, read_only=True) as store:
        return {
            (r["ip"], r["port"]): r
            for r in store.iter_records(scan or "")
            if r["outcome"] not in NOT_EXPOSED
        }


def assert_matches_truth(
    events: list[EventRow], truth0: dict[str, Any], truth1: dict[str, Any], db: Path,
    scan0: str | None, scan1: str | None,
) -> None:  # fmt: skip
    """Exactly the services of vanished hosts are gone, of new hosts new; exactly the
    ports of patched hosts showing the host's product changed version; no event at all on
    an unchanged host; and every CVE event follows the two runs' verdicts."""
    got: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for e in events:
        if e.ip is not None and e.port is not None:
            got[e.kind].add((e.ip, e.port))
    assert got["gone"] == {
        (a, int(p)) for a in set(truth0) - set(truth1) for p in truth0[a]["ports"]
    }
    assert got["new"] == {
        (a, int(p)) for a in set(truth1) - set(truth0) for p in truth1[a]["ports"]
    }
    patched = {a for a in set(truth0) & set(truth1) if truth0[a] != truth1[a]}
    assert patched, "the epoch patches some hosts"
    changed = {
        (a, int(p))
        for a in patched
        for p, port in truth1[a]["ports"].items()
        if port["product"] == truth1[a]["product"]
        and truth0[a]["visible_version"] != truth1[a]["visible_version"]
    }
    assert got["version-changed"] == changed
    touched = set(truth0) ^ set(truth1) | patched
    assert {e.ip for e in events if e.ip} <= touched
    before, after = exposed(db, scan0), exposed(db, scan1)
    expected: set[tuple[str, str, int, str]] = set()
    for key, rec in after.items():
        old = {c["id"]: c["status"] for c in before.get(key, {}).get("cves", [])}
        for c in rec["cves"]:
            if c["status"] == "vulnerable" and old.get(c["id"]) != "vulnerable":
                expected.add(("vulnerable", *key, c["id"]))
            if c["status"] == "potentially-vulnerable" and old.get(c["id"]) not in (
                "vulnerable", "potentially-vulnerable"):  # fmt: skip
                expected.add(("potentially-vulnerable", *key, c["id"]))
    cve_events = {(e.kind, e.ip, e.port, e.cve) for e in events
                  if e.kind in ("vulnerable", "potentially-vulnerable")}  # fmt: skip
    assert cve_events == expected


def test_a_run_killed_between_sent_and_recorded_sends_the_same_mail_once_more(
    tmp_path: Path, sink: MailSink
) -> None:
    from tests.watch.test_feed_webhook import feed_file

    start = len(sink.messages())
    feed = tmp_path / "feed"
    feed.mkdir()
    feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92"})
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("match,email,interval\n*,kill@example.test,1d\n")
    db = tmp_path / "k.duckdb"
    add_watch(db, WatchInput(name="k", feed=feed, contacts=contacts, smtp=sink.smtp,
                             smtp_security="starttls", smtp_ca=sink.server.cert.cert,
                             sender="watch@cert.example.test").to_watch())  # fmt: skip
    code = (
        "import os, sys; from pathlib import Path\n"
        "from mxcensus.watch.run import RunOptions, run_watch\n"
        "run_watch('k', RunOptions(db=Path(sys.argv[1]), after_send=lambda *a: os._exit(9)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    killed = subprocess.run([sys.executable, "-c", code, str(db)], env=env, timeout=120,
                            check=False)  # fmt: skip
    assert killed.returncode == 9
    assert len(sink.wait_for(start + 1)) == start + 1
    again = run_watch("k", RunOptions(db=db))
    assert len(again.sent) == 1
    third = run_watch("k", RunOptions(db=db))
    assert third.sent == [] and third.tickets == []
    mails = sink.wait_for(start + 2)[start:]
    assert len(mails) == 2 and len(sink.wait_for(start + 3, timeout=1)) == start + 2
    assert mails[0]["Message-ID"] == mails[1]["Message-ID"]
    assert mails[0]["X-Mxcensus-Ticket"] == mails[1]["X-Mxcensus-Ticket"]
    assert orjson.dumps(body_of(mails[0])) == orjson.dumps(body_of(mails[1]))


def test_a_server_refusing_every_recipient_keeps_the_mail_for_the_next_run(
    tmp_path: Path, sink: MailSink
) -> None:
    from tests.watch.test_feed_webhook import feed_file

    start = len(sink.messages())
    feed = tmp_path / "feed"
    feed.mkdir()
    feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92"})
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("match,email\n*,noc@elsewhere.test\n")  # a domain the sink refuses
    db = tmp_path / "r.duckdb"
    add_watch(db, WatchInput(name="r", feed=feed, contacts=contacts, smtp=sink.smtp,
                             smtp_ca=sink.server.cert.cert,
                             sender="watch@cert.example.test").to_watch())  # fmt: skip
    report = run_watch("r", RunOptions(db=db, tries=2, backoff=0))
    ((ticket, channel, error),) = report.failed
    assert channel == "email"
    assert error == (f"smtp {sink.smtp}: every recipient refused (noc@elsewhere.test: 550 "
                     "relay not permitted (sink_domains only))")  # fmt: skip
    again = run_watch("r", RunOptions(db=db, tries=1))  # kept: the next run tries it again
    assert [(t, c) for t, c, _ in again.failed] == [(ticket, "email")]
    assert len(sink.wait_for(start + 1, timeout=1)) == start
