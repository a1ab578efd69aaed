"""``mxcensus identify`` and ``mxcensus rules check`` as a user runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from mxcensus.identify.rules import FIELDS, RULES_DIR
from tests.conftest import RunCli


def test_identify_stdin_one_object_per_line_in_order(mx: RunCli) -> None:
    lines = [
        "220 mx.example.org ESMTP Exim 4.89_1 Thu, 05 Apr 2018 21:30:37 +0200",
        r"220-mx.example.org ESMTP Exim 4.92.2 #2 (Debian) Tue\r\n220 No UCE",
        "",
        "220 mail.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.4675 ready",
        "garbage \x1b[31m <script>alert(1)</script>",
        "220 mx.example.org ESMTP Postfix (Ubuntu)",
    ]
    r = mx("identify", "--protocol", "smtp", input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    out = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == len(lines)
    assert [o["product"] for o in out] == [
        "exim", "exim", "unknown", "ms-iis-smtp", "unknown", "postfix",
    ]  # fmt: skip
    assert out[0]["version"] == "4.89_1"
    assert out[0]["product_line"] == "Exim 4"
    cves = {c["id"]: c for c in out[0]["cves"]}
    assert cves["CVE-2019-10149"]["status"] in ("vulnerable", "potentially-vulnerable")
    assert out[2]["cves"] == []
    assert out[1]["version"] == "4.92.2"
    assert out[1]["distro"] == "debian"
    assert out[1]["banner"] == r"220-mx.example.org ESMTP Exim 4.92.2 #2 (Debian) Tue\r\n220 No UCE"
    assert out[2]["reason"] == "empty smtp.banner"
    assert "not an Exchange build" in out[3]["reason"]
    assert "\x1b" not in out[4]["banner"]
    assert out[5]["evidence"] == [
        {
            "field": "smtp.banner",
            "rule": "smtp_banner.yaml#postfix-distro",
            "value": "Postfix (Ubuntu)",
        }
    ]


def test_identify_binary_stdin(mx: RunCli) -> None:
    import subprocess
    import sys

    from tests.conftest import _env

    data = b"\xff\xfe\x00\x01 ESMTP Exim 4.96\n\x80\x81\x82\n* OK Dovecot ready.\n"
    r = subprocess.run(
        [sys.executable, "-m", "mxcensus", "identify"],
        input=data,
        capture_output=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = [orjson.loads(x) for x in r.stdout.splitlines()]
    # without --protocol each line's shape decides: the last one is an IMAP greeting
    assert [o["product"] for o in out] == ["exim", "unknown", "dovecot"]


def test_identify_other_protocols(mx: RunCli) -> None:
    r = mx("identify", "--protocol", "imap", input="* OK Dovecot (Debian) ready.\n")
    assert orjson.loads(r.stdout)["distro"] == "debian"
    r = mx("identify", "--protocol", "pop3", input="+OK Dovecot ready.\n")
    assert orjson.loads(r.stdout)["product"] == "dovecot"
    r = mx("identify", "--protocol", "http", input="X-OWA-Version: 15.1.2375.7\n")
    rec = orjson.loads(r.stdout)
    assert (rec["version"], rec["precision"]) == ("15.1.2375.7", "build4")
    greeting = r'"IMPLEMENTATION" "Cyrus timsieved v2.4.17-Debian-2.4.17-10"\r\n"SASL" ""\r\nOK'
    r = mx("identify", "--protocol", "managesieve", input=greeting + "\n")
    rec = orjson.loads(r.stdout)
    assert (rec["product"], rec["version"], rec["distro"]) == ("cyrus", "2.4.17", "debian")


def test_identify_bad_protocol(mx: RunCli) -> None:
    r = mx("identify", "--protocol", "gopher", input="x\n")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "--protocol must be one of smtp, imap, pop3, http, managesieve" in r.stderr


def test_rules_check_ok(mx: RunCli) -> None:
    r = mx("rules", "check")
    assert r.returncode == 0, r.stderr
    assert "smtp_banner.yaml: ok (smtp.banner," in r.stdout
    assert len(r.stdout.splitlines()) == len(FIELDS)  # one line per rule file


def test_rules_check_reports_bad_file(mx: RunCli, tmp_path: Path) -> None:
    for f in RULES_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / "smtp_banner.yaml"
    p.write_text(
        p.read_text(encoding="utf-8").replace("product: exim\n", "product: exim5\n", 1),
        encoding="utf-8",
    )
    r = mx("rules", "check", "--dir", str(tmp_path))
    assert r.returncode == 1
    assert "smtp_banner.yaml: FAIL (1 problem(s))" in r.stdout
    assert "#exim-versioned: unknown product 'exim5'" in r.stdout
    assert "imap_banner.yaml: ok" in r.stdout
    assert "rules check: 1 problem(s)" in r.stderr
