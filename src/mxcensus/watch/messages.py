"""What a contact receives: the e-mail (text from a Jinja2 template per language, the
affected services attached as Shadowserver-format CSV) and the webhook's JSON body.

Every value from a scanned server (versions, banners, host names, reasons that quote them)
passes through :func:`mxcensus.text.visible` before it reaches a template, so a
control character or ANSI escape arrives as a visible escape; the body is plain text
(``text/plain; charset=utf-8``), never HTML. Templates live in ``templates/mail.LANG.txt``;
adding a language is adding a file (and its name to ``contacts.LANGUAGES``).
"""

from __future__ import annotations

import email.policy
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Any

import orjson

from mxcensus.store.watches import EventRow
from mxcensus.text import visible

SUBJECTS = {
    "en": "[{ticket}] mxcensus: {count} change{s} on your mail servers ({watch})",
    "de": "[{ticket}] mxcensus: {count} Änderung{en} an Ihren Mailservern ({watch})",
}
_UNITS = {
    "en": (("week", "weeks", 604_800), ("day", "days", 86_400), ("hour", "hours", 3600),
           ("minute", "minutes", 60)),
    "de": (("Woche", "Wochen", 604_800), ("Tag", "Tage", 86_400), ("Stunde", "Stunden", 3600),
           ("Minute", "Minuten", 60)),
}  # fmt: skip
_ORDER = {k: i for i, k in enumerate(
    ("new", "version-changed", "vulnerable", "kev", "potentially-vulnerable", "eol", "fixed",
     "gone", "problem"))}  # fmt: skip


_POLICY = email.policy.default.clone(max_line_length=200)
"""Header lines fold past 200 characters (RFC 5322 allows 998), not past 78: a subject
with its ticket stays on one line for people and filters."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def interval_text(seconds: int, language: str) -> str:
    if seconds <= 0:
        return {"en": "run", "de": "Durchlauf"}[language]
    for one, many, size in _UNITS[language]:
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {one if n == 1 else many}" if n != 1 else one
    return f"{seconds} s"


def _v(text: object) -> str:
    return visible(str(text), limit=300) if text is not None else ""


def _service(ev: dict[str, Any] | None) -> str:
    if not ev:
        return "?"
    product = _v(ev.get("product") or "unknown")
    version = ev.get("version")
    return f"{product} {_v(version)}" if version else product


def event_context(e: EventRow) -> dict[str, Any]:
    """One event as the templates see it: every field already made visible-safe."""
    before = e.evidence.get("before") or {}
    now = e.evidence.get("now") or {}
    where = "" if e.port is None else f"port {e.port}/{_v(e.protocol)}"
    return {
        "id": e.id,
        "kind": e.kind,
        "summary": _v(e.summary),
        "where": where or "—",
        "service": _service(now or before),
        "cve": _v(e.cve) if e.cve else "",
        "reason": _v(now.get("reason") or before.get("reason") or ""),
        "kev": bool(now.get("kev")),
        "status_before": _v(before.get("status") or ""),
        "status_now": _v(now.get("status") or ""),
        "before_product": _service(before),
        "now_product": _service(now),
        "eol_line": _v(now.get("eol_line") or now.get("product_line") or now.get("product")),
        "eol_date": _v(now.get("eol_date") or ""),
    }


def render_text(
    *,
    language: str,
    ticket: str,
    watch: str,
    contact: str,
    interval: int,
    events: Sequence[EventRow],
    attachments: Sequence[str],
) -> tuple[str, str]:
    """(subject, body) of the e-mail."""
    hosts: dict[str, dict[str, Any]] = {}
    remediation: dict[str, list[str]] = defaultdict(list)
    problems = []
    for e in sorted(events, key=lambda e: (e.ip or "", e.port or 0, _ORDER.get(e.kind, 99), e.id)):
        if e.kind == "problem" or e.ip is None:
            problems.append(_v(e.summary))
            continue
        host = hosts.setdefault(e.ip, {"address": _v(e.ip), "hostname": _v(e.hostname or ""),
                                       "events": []})  # fmt: skip
        host["events"].append(event_context(e))
        for line in e.evidence.get("remediation") or ():
            if line not in remediation[e.ip] and e.kind not in ("gone", "fixed"):
                remediation[e.ip].append(line)
    for ip, host in hosts.items():
        host["remediation"] = [_v(r) for r in remediation[ip]]
    count = len(events)
    body = _template(language).render(
        contact=_v(contact),
        watch=_v(watch),
        ticket=ticket,
        count=count,
        hosts=list(hosts.values()),
        problems=problems,
        attachments=list(attachments),
        gone=any(e.kind == "gone" for e in events),
        interval=interval_text(interval, language),
    )
    subject = SUBJECTS[language].format(
        ticket=ticket, count=count, s="" if count == 1 else "s", en="" if count == 1 else "en",
        watch=_v(watch),
    )  # fmt: skip
    return subject, body


@cache
def _template(language: str) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mxcensus.watch", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(f"mail.{language}.txt")


def email_bytes(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    ticket: str,
    message_id: str,
    date: datetime,
    attachments: Iterable[Attachment],
) -> str:
    """The whole message (RFC 5322), stored in the outbox and sent as is, so a resend is
    the same message: same ticket, same Message-ID."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["X-Mxcensus-Ticket"] = ticket
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, charset="utf-8")
    for a in attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg.as_string()


def webhook_body(
    *, ticket: str, watch: str, contact: str, created: datetime, events: Sequence[EventRow]
) -> str:
    """The JSON POSTed to a contact's webhook (its text is what the signature covers)."""
    return orjson.dumps(
        {
            "ticket": ticket,
            "watch": watch,
            "contact": contact,
            "created_at": created.isoformat(),
            "events": [event_json(e) for e in events],
        }
    ).decode()


def event_json(e: EventRow) -> dict[str, Any]:
    return {
        "id": e.id,
        "watch": e.watch,
        "run": e.run,
        "created_at": e.created_at.isoformat(),
        "kind": e.kind,
        "ip": e.ip,
        "port": e.port,
        "protocol": e.protocol,
        "cve": e.cve,
        "hostname": e.hostname,
        "domain": e.domain,
        "asn": e.asn,
        "summary": e.summary,
        "evidence": e.evidence,
        "state": e.state,
        "ticket": e.ticket,
        "contact": e.contact,
    }


def json_attachment(name: str, events: Sequence[EventRow]) -> Attachment:
    data = io.BytesIO()
    for e in events:
        data.write(orjson.dumps(event_json(e)) + b"\n")
    return Attachment(name, "application/x-ndjson", data.getvalue())
