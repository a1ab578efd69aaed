"""The closed vocabulary of products (recog's vendor.txt / fields.txt in spirit).

Rules, knowledge and reports name products only by these ids; anything else fails at load.
Add a product here first, with its vendor and display name.
"""

from __future__ import annotations

from typing import NamedTuple


class Product(NamedTuple):
    vendor: str
    name: str  # display name
    kind: str  # mta, imap-pop, groupware, webmail, hosted (a provider's front end), http


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
    "axigen": Product("axigen", "Axigen Mail Server", "groupware"),
    "mailenable": Product("mailenable", "MailEnable", "groupware"),
    "mercury": Product("pmail", "Mercury Mail Transport System", "mta"),
    "sun-messaging": Product("oracle", "Sun/Oracle Communications Messaging Server", "groupware"),
    "apache-james": Product("apache", "Apache James", "mta"),
    "imail": Product("progress", "Ipswitch/Progress IMail Server", "groupware"),
    "groupwise": Product("microfocus", "Novell/Micro Focus GroupWise", "groupware"),
    "zmailer": Product("zmailer", "ZMailer", "mta"),
    "ecelerity": Product("sparkpost", "Momentum (Ecelerity)", "mta"),
    "uw-imap": Product("uw", "UW IMAP", "imap-pop"),
    "qpopper": Product("qualcomm", "Qpopper", "imap-pop"),
    "argosoft": Product("argosoft", "ArGoSoft Mail Server", "mta"),
    "ms-windows-pop3": Product("microsoft", "Microsoft Windows POP3 Service", "imap-pop"),
    "roundcube": Product("roundcube", "Roundcube Webmail", "webmail"),
    "gmail": Product("google", "Gmail (Google front end)", "hosted"),
    "exchange-online": Product("microsoft", "Exchange Online (Microsoft 365)", "hosted"),
    "unknown": Product("", "unknown", ""),
}


def is_product(product_id: str) -> bool:
    return product_id in PRODUCTS
