"""A watch's stored form: one flat JSON object, as the stores written so far hold it."""

from __future__ import annotations

from mxcensus.watch.spec import Smtp, Watch

# Written by Watch.to_json before the settings were grouped (main 83a6462): the stores hold
# exactly this, and the grouped Watch must read it and write it back byte for byte.
SCAN = (
    '{"name":"w1","networks":["192.0.2.0/24"],"asns":[64500],"files":["/t/list.txt"],'
    '"domains":["example.org"],"web_names":true,"feed":null,"feed_format":null,'
    '"asn_db":["/t/asn.mmdb"],"prefix_file":"/t/prefixes.txt","resolver":"127.0.0.1:5353",'
    '"dns_timeout":2.5,"schedule":"every 1d","contacts":"/t/contacts.yaml",'
    '"smtp":{"server":"127.0.0.1:2525","security":"starttls","user":"u",'
    '"password_file":"/t/pw","sender":"mxcensus@localhost","timeout":30.0,'
    '"ca_file":"/t/ca.pem"},"ports":"25,587","probes":"smtp","rate":50,'
    '"allow_reserved":true,"exclude":["192.0.2.7"],"geo_db":["/t/geo.mmdb"],'
    '"extra":{"later":[1,2]}}'
)
FEED = (
    '{"name":"f1","networks":[],"asns":[],"files":[],"domains":[],"web_names":false,'
    '"feed":"/t/feed","feed_format":"shadowserver","asn_db":[],"prefix_file":null,'
    '"resolver":null,"dns_timeout":5.0,"schedule":null,"contacts":null,"smtp":null,'
    '"ports":null,"probes":null,"rate":null,"allow_reserved":false,"exclude":[],'
    '"geo_db":[],"extra":{}}'
)


def test_the_stored_form_reads_into_its_groups() -> None:
    w = Watch.from_json(SCAN)
    assert w.name == "w1" and w.schedule == "every 1d" and w.kind == "scan"
    assert (w.watched.networks, w.watched.asns, w.watched.domains, w.watched.web_names) == (
        ("192.0.2.0/24",), (64500,), ("example.org",), True,
    )  # fmt: skip
    assert (w.lookup.asn_db, w.lookup.prefix_file, w.lookup.resolver, w.lookup.dns_timeout) == (
        ("/t/asn.mmdb",), "/t/prefixes.txt", "127.0.0.1:5353", 2.5,
    )  # fmt: skip
    assert w.notification.contacts == "/t/contacts.yaml"
    assert w.notification.smtp == Smtp(
        "127.0.0.1:2525", user="u", password_file="/t/pw", ca_file="/t/ca.pem"
    )
    assert (w.scanning.ports, w.scanning.rate, w.scanning.allow_reserved) == ("25,587", 50, True)
    assert w.scanning.exclude == ("192.0.2.7",) and w.geo_db == ("/t/geo.mmdb",)
    assert w.extra == {"later": [1, 2]}
    f = Watch.from_json(FEED)
    assert (f.kind, f.watched.feed, f.watched.feed_format) == ("feed", "/t/feed", "shadowserver")
    assert f.notification.smtp is None


def test_the_stored_form_is_written_back_byte_for_byte() -> None:
    assert Watch.from_json(SCAN).to_json() == SCAN
    assert Watch.from_json(FEED).to_json() == FEED


def test_keys_missing_take_their_defaults_and_unknown_ones_are_passed_over() -> None:
    w = Watch.from_json('{"name":"old","feed":"/t/feed","later_setting":1}')
    assert w == Watch.from_json(FEED.replace('"f1"', '"old"').replace('"shadowserver"', "null"))
