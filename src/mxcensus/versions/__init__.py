"""Version orderings, one per product family, behind one interface.

Public API:

- ``scheme_for(product) -> Scheme`` (``compare``, ``sort_key``, ``version_key``, ``parses``);
- ``compare(product, a, b) -> int`` and ``version_key(product, version) -> str``, the
  sortable string stored in ``services.version_key`` so range checks run inside DuckDB.

Products without a scheme of their own use the dotted fallback. See ``interface.py`` for the
rule on unparsable versions (they sort first, by their text).
"""

from __future__ import annotations

from mxcensus.versions.domino import DominoScheme
from mxcensus.versions.exchange import ExchangeScheme, build_parts
from mxcensus.versions.exim import EximScheme
from mxcensus.versions.generic import DottedScheme
from mxcensus.versions.interface import Scheme, SortKey
from mxcensus.versions.postfix import PostfixScheme
from mxcensus.versions.smartermail import SmarterMailScheme
from mxcensus.versions.sunmsg import SunMessagingScheme
from mxcensus.versions.zimbra import ZimbraScheme

EXIM = EximScheme()
EXCHANGE = ExchangeScheme()
POSTFIX = PostfixScheme()
DOVECOT = DottedScheme("dovecot", width=4, prefixes=("dovecot",))
SENDMAIL = DottedScheme("sendmail", width=4, prefixes=("sendmail",))
MDAEMON = DottedScheme("mdaemon", width=4, prefixes=("mdaemon",))
ZIMBRA = ZimbraScheme()
SMARTERMAIL = SmarterMailScheme()
DOMINO = DominoScheme()
SUN_MESSAGING = SunMessagingScheme()
GENERIC = DottedScheme("generic", width=6)

_ALL = (EXIM, EXCHANGE, POSTFIX, DOVECOT, SENDMAIL, MDAEMON, ZIMBRA, SMARTERMAIL, DOMINO)
SCHEMES: dict[str, Scheme] = {s.name: s for s in (*_ALL, SUN_MESSAGING, GENERIC)}

_BY_PRODUCT: dict[str, Scheme] = {
    "exim": EXIM,
    "ms-exchange": EXCHANGE,
    "ms-iis-smtp": EXCHANGE,  # Windows builds: 6.0.3790.3959
    "postfix": POSTFIX,
    "dovecot": DOVECOT,
    "sendmail": SENDMAIL,
    "mdaemon": MDAEMON,
    "zimbra": ZIMBRA,
    "smartermail": SMARTERMAIL,
    "domino": DOMINO,
    "sun-messaging": SUN_MESSAGING,
}


def scheme_for(product: str) -> Scheme:
    return _BY_PRODUCT.get(product, GENERIC)


def compare(product: str, a: str, b: str) -> int:
    return scheme_for(product).compare(a, b)


def version_key(product: str, version: str) -> str:
    return scheme_for(product).version_key(version)


__all__ = [
    "DOMINO", "DOVECOT", "EXCHANGE", "EXIM", "GENERIC", "MDAEMON", "POSTFIX", "SCHEMES",
    "SENDMAIL", "SMARTERMAIL", "SUN_MESSAGING", "ZIMBRA",
    "Scheme", "SortKey", "build_parts", "compare", "scheme_for", "version_key",
]  # fmt: skip
