"""``mxcensus identify`` for people: the protocol from the banner's shape, HTTP responses
read as responses, a readable text on request (on a terminal by default), JSON otherwise."""

from __future__ import annotations

import orjson
import pytest

from mxcensus.identify.lines import detect_protocol
from tests.conftest import RunCli

OWA_RESPONSE = (
    r"HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/10.0\r\nX-OWA-Version: 15.1.2507.6\r\n"
    r"Content-Type: text/html\r\n\r\n<html><title>Outlook</title></html>"
)
MIXED = [
    ("220 mx ESMTP Exim 4.89", "smtp", "exim"),
    ("* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.", "imap", "dovecot"),
    ("+OK Dovecot ready.", "pop3", "dovecot"),
    (r'"IMPLEMENTATION" "Cyrus timsieved v2.4.17-Debian-2.4.17-10"\r\nOK', "managesieve", "cyrus"),
    (OWA_RESPONSE, "http", "ms-exchange"),
]


@pytest.mark.parametrize(
    ("text", "protocol"),
    [
        ("HTTP/1.0 302 Found", "http"),
        ("* PREAUTH ready", "imap"),
        ("* ok lowercase", "imap"),
        ("+OK POP3", "pop3"),
        ('"SIEVE" "fileinto"', "managesieve"),
        ("554 no service", "smtp"),
        ("220-multi", "smtp"),
        ("<!DOCTYPE html><html>", "http"),
        ("anything else", "smtp"),
        ("", "smtp"),
    ],
)
def test_protocol_from_the_shape(text: str, protocol: str) -> None:
    assert detect_protocol(text) == protocol


def test_mixed_banners_without_protocol_are_each_identified(mx: RunCli) -> None:
    r = mx("identify", input="\n".join(t for t, _, _ in MIXED) + "\n")
    assert r.returncode == 0, r.stderr
    out = [orjson.loads(x) for x in r.stdout.splitlines()]  # not a terminal: JSON lines
    assert [(o["protocol"], o["product"]) for o in out] == [(p, w) for _, p, w in MIXED]


def test_an_http_response_is_read_as_a_response(mx: RunCli) -> None:
    for args in ((), ("--protocol", "http")):
        r = mx("identify", *args, input=OWA_RESPONSE + "\n")
        rec = orjson.loads(r.stdout)
        assert (rec["product"], rec["version"], rec["precision"]) == (
            "ms-exchange", "15.1.2507.6", "build4",
        )  # fmt: skip
        assert "http.header.x-owa-version" in {e["field"] for e in rec["evidence"]}


def test_text_is_readable_and_short(mx: RunCli) -> None:
    banners = "220 mx ESMTP Exim 4.89\n* OK Dovecot ready.\n220 mx ESMTP Exim 4.99.4\nnoise\n"
    r = mx("identify", "--format", "text", input=banners)
    assert r.returncode == 0, r.stderr
    blocks = r.stdout.split("\n  banner: ")
    assert len(blocks) == 5
    exim = r.stdout.split("\nExim")[0]
    assert exim.startswith("Exim 4.89 — Exim 4  [smtp; precision version]")
    assert "potentially-vulnerable: CVE-2018-6789 (KEV), CVE-2019-10149 (KEV)" in r.stdout
    assert "end of support since 2017-11-29" in r.stdout
    assert "Dovecot  [imap; precision product]" in r.stdout
    assert "cannot be judged from this banner" in r.stdout  # not "not vulnerable"
    assert "Exim 4.99.4 — Exim 4" in r.stdout and "supported" in r.stdout
    assert "unknown product  [smtp; precision none]" in r.stdout
    assert len(r.stdout) < 1200  # one Exim line was ~10 KB of JSON
    assert max(len(line) for line in r.stdout.splitlines()) <= 100


def test_bad_format_is_one_line(mx: RunCli) -> None:
    r = mx("identify", "--format", "yaml", input="x\n")
    assert r.returncode == 2
    assert "--format 'yaml'" in r.stderr and r.stderr.count("\n") == 1
