"""Sending what the outbox holds: e-mail through the user's SMTP server, signed webhooks.

**At least once, the same message.** A notification is stored whole in the outbox
(``store/watches.py``) before anything is sent, and marked ``sent`` only after the server
accepted it. Between the server's acceptance (SMTP's ``250`` after the data, an HTTP 2xx)
and that mark, a crash cannot be told from a failure: the next run (or the daemon's next
outbox pass) sends it again — the very same bytes, with the same ticket id
(``X-Mxcensus-Ticket``, in the subject, ``X-Mxcensus-Ticket`` header of the webhook) and
the same ``Message-ID``, so a mail system or a receiver that deduplicates on either sees
one notification. No crash can lose one: it stays ``pending`` until accepted.

**Retries.** Within one pass a channel is tried up to ``tries`` times, waiting
``backoff × 2**n`` seconds between tries (a webhook answering 5xx or not at all, an SMTP
server refusing with 4xx or timing out); still failing, it is retried by later passes, at
most every ``RETRY_AFTER[attempts]`` (1 minute growing to 6 hours). A permanent refusal
(SMTP 5xx for every recipient, HTTP 4xx) is recorded and retried the same way: the cause
is usually fixed by the operator (a contacts file, a password), and nothing is dropped.

**Webhooks** are ``POST`` with ``Content-Type: application/json``; the header
``X-Mxcensus-Signature: t=UNIX,v1=HEX`` carries the time of sending and
HMAC-SHA256(secret, ``"UNIX." + body``) in hex. A receiver recomputes it with the shared
secret, compares in constant time and refuses a ``t`` older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses
from pathlib import Path

from mxcensus.bounds import Range
from mxcensus.errors import MxcensusError
from mxcensus.watch.spec import Smtp

RETRY_AFTER = (60, 300, 1800, 7200, 21_600)
"""Seconds before the next pass retries a channel, by attempts made (the last repeats)."""
TRIES = Range(1, 10)
BACKOFF = Range(0.0, 60.0, float)
WEBHOOK_TIMEOUT = Range(0.1, 120.0, float)
SIGNATURE_HEADER = "X-Mxcensus-Signature"
TICKET_HEADER = "X-Mxcensus-Ticket"


class DeliveryError(MxcensusError):
    """One failed try: one line saying where and why."""


@dataclass(frozen=True, slots=True)
class Channels:
    """How to reach the servers: the SMTP settings of the watch, webhook secrets by contact."""

    smtp: Smtp | None
    secrets: Callable[[str], bytes]  # contact name -> HMAC key
    tries: int = 3
    backoff: float = 1.0
    webhook_timeout: float = 10.0


def retry_at(now: datetime, attempts: int) -> datetime:
    return now + timedelta(seconds=RETRY_AFTER[min(attempts, len(RETRY_AFTER) - 1)])


def sign(secret: bytes, body: bytes, stamp: int) -> str:
    mac = hmac.new(secret, str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """The receiver's check (what a receiver does; the tests' receiver calls it)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, stamp), header)


def send_email(smtp: Smtp, message: str, recipients: Sequence[str]) -> list[str]:
    """Submit ``message`` to the user's server; :class:`DeliveryError` unless accepted
    for at least one recipient. Returns the recipients the server refused (if some)."""
    host, port = smtp.host_port
    where = f"smtp {host}:{port}"
    context = ssl.create_default_context(cafile=smtp.ca_file) if smtp.ca_file else None
    try:
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(host, port, timeout=smtp.timeout,
                                      context=context or ssl.create_default_context())  # fmt: skip
        else:
            client = smtplib.SMTP(host, port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                if not client.has_extn("starttls"):
                    raise DeliveryError(f"{where}: the server offers no STARTTLS (security "
                                        "starttls); refusing to send in clear")  # fmt: skip
                client.starttls(context=context or ssl.create_default_context())
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, _password(smtp))
            refused = client.sendmail(smtp.sender, list(recipients), message.encode("utf-8"))
    except DeliveryError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        first = next(iter(exc.recipients.items()), None)
        why = f"{first[0]}: {first[1][0]} {_text(first[1][1])}" if first else "all refused"
        raise DeliveryError(f"{where}: every recipient refused ({why})") from None
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib's read timed out
            raise DeliveryError(f"{where}: no answer within {smtp.timeout:g} s") from None
        raise DeliveryError(f"{where}: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except TimeoutError:
        raise DeliveryError(f"{where}: no answer within {smtp.timeout:g} s") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{where}: TLS failed ({exc.reason or exc})") from None
    except (smtplib.SMTPException, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DeliveryError(f"{where}: {why}") from None
    return sorted(refused)


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]


def _password(smtp: Smtp) -> str:
    if smtp.password_file:
        try:
            return Path(smtp.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeliveryError(
                f"--smtp-password-file {smtp.password_file}: {exc.strerror}"
            ) from exc
    value = os.environ.get("MXCENSUS_SMTP_PASSWORD")
    if value is None:
        raise DeliveryError(
            f"smtp login as {smtp.user}: no password (--smtp-password-file or "
            "MXCENSUS_SMTP_PASSWORD)"
        )
    return value


def send_webhook(url: str, secret: bytes, body: str, ticket: str, timeout: float) -> None:
    data = body.encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "mxcensus-watch",
            SIGNATURE_HEADER: sign(secret, data, int(time.time())),
            TICKET_HEADER: ticket,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65_536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {url}: HTTP {exc.code} {_text(exc.reason or '')}") from None
    except TimeoutError:
        raise DeliveryError(f"webhook {url}: no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise DeliveryError(f"webhook {url}: no answer within {timeout:g} s") from None
        raise DeliveryError(f"webhook {url}: {reason}") from None
    except OSError as exc:
        raise DeliveryError(f"webhook {url}: {exc.strerror or exc}") from None


def recipients_of(target: str) -> list[str]:
    return [addr for _, addr in getaddresses([target]) if addr]
