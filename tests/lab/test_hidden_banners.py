"""Customised greetings: what the rest of the dialogue still tells, scanned and judged.

A lab where every well-behaved host hides its greetings (each product the lab simulates,
with its customised variant) is scanned with ``mxcensus scan``: every hidden service comes
out as the truth says the rest of its dialogue shows it, and from a lab where one host in ten
hides them, every hidden Exim, Postfix and Exchange is identified, and no service of a
product with known CVEs is left without a verdict, or with not-vulnerable, for a CVE its
hidden version might be in.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mxcensus import kb
from mxcensus.lab.api import Lab
from mxcensus.lab.population import KIND_WEIGHTS, LabConfig, generate
from tests.conftest import RunCli

pytestmark = pytest.mark.slow

EVERY_KIND = LabConfig(size=40, seed=15, hostile_fraction=0.0, hidden_fraction=1.0)
"""40 hosts of seed 15: every kind the lab simulates, each with its greetings customised."""
ONE_IN_TEN = LabConfig(size=120, seed=1, hostile_fraction=0.0, hidden_fraction=0.1)


def test_a_hidden_fraction_of_zero_changes_nothing() -> None:
    plain = generate(LabConfig(size=60, seed=3))
    assert generate(LabConfig(size=60, seed=3, hidden_fraction=0.0)) == plain
    some = generate(LabConfig(size=60, seed=3, hidden_fraction=0.3))
    changed = [(a, b) for a, b in zip(plain, some, strict=True) if a != b]
    assert 5 < len(changed) < 40
    for before, after in changed:  # the same host, greetings replaced
        assert (before.kind, before.address, before.version) == (
            after.kind,
            after.address,
            after.version,
        )
        assert any(s.hidden for s in after.services)


def test_hidden_greetings_name_no_product() -> None:
    names = ("exim", "postfix", "microsoft", "sendmail", "opensmtpd", "dovecot", "courier")
    names += ("hmailserver", "mdaemon", "zimbra")
    hosts = generate(EVERY_KIND)
    assert {h.kind for h in hosts} == {k for k, _ in KIND_WEIGHTS}
    for host in hosts:
        for svc in host.services:
            if svc.hidden:
                text = svc.greeting.decode("latin-1").replace(host.hostname, "").lower()
                assert not [n for n in names if n in text], text


def _scan(mx: RunCli, lab: Lab, db: Path) -> list[dict[str, Any]]:
    first, last = lab.addresses[0], lab.addresses[-1]
    res = mx("scan", f"{first}-{last}", "--allow-reserved", "--db", str(db), "-q", timeout=600)
    assert res.returncode == 0, res.stderr
    res = mx("export", "--format", "jsonl", "--db", str(db))
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def _lab(config: LabConfig) -> Lab:
    return Lab(
        size=config.size,
        seed=config.seed,
        hostile_fraction=config.hostile_fraction,
        hidden_fraction=config.hidden_fraction,
    )


def _open(records: list[dict[str, Any]], truth: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for rec in records:
        port = truth[rec["ip"]]["ports"].get(str(rec["port"]))
        if port is not None:
            out.append((rec, port, truth[rec["ip"]]))
    return out


def test_every_product_with_a_customised_greeting(mx: RunCli, tmp_path: Path) -> None:
    with _lab(EVERY_KIND) as lab:
        records = _scan(mx, lab, tmp_path / "hidden.duckdb")
        truth = lab.truth["hosts"]
    seen: Counter[str] = Counter()
    for rec, port, host in _open(records, truth):
        if not port.get("hidden"):
            continue
        where = f"{rec['ip']}:{rec['port']} ({host['kind']})"
        assert rec["outcome"] == "ok", where
        assert rec["product"] == port["product"], where  # unknown where the truth says so
        if port["product"] == "unknown":
            assert rec["verdict"] == "unknown" and rec["cves"] == [], where
            continue
        assert set(rec["evidence"]).isdisjoint({"smtp.banner", "imap.banner", "pop3.banner"})
        if port["product"] == host["product"] and not host["visible_version"]:
            assert rec["precision"] == "product" and rec["version"] is None, where
            assert rec["confidence"] == "low", where
        seen[host["kind"]] += 1
    # each product the dialogue can name was scanned hidden and named
    assert set(seen) >= {"exim", "postfix", "exchange", "sendmail", "opensmtpd", "mdaemon"}
    assert set(seen) >= {"hmailserver", "dovecot", "courier", "zimbra", "iis-smtp"}


def _advisories(product: str) -> set[str]:
    return {a.id for a in kb.get().by_product.get(product, ())}


def test_one_in_ten_hidden(mx: RunCli, tmp_path: Path) -> None:
    with _lab(ONE_IN_TEN) as lab:
        records = _scan(mx, lab, tmp_path / "tenth.duckdb")
        truth = lab.truth["hosts"]
    hidden: Counter[str] = Counter()
    for rec, port, host in _open(records, truth):
        where = f"{rec['ip']}:{rec['port']} ({host['kind']})"
        smtp = rec["protocol"] in ("smtp", "submission", "smtps")
        if smtp and port.get("hidden") and host["kind"] in ("exim", "postfix", "exchange"):
            assert rec["product"] == host["product"], where
            hidden[host["kind"]] += 1
        # a product with known CVEs and no version in sight: every CVE of it is there,
        # potentially-vulnerable or unknown, and the reason says the version is hidden
        advisories = _advisories(rec["product"])
        if advisories and rec["precision"] in ("product", "major"):
            statuses = {c["id"]: c for c in rec["cves"]}
            assert advisories <= set(statuses), where
            for cve in advisories:
                c = statuses[cve]
                assert c["status"] in ("unknown", "potentially-vulnerable"), (where, c)
                assert c["status"] != "unknown" or "version hidden" in c["reason"], (where, c)
    assert hidden["exim"] and hidden["postfix"] and hidden["exchange"], hidden
