"""Real clients (smtplib, imaplib, poplib, http.client, ssl, sockets) against a running lab.

The lab runs as ``mxcensus lab`` in a subprocess (uvloop workers), as the engine's tests
and the benchmark use it. Every client is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import imaplib
import poplib
import smtplib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from mxcensus.lab.api import Lab

TIMEOUT = 10.0
PRODUCT_KINDS = (
    "exim", "postfix", "exchange", "sendmail", "opensmtpd", "iis-smtp", "mdaemon",
    "hmailserver", "zimbra", "courier", "dovecot",
)  # fmt: skip


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(
        size=400, seed=4, base="127.66.0.0", hostile_fraction=0.2, workers=1,
        tarpit_interval=0.5, duration=600,
    ) as running:  # fmt: skip
        yield running


def hosts(lab: Lab, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(a, h) for a, h in lab.truth["hosts"].items() if h["kind"] == kind]


def first(lab: Lab, kind: str, port: int, **want: Any) -> tuple[str, dict[str, Any]]:
    for address, host in hosts(lab, kind):
        p = host["ports"].get(str(port))
        if p is not None and all(host.get(k, p.get(k)) == v for k, v in want.items()):
            return address, host
    pytest.fail(f"no {kind} host with port {port} and {want} in the lab")


def tls_context(lab: Lab) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=lab.ca_pem)
    ctx.check_hostname = False  # we connect by address; the chain is still verified
    return ctx


def greeting_text(banner: str) -> str:
    """What smtplib reports as the greeting message: lines joined by \\n, codes removed."""
    return "\n".join(line[4:] for line in banner.split("\r\n") if line)


def test_every_kind_is_present(lab: Lab) -> None:
    kinds = {h["kind"] for h in lab.truth["hosts"].values()}
    assert set(PRODUCT_KINDS) <= kinds


@pytest.mark.parametrize(
    "kind", ["exim", "postfix", "exchange", "sendmail", "opensmtpd", "iis-smtp", "mdaemon",
             "hmailserver", "zimbra", "courier"]
)  # fmt: skip
def test_smtp_dialogue_with_smtplib(lab: Lab, kind: str) -> None:
    address, host = first(lab, kind, 25)
    port = host["ports"]["25"]
    with smtplib.SMTP(address, 25, timeout=TIMEOUT) as client:
        assert client.ehlo("scanner.test")[0] == 250
        if port["tls"] == "starttls":
            assert client.has_extn("starttls")
            assert client.starttls(context=tls_context(lab))[0] == 220
            assert client.ehlo("scanner.test")[0] == 250
            assert not client.has_extn("starttls")
        else:
            assert not client.has_extn("starttls")
        assert client.noop()[0] == 250


def test_helo_and_unknown_commands(lab: Lab) -> None:
    address, host = first(lab, "exim", 25)
    with smtplib.SMTP(address, 25, timeout=TIMEOUT) as client:
        code, msg = client.helo("scanner.test")
        assert code == 250 and host["hostname"].encode() in msg
        assert client.docmd("FROB")[0] == 500
        assert client.docmd("VRFY", "root")[0] >= 500  # the lab never accepts mail


@pytest.mark.parametrize("kind", ["exim", "postfix", "exchange", "mdaemon", "sendmail"])
def test_smtp_greeting_is_the_truth_banner(lab: Lab, kind: str) -> None:
    address, host = first(lab, kind, 25)
    client = smtplib.SMTP(timeout=TIMEOUT)
    try:
        code, msg = client.connect(address, 25)
        assert code == 220
        assert msg.decode() == greeting_text(host["ports"]["25"]["banner"])
    finally:
        client.close()


def test_multiline_exim_greeting(lab: Lab) -> None:
    for address, host in hosts(lab, "exim"):
        banner = host["ports"].get("25", {}).get("banner", "")
        if banner.startswith("220-"):
            client = smtplib.SMTP(timeout=TIMEOUT)
            try:
                code, msg = client.connect(address, 25)
            finally:
                client.close()
            assert code == 220 and msg.decode() == greeting_text(banner)
            assert "\n" in msg.decode()
            return
    pytest.fail("no multi-line Exim greeting in the lab")


def _greet_pause_host(lab: Lab) -> tuple[str, dict[str, Any]]:
    for address, host in hosts(lab, "hostile:greet-pause"):
        if host["ports"].get("25", {}).get("greet_delay"):
            assert host["product"] == "exim" and host["ports"]["25"]["outcome"] == "ok"
            return address, host
    pytest.fail("no Exim host with a greet pause in the lab")


def test_greet_pause_then_greeting(lab: Lab) -> None:
    address, host = _greet_pause_host(lab)
    client = smtplib.SMTP(timeout=TIMEOUT)
    try:
        code, msg = client.connect(address, 25)
        assert code == 220 and msg.decode() == greeting_text(host["ports"]["25"]["banner"])
    finally:
        client.close()


def test_greet_pause_drops_a_client_that_speaks_first(lab: Lab) -> None:
    address, _host = _greet_pause_host(lab)
    with raw(address) as sock:
        sock.sendall(b"EHLO impatient.test\r\n")
        assert read_all(sock, 4096) == b"554 SMTP synchronization error\r\n"


def test_implicit_tls_smtps(lab: Lab) -> None:
    address, _host = first(lab, "exim", 465)
    with smtplib.SMTP_SSL(address, 465, timeout=TIMEOUT, context=tls_context(lab)) as client:
        assert client.ehlo("scanner.test")[0] == 250
        assert client.sock is not None
        peer = client.sock.getpeercert()
        assert peer and ("DNS", "*.example.org") in peer["subjectAltName"]


def test_submission_offers_starttls(lab: Lab) -> None:
    address, _host = first(lab, "exchange", 587)
    with smtplib.SMTP(address, 587, timeout=TIMEOUT) as client:
        client.ehlo("scanner.test")
        assert client.has_extn("starttls")
        client.starttls(context=tls_context(lab))
        client.ehlo("scanner.test")
        assert client.has_extn("auth")


@pytest.mark.parametrize("kind", ["dovecot", "courier", "zimbra", "mdaemon", "hmailserver"])
def test_imap_with_imaplib(lab: Lab, kind: str) -> None:
    address, host = first(lab, kind, 143)
    port = host["ports"]["143"]
    client = imaplib.IMAP4(address, 143, timeout=TIMEOUT)
    try:
        assert client.welcome.decode() + "\r\n" == port["banner"]
        caps = client.capability()[1][0].decode().split()
        if port["tls"] == "starttls":
            assert "STARTTLS" in caps
            client.starttls(ssl_context=tls_context(lab))
            assert "STARTTLS" not in client.capability()[1][0].decode().split()
        assert client.noop()[0] == "OK"
    finally:
        client.logout()


def test_imaps(lab: Lab) -> None:
    address, host = first(lab, "dovecot", 993)
    client = imaplib.IMAP4_SSL(address, 993, ssl_context=tls_context(lab), timeout=TIMEOUT)
    try:
        assert client.welcome.decode() + "\r\n" == host["ports"]["993"]["banner"]
        assert client.capability()[0] == "OK"
    finally:
        client.logout()


@pytest.mark.parametrize("kind", ["dovecot", "courier", "zimbra", "mdaemon", "hmailserver"])
def test_pop3_with_poplib(lab: Lab, kind: str) -> None:
    address, host = first(lab, kind, 110)
    port = host["ports"]["110"]
    client = poplib.POP3(address, 110, timeout=TIMEOUT)
    try:
        assert client.getwelcome().decode() + "\r\n" == port["banner"]
        caps = client.capa()
        if port["tls"] == "starttls":
            assert "STLS" in caps
            client.stls(context=tls_context(lab))
            assert "STLS" not in client.capa()
    finally:
        client.quit()


def test_pop3s(lab: Lab) -> None:
    address, host = first(lab, "dovecot", 995)
    client = poplib.POP3_SSL(address, 995, timeout=TIMEOUT, context=tls_context(lab))
    try:
        assert client.getwelcome().decode() + "\r\n" == host["ports"]["995"]["banner"]
        assert "USER" in client.capa()
    finally:
        client.quit()


def _sieve_response(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """Bytes up to the first status line (``OK``/``NO``/``BYE``) of a ManageSieve reply."""
    data = b""
    while not any(line[:2] in (b"OK", b"NO") or line[:3] == b"BYE" for line in data.split(b"\r\n")):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def test_managesieve_with_a_socket_client(lab: Lab) -> None:
    """A Dovecot host's Pigeonhole: the truth banner, STARTTLS with the lab's verified chain,
    capabilities sent again unasked after the handshake (RFC 5804), no STARTTLS inside TLS."""
    address, host = first(lab, "dovecot", 4190)
    port = host["ports"]["4190"]
    assert (port["protocol"], port["product"], port["tls"]) == (
        "managesieve",
        "dovecot",
        "starttls",
    )
    with socket.create_connection((address, 4190), timeout=TIMEOUT) as raw:
        greeting = _sieve_response(raw)
        assert greeting.decode() == port["banner"]
        assert b'"STARTTLS"\r\n' in greeting and greeting.endswith(b' ready."\r\n')
        raw.sendall(b"STARTTLS\r\n")
        assert _sieve_response(raw) == b'OK "Begin TLS negotiation now."\r\n'
        with tls_context(lab).wrap_socket(raw) as tls:
            again = _sieve_response(tls)
            assert again.startswith(b'"IMPLEMENTATION" "Dovecot') and b"STARTTLS" not in again
            tls.sendall(b'AUTHENTICATE "PLAIN" "AGZvbwBiYXI="\r\n')
            assert _sieve_response(tls).startswith(b"NO ")
            tls.sendall(b"LOGOUT\r\n")
            assert _sieve_response(tls) == b'OK "Logout completed."\r\n'


def _get(
    lab: Lab, address: str, path: str, port: int = 443
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn: http.client.HTTPConnection
    if port == 443:
        conn = http.client.HTTPSConnection(address, 443, timeout=TIMEOUT, context=tls_context(lab))
    else:
        conn = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"User-Agent": "mxcensus-test"})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def test_exchange_owa_path_only(lab: Lab) -> None:
    address, host = first(
        lab, "exchange", 443, exposure="owa-path", product_line="Exchange Server 2016"
    )
    status, headers, _ = _get(lab, address, "/owa/")
    assert status == 302
    location = dict(headers)["Location"]
    assert "/owa/auth/logon.aspx?url=" in location
    status, headers, body = _get(lab, address, "/owa/auth/logon.aspx?url=x&reason=0")
    assert status == 200
    assert "X-OWA-Version" not in dict(headers)
    assert f"/owa/auth/{host['visible_version']}/themes/resources/".encode() in body
    assert host["precision"] == "build3" and host["visible_version"].count(".") == 2
    status, _, _ = _get(
        lab, address, "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application"
    )
    assert status == 404


def test_exchange_x_owa_version(lab: Lab) -> None:
    address, host = first(lab, "exchange", 443, exposure="x-owa-version")
    status, headers, _ = _get(lab, address, "/owa/auth/logon.aspx")
    assert status == 200
    assert dict(headers)["X-OWA-Version"] == host["version"]
    assert host["precision"] == "build4"


def test_exchange_ecp_manifest(lab: Lab) -> None:
    address, host = first(lab, "exchange", 443, exposure="ecp-manifest")
    status, _headers, body = _get(
        lab, address, "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application"
    )
    assert status == 200
    assert f'version="{host["version"]}"'.encode() in body
    assert b"<assemblyIdentity" in body


def test_exchange_smtp_only_has_no_https(lab: Lab) -> None:
    address, host = first(lab, "exchange", 25, exposure="smtp-only")
    assert "443" not in host["ports"]
    assert host["precision"] == "product" and host["ports"]["25"]["precision"] == "product"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, 443), timeout=TIMEOUT).close()


def test_http_keep_alive_and_head(lab: Lab) -> None:
    address, _host = first(lab, "exchange", 443, exposure="ecp-manifest")
    conn = http.client.HTTPSConnection(address, 443, timeout=TIMEOUT, context=tls_context(lab))
    try:
        for path in ("/owa/", "/EWS/Exchange.asmx", "/nothing-here"):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (302, 401, 404)
        conn.request("HEAD", "/owa/auth/logon.aspx")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b""
    finally:
        conn.close()


def test_exchange_port_80_redirects(lab: Lab) -> None:
    address, _host = first(lab, "exchange", 80)
    status, headers, _ = _get(lab, address, "/owa/", port=80)
    assert status == 301 and dict(headers)["Location"].startswith("https://")
    assert dict(headers)["Server"].startswith("Microsoft-IIS/")


def test_zimbra_web_client(lab: Lab) -> None:
    address, _host = first(lab, "zimbra", 443)
    status, headers, body = _get(lab, address, "/")
    assert status == 200 and b"<title>Zimbra Web Client Sign In</title>" in body
    assert any(k == "Set-Cookie" and v.startswith("ZM_TEST") for k, v in headers)


# -- hostile hosts -----------------------------------------------------------------------


@contextlib.contextmanager
def raw(address: str, port: int = 25, timeout: float = TIMEOUT) -> Iterator[socket.socket]:
    sock = socket.create_connection((address, port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


def read_all(sock: socket.socket, limit: int) -> bytes:
    out = b""
    while len(out) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def test_tarpit_trickles(lab: Lab) -> None:
    address, host = first(lab, "hostile:tarpit", 25)
    banner = host["ports"]["25"]["banner"].encode("latin-1")
    got = b""
    with raw(address, timeout=3.0) as sock:
        for _ in range(3):  # bounded: three reads, each bounded by the timeout
            got += sock.recv(100)
    assert 3 <= len(got) < len(banner) and banner.startswith(got)


def test_silent_says_nothing(lab: Lab) -> None:
    address, _host = first(lab, "hostile:silent", 25)
    with raw(address, timeout=1.0) as sock, pytest.raises(TimeoutError):
        sock.recv(100)


def test_reset_sends_rst(lab: Lab) -> None:
    address, _host = first(lab, "hostile:reset", 25)
    # the RST may already be there when connect() looks at the socket's error
    with pytest.raises(ConnectionResetError), raw(address) as sock:
        for _ in range(3):
            if not sock.recv(100):
                break


def test_drop_closes_cleanly(lab: Lab) -> None:
    address, _host = first(lab, "hostile:drop", 25)
    with raw(address) as sock:
        assert sock.recv(100) == b""


def test_garbage_is_not_smtp(lab: Lab) -> None:
    address, host = first(lab, "hostile:garbage", 25)
    expected = host["ports"]["25"]["banner"].encode("latin-1")
    with raw(address) as sock:
        got = read_all(sock, len(expected))
    assert got == expected and not got[:3].isdigit()


def test_giant_banner_is_streamed_whole_without_crlf(lab: Lab) -> None:
    address, host = first(lab, "hostile:giant", 25)
    size = host["ports"]["25"]["banner_bytes"]
    assert size == 10 * 1024 * 1024
    with raw(address) as sock:
        got = read_all(sock, size + 1)
    assert len(got) == size and b"\n" not in got and got.startswith(b"220 ")


def test_giant_banner_client_can_hang_up_early(lab: Lab) -> None:
    address, _host = first(lab, "hostile:giant", 25)
    with raw(address) as sock:
        assert len(read_all(sock, 64 * 1024)) >= 64 * 1024
    # the lab still answers afterwards
    with raw(address) as sock:
        assert sock.recv(4).startswith(b"220")


def test_slow_multiline_greeting_completes(lab: Lab) -> None:
    address, host = first(lab, "hostile:slow-multiline", 25)
    client = smtplib.SMTP(timeout=TIMEOUT)
    try:
        code, msg = client.connect(address, 25)
        assert code == 220 and msg.decode() == greeting_text(host["ports"]["25"]["banner"])
        assert client.ehlo("scanner.test")[0] == 250
    finally:
        client.close()


def test_broken_starttls(lab: Lab) -> None:
    address, host = first(lab, "hostile:broken-starttls", 25)
    assert host["ports"]["25"]["outcome"] == "tls-error"
    client = smtplib.SMTP(address, 25, timeout=TIMEOUT)
    try:
        client.ehlo("scanner.test")
        assert client.has_extn("starttls")
        with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPServerDisconnected)):
            client.starttls(context=tls_context(lab))
    finally:
        client.close()


@pytest.mark.parametrize("port", [465, 993])
def test_broken_implicit_tls(lab: Lab, port: int) -> None:
    address, _host = first(lab, "hostile:broken-tls", port)
    with raw(address, port) as sock, pytest.raises((ssl.SSLError, ConnectionError)):
        tls_context(lab).wrap_socket(sock, server_hostname="mail.example.org")


@pytest.mark.parametrize(
    "kind", ["hostile:html-banner", "hostile:ansi-banner", "hostile:csv-banner"]
)
def test_hostile_text_banners_are_sent_verbatim(lab: Lab, kind: str) -> None:
    address, host = first(lab, kind, 25)
    banner = host["ports"]["25"]["banner"].encode("latin-1")
    with raw(address) as sock:
        got = read_all(sock, len(banner))
    assert got == banner
    assert host["ports"]["25"]["outcome"] == "ok" and host["product"] == "unknown"


# -- counters -------------------------------------------------------------------------------


def test_counters_count_connections_per_address(lab: Lab) -> None:
    address, _host = first(lab, "postfix", 25)
    before = lab.counters()
    untouched = [a for a in lab.addresses if a not in before["connections"]]
    assert len(untouched) > 100
    for _ in range(5):
        with raw(address) as sock:
            sock.recv(10)
    after = lab.counters()
    assert after["seq"] > before["seq"]
    assert after["connections"].get(address, 0) - before["connections"].get(address, 0) == 5
    assert after["by_port"][address]["25"] >= 5
    for a in untouched:
        assert a not in after["connections"], a


def test_failed_tls_handshakes_are_counted(lab: Lab) -> None:
    address, _host = first(lab, "exim", 465)
    before = lab.counters()["by_port"].get(address, {}).get("465", 0)
    with raw(address, 465) as sock:
        sock.sendall(b"not a client hello\r\n")
        with contextlib.suppress(TimeoutError, ConnectionError):
            sock.settimeout(3)
            sock.recv(100)
    after = lab.counters()["by_port"][address]["465"]
    assert after == before + 1
