"""The watch and events commands as a user types them: one-line errors with exit 2 for
bad usage, exit 1 for a run that looked at nothing or could not deliver, and nothing lost."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.watch.test_feed_webhook import feed_file


def one_error(result: object, code: int) -> str:
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr  # type: ignore[attr-defined]
    return str(lines[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to watch"),
        (["--net", "300.1.2.3/8"], "not an IP, CIDR or range"),
        (["--net", "mail.example.org"], "not an IP, CIDR or range"),
        (["--domain", "-bad-.example"], "not a domain name"),
        (["--net", "192.0.2.0/24", "--every", "1d", "--cron", "0 3 * * *"], "not both"),
        (["--net", "192.0.2.0/24", "--every", "10s"], "must be between 1m and"),
        (["--net", "192.0.2.0/24", "--cron", "61 * * * *"], "not a five-field cron"),
        (["--asn", "64500"], "--asn needs --asn-db MMDB or --prefix-file"),
        (["--asn", "0", "--prefix-file", "x"], "--asn 0: must be at least 1"),
        (["--net", "192.0.2.0/24", "--contacts", "/nonexistent.yaml"], "no such file"),
        (["--net", "192.0.2.0/24", "--smtp", "mail:99999"], "give HOST or HOST:PORT"),
        (["--net", "192.0.2.0/24", "--smtp", "m", "--sender", "nobody"], "not an e-mail"),
        (["--net", "192.0.2.0/24", "--resolver", "dns.example"], "give the server's IP"),
        (["--net", "192.0.2.0/24", "--dns-timeout", "0"], "--dns-timeout 0: must be at least"),
        (["--feed", "/nonexistent-dir"], "no such directory"),
    ],
)
def test_add_refuses_bad_input_in_one_line(
    mx: RunCli, db_path: Path, args: list[str], message: str
) -> None:
    line = one_error(mx("watch", "add", "w", *args, "--db", str(db_path)), 2)
    assert message in line


def test_a_broken_contacts_file_names_its_line(mx: RunCli, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("contacts:\n  - match: [192.0.2.0/24]\n    email: [noc]\n")
    line = one_error(
        mx(
            "watch",
            "add",
            "w",
            "--net",
            "192.0.2.0/24",
            "--contacts",
            str(contacts),
            "--db",
            str(tmp_path / "d.duckdb"),
        ),
        2,
    )
    assert f"{contacts}: contacts[0]: 'noc': not an e-mail address" in line


def test_add_list_show_remove(mx: RunCli, tmp_path: Path) -> None:
    db = str(tmp_path / "d.duckdb")
    feed = tmp_path / "feed"
    feed.mkdir()
    ok = mx("watch", "add", "cert", "--feed", str(feed), "--every", "1d", "--db", db)
    assert ok.returncode == 0 and "watch cert: added (feed; every 1d)" in ok.stdout
    again = mx("watch", "add", "cert", "--feed", str(feed), "--db", db)
    assert "exists already (--replace changes it)" in one_error(again, 2)
    listed = mx("watch", "list", "--db", db)
    assert "cert" in listed.stdout and "every 1d" in listed.stdout and "never" in listed.stdout
    shown = mx("watch", "show", "cert", "--db", db)
    assert f"feed: {feed}" in shown.stdout and "no run yet" in shown.stdout
    gone = mx("watch", "remove", "cert", "--db", db)
    assert gone.returncode == 0 and "removed" in gone.stdout
    assert "no such watch" in one_error(mx("watch", "show", "cert", "--db", db), 2)
    assert "no watch yet" in one_error(mx("watch", "run", "--db", db), 2)


def test_a_watch_whose_targets_are_all_excluded_fails_once_announced(
    mx: RunCli, tmp_path: Path
) -> None:
    db = str(tmp_path / "d.duckdb")
    add = mx(
        "watch",
        "add",
        "x",
        "--net",
        "127.3.2.0/30",
        "--exclude",
        "127.3.2.0/29",
        "--allow-reserved",
        "--db",
        db,
    )
    assert add.returncode == 0, add.stderr
    for _ in range(2):
        run = mx("watch", "run", "x", "--db", db)
        assert run.returncode == 1
        assert "no targets left after exclusions" in run.stderr
        assert run.stderr.strip().splitlines()[-1].startswith("mxcensus: error: watch run: 1 of")
    events = json.loads(mx("events", "--db", db, "--format", "json").stdout)
    assert [e["kind"] for e in events] == ["problem"]  # announced once while it persists
    assert "no targets left after exclusions" in events[0]["summary"]


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A UDP port that never answers (a DNS server that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"


def test_unresolvable_domains_fail_the_run_with_their_reason(
    mx: RunCli, tmp_path: Path, silent_dns: str
) -> None:
    db = str(tmp_path / "d.duckdb")
    add = mx(
        "watch",
        "add",
        "d",
        "--domain",
        "example.test",
        "--resolver",
        silent_dns,
        "--dns-timeout",
        "0.3",
        "--allow-reserved",
        "--db",
        db,
    )
    assert add.returncode == 0, add.stderr
    run = mx("watch", "run", "d", "--db", db)
    assert run.returncode == 1
    assert (
        f"domain example.test: example.test MX: no answer from {silent_dns} in time" in run.stderr
    )


@pytest.fixture
def mute_server() -> Iterator[str]:
    """An SMTP "server" that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        t.join(5)
        for c in held:
            c.close()
        sock.close()


def test_smtp_that_never_answers_keeps_the_mail_and_ack_and_mute_work(
    mx: RunCli, tmp_path: Path, mute_server: str
) -> None:
    db = str(tmp_path / "d.duckdb")
    feed = tmp_path / "feed"
    feed.mkdir()
    feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92", "203.0.113.20": "4.96"})
    contacts = tmp_path / "c.csv"
    contacts.write_text("match,email,interval\n*,cert@example.test,0s\n")
    add = mx(
        "watch",
        "add",
        "f",
        "--feed",
        str(feed),
        "--contacts",
        str(contacts),
        "--smtp",
        mute_server,
        "--smtp-security",
        "none",
        "--smtp-timeout",
        "0.5",
        "--db",
        db,
    )
    assert add.returncode == 0, add.stderr
    run = mx("watch", "run", "f", "--db", db, "--tries", "1")
    assert run.returncode == 1
    assert f"smtp {mute_server}: no answer within 0.5 s" in run.stderr
    events = json.loads(mx("events", "--db", db, "--format", "json").stdout)
    assert events and {e["state"] for e in events} == {"notified"}  # given to the kept ticket
    shown = mx("watch", "show", "f", "--db", db)
    assert "not yet delivered" in shown.stdout and "no answer within 0.5 s" in shown.stdout
    csv_out = mx("events", "--db", db, "--format", "csv", "--kind", "new")
    assert csv_out.stdout.splitlines()[0].startswith("id,created_at,watch,kind,state")
    assert len(csv_out.stdout.splitlines()) == 3
    bad = mx("events", "--db", db, "--kind", "exploded")
    assert "--kind 'exploded': one of new" in one_error(bad, 2)

    # a new day: the owner acknowledged one host's events, muted a CVE
    feed_file(
        feed,
        "2026-01-11",
        {
            "203.0.113.10": "4.92",
            "203.0.113.20": "4.96",
            "203.0.113.30": "4.89",
            "203.0.113.40": "4.92",
        },
    )
    mute = mx("events", "mute", "--cve", "CVE-2019-10149", "--db", db)
    assert mute.returncode == 0 and mute.stdout.startswith("mute 1: cve CVE-2019-10149")
    mx("events", "mute", "--host", "203.0.113.40/32", "--db", db)
    mx("watch", "run", "f", "--db", db, "--tries", "1")
    after = json.loads(mx("events", "--db", db, "--format", "json").stdout)
    muted = {(e["ip"], e["cve"]) for e in after if e["state"] == "muted"}
    assert ("203.0.113.30", "CVE-2019-10149") in muted
    assert {ip for ip, _ in muted} == {"203.0.113.30", "203.0.113.40"}
    assert all(e["ip"] != "203.0.113.40" for e in after if e["state"] != "muted")
    ids = [str(e["id"]) for e in after if e["state"] == "muted"][:1]
    assert mx("events", "ack", *ids, "--db", db).stdout.startswith("acknowledged 1 event")
    assert "no event with some of those ids" in one_error(
        mx("events", "ack", "999999", "--db", db), 2
    )
    assert "ID 0: must be at least 1" in one_error(mx("events", "ack", "0", "--db", db), 2)
    mutes = mx("events", "mutes", "--db", db)
    assert "CVE-2019-10149" in mutes.stdout and "203.0.113.40/32" in mutes.stdout


def test_a_contacts_file_broken_after_add_fails_the_run_and_loses_nothing(
    mx: RunCli, tmp_path: Path
) -> None:
    db = str(tmp_path / "d.duckdb")
    feed = tmp_path / "feed"
    feed.mkdir()
    feed_file(feed, "2026-01-10", {"203.0.113.10": "4.92"})
    contacts = tmp_path / "c.yaml"
    contacts.write_text("fallback: {email: [cert@example.test]}\n")
    assert mx("watch", "add", "f", "--feed", str(feed), "--contacts", str(contacts),
              "--db", db).returncode == 0  # fmt: skip
    contacts.write_text("fallback: {email: [cert@example.test]\n")  # broken YAML
    run = mx("watch", "run", "f", "--db", db, "--dry-run", str(tmp_path / "out"))
    assert run.returncode == 1 and f"{contacts}:2: not valid YAML" in run.stderr
    events = json.loads(mx("events", "--db", db, "--format", "json").stdout)
    assert events and {e["state"] for e in events} == {"open"}  # stored, not yet routed
    contacts.write_text("fallback: {email: [cert@example.test]}\n")
    dry = mx("watch", "run", "f", "--db", db, "--dry-run", str(tmp_path / "out"))
    assert dry.returncode == 0, dry.stderr
    (eml,) = (tmp_path / "out").glob("MXC-*.eml")
    assert "To: cert@example.test" in eml.read_text()
    events = json.loads(mx("events", "--db", db, "--format", "json").stdout)
    assert {e["state"] for e in events} == {"open"}  # a dry run sends nothing, keeps them


@pytest.mark.slow
def test_an_asn_watch_scans_its_prefixes_and_routes_by_the_asn(tmp_path: Path) -> None:
    from mxcensus.lab.api import Lab
    from mxcensus.watch.manage import WatchInput, add_watch
    from mxcensus.watch.run import RunOptions, run_watch

    with Lab(6, 5, hostile_fraction=0.0, ports=(25,)) as lab:
        smtp = lab.serving(25)
        prefix = lab.addresses[0].rsplit(".", 1)[0] + ".0/29"
        plist = tmp_path / "prefixes.txt"
        plist.write_text(f"{prefix} AS64500\n")
        contacts = tmp_path / "c.yaml"
        contacts.write_text(
            "contacts:\n  - {name: as-owner, match: [AS64500], email: [noc@as.example]}\n"
            "fallback: {email: [cert@example.test]}\n"
        )
        db = tmp_path / "a.duckdb"
        add_watch(db, WatchInput(name="asn", asn=[64500], prefix_file=plist, contacts=contacts,
                                 ports="25", allow_reserved=True).to_watch())  # fmt: skip
        report = run_watch("asn", RunOptions(db=db, dry_run=tmp_path / "out"))
    assert smtp and report.runs and report.runs[0][2] >= len(smtp)  # a "new" per host at least
    (eml,) = (tmp_path / "out").glob("*.eml")
    text = eml.read_text()
    assert "To: noc@as.example" in text and all(a in text for a in smtp)
