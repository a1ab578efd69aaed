"""Real Debian mail servers started by the tests on loopback, stopped by pid.

``exim_server()`` runs Debian's Exim (``/usr/sbin/exim4``) as a private daemon with its own
configuration (``-C``), spool and log directories, a certificate generated in the test,
plain SMTP + STARTTLS on 25 and 587 and implicit TLS on 465 (``tls_on_connect_ports``).
``dovecot_server()`` runs Dovecot (``/usr/sbin/dovecot -F -c``) with IMAP 143 (STARTTLS) /
993, POP3 110 (STLS) / 995 and, when ``dovecot-managesieved`` is installed, Pigeonhole's
ManageSieve on 4190 (STARTTLS), and no usable login (the probes never log in).

Each listens on a loopback address of its own, ``127.77.x.y`` picked at random among those
whose ports are free, so parallel runs do not collide, on the real ports (25, 465, 587,
143, 993, 110, 995, 4190). Both need root: Exim refuses ``-bd`` to anyone but root and its admin
users ("exim: permission denied"), and the daemons bind privileged ports; without root the
fixtures skip with that reason, as they do when a binary is missing.

On Exim's ``-C`` as root: Debian's build defines no ``TRUSTED_CONFIG_LIST``, so a daemon
started with an alternate configuration binds its ports as root and then gives up root
privilege for good, running as ``Debian-exim``; the spool, log directory and TLS key must
therefore be readable (spool and log writable) by that user, and the working directory is
made under ``/tmp`` with mode 0755 rather than in pytest's private ``tmp_path``. ``-bdf``
keeps the daemon in the foreground so the pid we started is the daemon's; ``-oP`` writes
it to a file as well.

Fixtures: ``exim`` and ``dovecot`` (module scope) yield a :class:`RunningServer`; they skip
with a reason when the binary is missing (``scripts/system-deps.sh`` installs both).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.certs import CertFiles, make_cert

EXIM = "/usr/sbin/exim4"
DOVECOT = "/usr/sbin/dovecot"
MANAGESIEVE = "/usr/lib/dovecot/managesieve-login"  # dovecot-managesieved
EXIM_USER = "Debian-exim"

PORTS_ROOT = {
    "smtp": 25,
    "submission": 587,
    "smtps": 465,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
    "managesieve": 4190,
}


@dataclass(frozen=True)
class RunningServer:
    address: str
    ports: dict[str, int]  # service name ("smtp", "smtps", "imap" …) -> port
    cert: CertFiles
    pid: int
    workdir: Path

    def log(self) -> str:
        out = []
        for path in sorted(self.workdir.rglob("*log*")):
            if path.is_file():
                out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)


def _ports() -> dict[str, int]:
    if os.geteuid() != 0:
        pytest.skip("the real Exim/Dovecot daemons need root (exim -bd, ports below 1024)")
    return PORTS_ROOT


def _free_address(ports: list[int]) -> str:
    """A random 127.77.x.y where every port in ``ports`` can be bound (at most 50 tries)."""
    rng = random.Random()
    for _ in range(50):
        address = f"127.77.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}"
        try:
            for port in ports:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((address, port))
        except OSError:
            continue
        return address
    raise RuntimeError("no free 127.77.x.y address for the test servers")


def _wait_listening(
    proc: subprocess.Popen[bytes], address: str, ports: list[int], timeout: float = 15.0
) -> None:
    """Wait (bounded) until every port accepts a connection; fail if the process exits."""
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not listening on {address}:{pending} after {timeout}s")
        try:
            with socket.create_connection((address, pending[0]), timeout=0.5):
                pending.pop(0)
        except OSError:
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the pid we started, wait at most 10 s, then SIGKILL that pid."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def _give_to(user: str, *paths: Path) -> None:
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def exim_server(
    hostname: str = "mx.exim.test.invalid", *, banner: str = "", own_certificate: bool = False
) -> Iterator[RunningServer]:
    """``banner``: an ``smtp_banner`` of the administrator's instead of Exim's default;
    ``own_certificate``: configure no certificate, so Exim (4.90 and later) makes its own."""
    if not Path(EXIM).exists():
        pytest.skip(f"{EXIM} is not installed (scripts/system-deps.sh installs exim4)")
    ports = {k: _ports()[k] for k in ("smtp", "submission", "smtps")}
    address = _free_address(list(ports.values()))
    work = _workdir("mxcensus-exim-")
    try:
        cert = make_cert(work / "tls", hostname, (hostname, address))
        (work / "tls").chmod(0o755)
        cert.key.chmod(0o644)  # read by the daemon after it drops root (see module doc)
        spool, logs = work / "spool", work / "log"
        spool.mkdir()
        logs.mkdir()
        _give_to(EXIM_USER, spool, logs)
        conf = work / "exim.conf"
        conf.write_text(
            f"""# private Exim for mxcensus tests: never accepts mail
primary_hostname = {hostname}
local_interfaces = {address}
daemon_smtp_ports = {ports["smtp"]} : {ports["smtps"]} : {ports["submission"]}
tls_on_connect_ports = {ports["smtps"]}
tls_advertise_hosts = *
{"" if own_certificate else f"tls_certificate = {cert.cert}"}
{"" if own_certificate else f"tls_privatekey = {cert.key}"}
{f"smtp_banner = {banner}" if banner else ""}
spool_directory = {spool}
log_file_path = {logs}/%slog
keep_environment =
acl_smtp_mail = refuse
acl_smtp_rcpt = refuse

begin acl
refuse:
  deny message = this test server accepts no mail

begin routers
begin transports
"""
        )
        pidfile = work / "exim.pid"
        argv = [EXIM, "-C", str(conf), "-bdf", "-oP", str(pidfile)]
        with _daemon(argv, address, ports, cert, work) as server:
            yield server
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class MailSink:
    """A private Exim that accepts mail for ``domains`` (STARTTLS, AUTH PLAIN as ``user``
    with ``password`` once TLS is up) and appends every message to ``mailbox`` (mbox)."""

    server: RunningServer
    mailbox: Path
    user: str
    password: str

    @property
    def smtp(self) -> str:
        return f"{self.server.address}:{self.server.ports['submission']}"

    def messages(self) -> list[Any]:
        import mailbox

        if not self.mailbox.exists():
            return []
        box = mailbox.mbox(str(self.mailbox), create=False)
        try:
            return [box.get_message(k) for k in box.iterkeys()]
        finally:
            box.close()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Any]:
        """The mailbox once it holds at least ``count`` messages (Exim delivers after it
        accepted: bounded wait), or what it holds when ``timeout`` has passed."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@contextlib.contextmanager
def mail_sink_server(
    domains: tuple[str, ...] = ("example.test",),
    user: str = "mxcensus",
    password: str = "s3cret-for-tests",
    hostname: str = "smtp.sink.test.invalid",
) -> Iterator[MailSink]:
    """Debian's Exim as the user's SMTP server: listens on 587 (STARTTLS) of a free
    127.77.x.y, accepts mail only for ``domains`` (others: 550), delivers at once into
    one mbox file the test reads back."""
    if not Path(EXIM).exists():
        pytest.skip(f"{EXIM} is not installed (scripts/system-deps.sh installs exim4)")
    ports = {"submission": _ports()["submission"]}
    address = _free_address(list(ports.values()))
    work = _workdir("mxcensus-sink-")
    try:
        cert = make_cert(work / "tls", hostname, (hostname, address))
        (work / "tls").chmod(0o755)
        cert.key.chmod(0o644)
        spool, logs, mail = work / "spool", work / "log", work / "mail"
        for d in (spool, logs, mail):
            d.mkdir()
        _give_to(EXIM_USER, spool, logs, mail)
        condition = "${if and {{eq{$auth2}{USER}}{eq{$auth3}{PASS}}}}"
        condition = condition.replace("USER", user).replace("PASS", password)
        conf = work / "exim.conf"
        conf.write_text(
            f"""# private Exim for mxcensus watch tests: a mail sink
primary_hostname = {hostname}
local_interfaces = {address}
daemon_smtp_ports = {ports["submission"]}
tls_advertise_hosts = *
tls_certificate = {cert.cert}
tls_privatekey = {cert.key}
spool_directory = {spool}
log_file_path = {logs}/%slog
keep_environment =
domainlist sink_domains = {" : ".join(domains)}
acl_smtp_rcpt = check_rcpt
auth_advertise_hosts = ${{if def:tls_in_cipher {{*}}{{}}}}

begin acl
check_rcpt:
  accept domains = +sink_domains
  deny message = relay not permitted (sink_domains only)

begin routers
sink:
  driver = accept
  domains = +sink_domains
  transport = mbox

begin transports
mbox:
  driver = appendfile
  file = {mail}/mailbox
  user = {EXIM_USER}
  mode = 0644
  envelope_to_add
  return_path_add
  delivery_date_add

begin retry
* * F,1h,1m

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = {condition}
  server_set_id = $auth2
"""
        )
        pidfile = work / "exim.pid"
        argv = [EXIM, "-C", str(conf), "-bdf", "-oP", str(pidfile)]
        with _daemon(argv, address, ports, cert, work) as server:
            yield MailSink(server, mail / "mailbox", user, password)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _daemon(
    argv: list[str],
    address: str,
    ports: dict[str, int],
    cert: CertFiles,
    work: Path,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Start a foreground daemon (stderr into ``work``), wait until every port listens, yield
    the running server, and stop it by pid afterwards."""
    with (work / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
    try:
        server = RunningServer(address, ports, cert, proc.pid, work)
        try:
            _wait_listening(proc, address, list(ports.values()))
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{server.log()}") from None
        yield server
    finally:
        _stop(proc)


@contextlib.contextmanager
def dovecot_server(
    hostname: str = "imap.dovecot.test.invalid", *, greeting: str = ""
) -> Iterator[RunningServer]:
    """``greeting``: a ``login_greeting`` of the administrator's instead of Dovecot's."""
    if not Path(DOVECOT).exists():
        pytest.skip(f"{DOVECOT} is not installed (scripts/system-deps.sh installs dovecot)")
    services = ["imap", "imaps", "pop3", "pop3s"]
    sieve = Path(MANAGESIEVE).exists()
    if sieve:
        services.append("managesieve")
    ports = {k: _ports()[k] for k in services}
    address = _free_address(list(ports.values()))
    work = _workdir("mxcensus-dovecot-")
    internal, login = "dovecot", "dovenull"
    try:
        cert = make_cert(work / "tls", hostname, (hostname, address))
        (work / "passwd").write_text("")  # nobody can log in
        conf = work / "dovecot.conf"
        conf.write_text(
            f"""# private Dovecot for mxcensus tests: nobody can log in
base_dir = {work}/run
state_dir = {work}/state
instance_name = mxcensus-{address}
protocols = imap pop3{" sieve" if sieve else ""}
listen = {address}
log_path = {work}/dovecot.log
ssl = yes
ssl_cert = <{cert.cert}
ssl_key = <{cert.key}
default_internal_user = {internal}
default_login_user = {login}
mail_location = maildir:{work}/mail/%u
{f"login_greeting = {greeting}" if greeting else ""}
passdb {{
  driver = passwd-file
  args = {work}/passwd
}}
userdb {{
  driver = static
  args = uid={internal} gid={internal} home={work}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    port = {ports["imaps"]}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports["pop3"]}
  }}
  inet_listener pop3s {{
    port = {ports["pop3s"]}
    ssl = yes
  }}
}}
"""
        )
        if sieve:
            with conf.open("a") as fh:
                fh.write(
                    "service managesieve-login {\n  inet_listener sieve {\n"
                    f"    port = {ports['managesieve']}\n  }}\n}}\n"
                )
        argv = [DOVECOT, "-F", "-c", str(conf)]
        with _daemon(argv, address, ports, cert, work) as server:
            yield server
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def exim() -> Iterator[RunningServer]:
    with exim_server() as server:
        yield server


@pytest.fixture(scope="module")
def dovecot() -> Iterator[RunningServer]:
    with dovecot_server() as server:
        yield server


POSTFIX_ROOT = Path(os.environ.get("POSTFIX_ROOT", "/opt/mxcensus-postfix"))
"""Debian's postfix package unpacked (``dpkg -x``, scripts/system-deps.sh): it conflicts with
exim4-daemon-light, so it is run from there rather than installed."""
POSTFIX_SERVICES = frozenset(
    {"cleanup", "tlsmgr", "rewrite", "bounce", "defer", "trace", "verify", "flush", "proxymap",
     "proxywrite", "smtp", "relay", "showq", "error", "retry", "discard", "anvil", "scache",
     "postlog"}
)  # fmt: skip
"""The internal services smtpd needs, from the package's master.cf.dist (pickup and qmgr
left out: they need the maildrop and active queues)."""


def _postfix_config(
    work: Path, address: str, ports: dict[str, int], cert: CertFiles, hostname: str, banner: str
) -> Path:
    """A private configuration directory: main.cf naming the unpacked package's directories,
    refusing every recipient; master.cf with smtpd on ``address`` (25, 587, 465 in wrapper
    mode) and the internal services without chroot."""
    root = POSTFIX_ROOT
    conf, queue, data = work / "etc", work / "queue", work / "data"
    conf.mkdir()
    for sub in ("pid", "private", "public"):
        (queue / sub).mkdir(parents=True)
    data.mkdir()
    # what postfix-set-permissions would do: the daemons (mail_owner) own their sockets
    shutil.chown(data, "nobody", "nogroup")
    shutil.chown(queue / "private", "nobody")
    shutil.chown(queue / "public", "nobody", "mail")
    (queue / "private").chmod(0o700)
    (queue / "public").chmod(0o710)
    lib = root / "usr/lib/postfix"
    lines = [
        "# private Postfix for mxcensus tests: refuses every recipient",
        "compatibility_level = 3.6",
        f"queue_directory = {queue}",
        f"data_directory = {data}",
        f"daemon_directory = {lib}/sbin",
        f"shlib_directory = {lib}",
        f"meta_directory = {conf}",
        f"command_directory = {root}/usr/sbin",
        # master(8) hands its children only these variables: without the library path every
        # daemon dies with "libpostfix-master.so: cannot open shared object file"
        "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE"
        f" POSTLOG_HOSTNAME LD_LIBRARY_PATH={lib}",
        "mail_owner = nobody",  # no postfix user needed; these three must differ
        "setgid_group = mail",
        "default_privs = daemon",
        f"myhostname = {hostname}",
        "mydestination =",
        "alias_maps =",
        "alias_database =",
        "local_recipient_maps =",
        "smtpd_peername_lookup = no",
        "inet_protocols = ipv4",
        # an interface's addresses only (127.77.x.y is none): listeners name theirs below
        "inet_interfaces = loopback-only",
        f"maillog_file = {work}/postfix.log",
        f"maillog_file_prefixes = {work}",
        "smtpd_tls_security_level = may",
        f"smtpd_tls_cert_file = {cert.cert}",
        f"smtpd_tls_key_file = {cert.key}",
        "smtpd_relay_restrictions = reject",
        "smtpd_recipient_restrictions = reject",
    ]
    if banner:
        lines.append(f"smtpd_banner = {banner}")
    (conf / "main.cf").write_text("\n".join(lines) + "\n")
    dist = (root / "usr/share/postfix/master.cf.dist").read_text().splitlines()
    internal = []
    for line in dist:
        fields = line.split()
        if fields and not line[0].isspace() and fields[0] in POSTFIX_SERVICES and len(fields) > 4:
            internal.append(" ".join([*fields[:4], "n", *fields[5:]]))  # no chroot jail
    (conf / "master.cf").write_text(
        f"{address}:{ports['smtp']} inet n - n - - smtpd\n"
        f"{address}:{ports['submission']} inet n - n - - smtpd\n"
        f"{address}:{ports['smtps']} inet n - n - - smtpd\n"
        "  -o smtpd_tls_wrappermode=yes\n" + "\n".join(internal) + "\n"
    )
    # Postfix re-reads a configuration file until its mtime lies in the past (a guard against
    # files being edited): one written this second costs 1.5 s of 300 ms sleeps
    past = time.time() - 60
    for name in ("main.cf", "master.cf"):
        os.utime(conf / name, (past, past))
    return conf


@contextlib.contextmanager
def postfix_server(
    hostname: str = "mx.postfix.test.invalid", *, banner: str = ""
) -> Iterator[RunningServer]:
    """Debian's Postfix (master(8) from :data:`POSTFIX_ROOT`, foreground, as root) with a
    private configuration on a free 127.77.x.y: SMTP 25 and 587 with STARTTLS, 465 implicit
    TLS; refuses every recipient. ``banner``: an ``smtpd_banner`` of the administrator's."""
    master = POSTFIX_ROOT / "usr/lib/postfix/sbin/master"
    if not master.exists():
        pytest.skip(f"{master} is missing (scripts/system-deps.sh unpacks Debian's postfix)")
    ports = {k: _ports()[k] for k in ("smtp", "submission", "smtps")}
    address = _free_address(list(ports.values()))
    work = _workdir("mxcensus-postfix-")
    try:
        cert = make_cert(work / "tls", hostname, (hostname, address))
        conf = _postfix_config(work, address, ports, cert, hostname, banner)
        argv = [str(master), "-c", str(conf), "-s", "-d"]
        with _daemon(argv, address, ports, cert, work, env=_postfix_env(conf)) as server:
            yield server
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _postfix_env(conf: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "TZ", "LANG")}
    env["LD_LIBRARY_PATH"] = f"{POSTFIX_ROOT}/usr/lib/postfix"
    env["MAIL_CONFIG"] = str(conf)
    return env


@pytest.fixture(scope="module")
def postfix() -> Iterator[RunningServer]:
    with postfix_server() as server:
        yield server
