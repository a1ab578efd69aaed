"""The enrichment contract: an IP (and what the source said about it) in, a :class:`Geo` out.

One member: ``lookup(ip, hint) -> Geo``. ``hint`` is the location a source carried (Shodan's
``location``, Censys' ``autonomous_system``, Shadowserver's ``geo``/``asn`` columns): what was
recorded at observation time wins over today's databases, and :attr:`Geo.source` says which
source gave the answer (``shodan``, ``iptocc``, ``mmdb``; ``shodan+mmdb`` when the hint gave
the country and an MMDB the rest).

Errors: :class:`EnrichError` (a ``--geo-db`` file that is not a readable MMDB) is a usage
error, exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mxcensus.errors import UsageError
from mxcensus.model import Transcript


class EnrichError(UsageError):
    pass


@dataclass(frozen=True, slots=True)
class Geo:
    """Where an address is and whose network it is. Empty strings / None: not known."""

    country: str = ""  # ISO 3166-1 alpha-2, upper case
    continent: str = ""  # AF AN AS EU NA OC SA
    region: str = ""  # UN M49 sub-region name, "Western Europe"
    asn: int | None = None
    org: str = ""
    city: str = ""
    source: str = ""  # which source(s) answered, in order: an importer name, "iptocc+mmdb"

    @property
    def is_empty(self) -> bool:
        return not (self.country or self.asn is not None or self.org or self.city)


class Enricher(Protocol):
    def lookup(self, ip: str, hint: Geo | Transcript | None = None) -> Geo:
        """``hint``: a :class:`Geo` the caller built, or a transcript of this address whose
        importer recorded a location (``Transcript.extra`` ``geo.*`` keys)."""
        ...
