"""A feed watch (a directory where Shadowserver CSVs arrive daily) told to a real local
webhook receiver that checks the HMAC signature, fails on purpose, and sees the retries.

The feed files are written here, one a day: Exim hosts on documentation addresses that
are patched, vanish and appear between days (imports only: nothing is contacted).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from mxcensus.store.db import Store
from mxcensus.store.watches import WatchStore
from mxcensus.watch.manage import WatchInput, add_watch, list_events
from mxcensus.watch.run import RunOptions, WatchRunFailed, run_watch
from tests.conftest import RunCli
from tests.watch.hooks import webhook_receiver

SECRET = b"webhook-secret-for-tests"
HEADER = (
    "timestamp", "severity", "ip", "protocol", "port", "hostname", "tag", "asn", "geo",
    "region", "city", "naics", "hostname_source", "sector", "banner",
)  # fmt: skip


def feed_file(directory: Path, day: str, hosts: dict[str, str]) -> Path:
    """A Shadowserver scan_smtp file of ``day``: address -> the Exim version it shows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for ip, version in hosts.items():
        banner = f"220 mx.{ip.replace('.', '-')}.example ESMTP Exim {version} Mon, 12 Jan 2026|"
        w.writerow([f"{day} 03:04:05", "info", ip, "tcp", 25, "", "smtp", 64500, "DE", "", "",
                    "", "", "", banner])  # fmt: skip
    path = directory / f"{day}-scan_smtp-watchtest.csv"
    path.write_text(buf.getvalue())
    return path


def contacts_file(tmp: Path, url: str, interval: str = "0s") -> Path:
    path = tmp / "contacts.yaml"
    path.write_text(
        f"""contacts:
  - name: doc-net
    match: [203.0.113.0/28]
    webhook: {url}
    secret_env: MX_TEST_HOOK_SECRET
    interval: {interval}
    format: json
"""
    )
    return path


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def hook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MX_TEST_HOOK_SECRET", SECRET.decode())


def setup_watch(tmp_path: Path, url: str) -> tuple[Path, Path]:
    feed = tmp_path / "feed"
    feed.mkdir()
    db = tmp_path / "w.duckdb"
    add_watch(db, WatchInput(name="cert-feed", feed=feed,
                             contacts=contacts_file(tmp_path, url)).to_watch())  # fmt: skip
    return db, feed


def test_feed_days_become_runs_and_the_webhook_is_retried_until_accepted(
    tmp_path: Path, hook_env: None
) -> None:
    day1 = {"203.0.113.10": "4.92", "203.0.113.11": "4.96", "203.0.113.12": "4.97"}
    day2 = {"203.0.113.10": "4.99.4", "203.0.113.12": "4.97", "203.0.113.13": "4.89"}
    with webhook_receiver(SECRET, plan=[500, 500]) as hook:
        db, feed = setup_watch(tmp_path, hook.url)
        feed_file(feed, "2026-01-10", day1)
        clock = Clock()
        opts = RunOptions(db=db, clock=clock, tries=3, backoff=0.05, webhook_timeout=5)
        first = run_watch("cert-feed", opts)
        assert [n for _, _, n in first.runs] and first.sent and not first.failed
        # three tries of one ticket: 500, 500, then accepted; each signed, the same body
        assert [r.answered for r in hook.received] == [500, 500, 200]
        assert all(r.signed for r in hook.received)
        assert len({r.ticket for r in hook.received}) == 1
        assert len({r.body for r in hook.received}) == 1
        body = orjson.loads(hook.received[0].body)
        assert body["ticket"] == hook.received[0].ticket
        kinds = {(e["kind"], e["ip"]) for e in body["events"]}
        assert ("new", "203.0.113.10") in kinds and ("eol", "203.0.113.10") in kinds

        # the same file again: nothing to import, nothing sent
        clock.now += timedelta(hours=1)
        again = run_watch("cert-feed", opts)
        assert again.runs == [] and again.sent == [] and len(hook.received) == 3

        feed_file(feed, "2026-01-11", day2)
        clock.now += timedelta(days=1)
        second = run_watch("cert-feed", opts)
        assert len(second.runs) == 1 and len(second.sent) == 1
        body = orjson.loads(hook.received[-1].body)
        by_kind: dict[str, set[str]] = {}
        for e in body["events"]:
            by_kind.setdefault(e["kind"], set()).add(e["ip"])
        assert by_kind["gone"] == {"203.0.113.11"}
        assert by_kind["new"] == {"203.0.113.13"}
        assert by_kind["version-changed"] == {"203.0.113.10"}
        assert by_kind["fixed"] == {"203.0.113.10"}  # 4.92's CVEs, fixed in 4.99.4
        assert "203.0.113.12" not in {e["ip"] for e in body["events"]}  # unchanged: silent
        fixed = [e for e in body["events"] if e["kind"] == "fixed" and e["cve"]]
        assert all(e["evidence"]["before"]["status"] in ("vulnerable", "potentially-vulnerable")
                   for e in fixed)  # fmt: skip


def test_a_webhook_that_never_answers_is_kept_and_sent_by_the_next_run(
    tmp_path: Path, hook_env: None, mx: RunCli
) -> None:
    with webhook_receiver(SECRET, plan=["hang", "hang"]) as hook:
        hook.hang_seconds = 2.0
        db, feed = setup_watch(tmp_path, hook.url)
        feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92"})
        env = {"MX_TEST_HOOK_SECRET": SECRET.decode()}
        failed = mx("watch", "run", "cert-feed", "--db", str(db), "--tries", "2",
                    "--backoff", "0", "--webhook-timeout", "0.5", env=env)  # fmt: skip
        assert failed.returncode == 1, failed.stderr
        line = [ln for ln in failed.stderr.splitlines() if "not delivered" in ln]
        assert len(line) == 1 and "no answer within 0.5 s" in line[0]
        with Store.open(db) as store:
            (pending,) = WatchStore(store).outbox("cert-feed", ("pending",))
        assert pending.attempts == 2 and "no answer" in (pending.last_error or "")
        events = list_events(db, watch="cert-feed")
        assert {e.state for e in events} == {"notified"} and {e.ticket for e in events} == {
            pending.ticket
        }
        ok = mx("watch", "run", "cert-feed", "--db", str(db), "--webhook-timeout", "5", env=env)
        assert ok.returncode == 0, ok.stderr
        assert f"sent {pending.ticket} by webhook" in ok.stdout
        assert [r.answered for r in hook.received] == ["hang", "hang", 200]
        assert {r.ticket for r in hook.received} == {pending.ticket}


def test_a_run_killed_after_the_webhook_accepted_resends_the_same_ticket(
    tmp_path: Path, hook_env: None
) -> None:
    """Between the receiver's 2xx and the outbox's "sent" nothing can tell a crash from a
    failure: the next run sends the same payload with the same ticket, once."""
    import subprocess
    import sys

    with webhook_receiver(SECRET) as hook:
        db, feed = setup_watch(tmp_path, hook.url)
        feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92"})
        code = (
            "import os, sys; from pathlib import Path\n"
            "from mxcensus.watch.run import RunOptions, run_watch\n"
            "run_watch('cert-feed', RunOptions(db=Path(sys.argv[1]),"
            " after_send=lambda *a: os._exit(9)))\n"
        )
        env = {**__import__("os").environ, "PYTHONPATH": "src"}
        killed = subprocess.run([sys.executable, "-c", code, str(db)], env=env, timeout=120,
                                check=False)  # fmt: skip
        assert killed.returncode == 9
        assert len(hook.received) == 1
        run_watch("cert-feed", RunOptions(db=db))
        run_watch("cert-feed", RunOptions(db=db))
        assert len(hook.received) == 2
        assert hook.received[0].ticket == hook.received[1].ticket
        assert hook.received[0].body == hook.received[1].body


def test_a_broken_feed_file_is_a_failed_run_and_retried(tmp_path: Path, hook_env: None) -> None:
    with webhook_receiver(SECRET) as hook:
        db, feed = setup_watch(tmp_path, hook.url)
        (feed / "2026-01-10-scan_smtp-broken.csv").write_bytes(b"\x00\x01 not a csv\n")
        with pytest.raises(WatchRunFailed, match="feed 2026-01-10"):
            run_watch("cert-feed", RunOptions(db=db))
        with pytest.raises(WatchRunFailed):
            run_watch("cert-feed", RunOptions(db=db))
        problems = list_events(db, watch="cert-feed", kinds=("problem",))
        assert len(problems) == 1  # announced once while it persists
        (feed / "2026-01-10-scan_smtp-broken.csv").unlink()
        feed_file(feed, "2026-01-11", {"203.0.113.10": "4.92"})
        report = run_watch("cert-feed", RunOptions(db=db))
        assert len(report.runs) == 1 and report.sent
