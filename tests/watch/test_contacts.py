"""The contacts file: both layouts, one-line errors naming file and place, and routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxcensus.watch.contacts import ContactsError, load_contacts

YAML = """fallback: {email: [cert@example.net], interval: 12h}
contacts:
  - name: isp
    match: [192.0.2.0/24, AS64500]
    email: [noc@isp.example]
  - name: isp-customer
    match: [192.0.2.128/25]
    email: [ops@customer.example]
    language: de
    format: json
  - name: mail-team
    match: [example.org]
    webhook: https://hooks.example.org/mx
    secret_env: HOOK_SECRET
  - name: sub-team
    match: [eu.example.org, "2001:db8::/32"]
    email: [eu@example.org]
"""


def test_routing_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(YAML)
    c = load_contacts(path)

    def who(ip: str | None, asn: int | None = None, *names: str) -> str | None:
        found = c.route(ip, asn, names)
        return found.name if found else None

    assert who("192.0.2.10") == "isp"
    assert who("192.0.2.200") == "isp-customer"  # the longest prefix wins
    assert who("198.51.100.1", 64500) == "isp"  # by ASN
    assert who("198.51.100.1", 64501) == "fallback"
    assert who("192.0.2.200", None, "mx1.example.org") == "mail-team"  # the domain first
    assert who("192.0.2.200", None, "mx.eu.example.org") == "sub-team"  # the longest domain
    assert who("2001:db8::25") == "sub-team"
    assert who(None, None, "notexample.org") == "fallback"
    assert c.by_name("isp-customer").language == "de"  # type: ignore[union-attr]
    assert c.fallback is not None and c.fallback.interval == 12 * 3600


def test_csv_layout(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "name,match,email,language,interval\n"
        "isp,192.0.2.0/24;AS64500,noc@isp.example;abuse@isp.example,de,1w\n"
        "fallback,*,cert@example.net,,\n"
    )
    c = load_contacts(path)
    (isp,) = c.entries
    assert isp.emails == ("noc@isp.example", "abuse@isp.example") and isp.match.asns == (64500,)
    assert isp.interval == 7 * 86400 and c.fallback is not None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.yaml", "contacts: [\n", r"^.*c\.yaml:2: not valid YAML"),
        ("c.yaml", "contacts:\n  - match: [300.1.2.3/8]\n    email: [a@b.example]\n",
         r"c\.yaml: contacts\[0\]: '300\.1\.2\.3/8': not a CIDR, ASN"),
        ("c.yaml", "contacts:\n  - match: [a.example]\n", r"contacts\[0\]: contact a\.example:"
         " give an email or a webhook"),
        ("c.yaml", "contacts:\n  - match: [a.example]\n    email: [nobody]\n",
         r"'nobody': not an e-mail address"),
        ("c.yaml", "contacts:\n  - match: [a.example]\n    webhook: http://h.example/x\n",
         r"webhook needs secret_env or secret_file"),
        ("c.yaml", "contacts:\n  - match: [a.example]\n    email: [a@a.example]\n"
         "    interval: soon\n", r"interval 'soon': not a duration"),
        ("c.yaml", "contacts:\n  - match: [a.example]\n    email: [a@a.example]\n"
         "    language: fr\n", r"language 'fr': one of en, de"),
        ("c.yaml", "fallback: {match: [x.example], email: [a@a.example]}\n",
         r"the fallback matches everything"),
        ("c.csv", "match,mail\n", r"c\.csv:1: header must name 'match'.*unknown: mail"),
        ("c.csv", "match,email\nAS99999999999,a@a.example\n", r"c\.csv:2: 'AS99999999999'"),
        ("c.csv", "match,email\nx.example,a@a.example,extra\n", r"c\.csv:2: more cells"),
        ("c.txt", "", r"c\.txt: a contacts file is \.yaml, \.yml or \.csv"),
    ],
)  # fmt: skip
def test_broken_files_are_one_line_naming_where(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ContactsError, match=message) as err:
        load_contacts(path)
    assert "\n" not in str(err.value)


def test_duplicate_names(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("contacts:\n  - {name: a, match: [x.example], email: [a@x.example]}\n"
                    "  - {name: a, match: [y.example], email: [a@y.example]}\n")  # fmt: skip
    with pytest.raises(ContactsError, match="contact name 'a' is used twice"):
        load_contacts(path)
