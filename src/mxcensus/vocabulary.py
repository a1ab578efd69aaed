"""The closed vocabulary of products (recog's vendor.txt / fields.txt in spirit).

Rules, knowledge and reports name products only by these ids; anything else fails at load.
Add a product here first, with its vendor and display name.
"""

from __future__ import annotations

from typing import NamedTuple


class Product(NamedTuple):
    vendor: str
    name: str  # display name
    kind: str  # mta, imap-pop, groupware, webmail, http


PRODUCTS: dict[str, Product] = {
    "exim": Product("exim", "Exim", "mta"),
    "ms-exchange": Product("microsoft", "Microsoft Exchange Server", "groupware"),
    "ms-iis-smtp": Product("microsoft", "Microsoft IIS SMTP Service", "mta"),
    "postfix": Product("postfix", "Postfix", "mta"),
    "sendmail": Product("sendmail", "Sendmail", "mta"),
    "opensmtpd": Product("openbsd", "OpenSMTPD", "mta"),
    "qmail": Product("qmail", "qmail", "mta"),
    "haraka": Product("haraka", "Haraka", "mta"),
    "zimbra": Product("synacor", "Zimbra Collaboration", "groupware"),
    "hmailserver": Product("hmailserver", "hMailServer", "mta"),
    "mdaemon": Product("mdaemon", "MDaemon Email Server", "groupware"),
    "smartermail": Product("smartertools", "SmarterMail", "groupware"),
    "kerio-connect": Product("kerio", "Kerio Connect", "groupware"),
    "icewarp": Product("icewarp", "IceWarp Mail Server", "groupware"),
    "communigate-pro": Product("communigate", "CommuniGate Pro", "groupware"),
    "domino": Product("hcl", "HCL (Lotus) Domino", "groupware"),
    "dovecot": Product("dovecot", "Dovecot", "imap-pop"),
    "courier": Product("courier", "Courier Mail Server", "imap-pop"),
    "cyrus": Product("cmu", "Cyrus IMAP", "imap-pop"),
    "unknown": Product("", "unknown", ""),
}


def is_product(product_id: str) -> bool:
    return product_id in PRODUCTS
