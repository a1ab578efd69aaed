"""Assessment: CVE, KEV and end-of-support verdicts from the knowledge base, pure functions.

Public API: ``assess(ident: Identification, transcript: Transcript | None) -> Assessment``;
``clear_cache()`` after the knowledge changed.
"""

from mxcensus.assess.core import EHLO_PRODUCTS, assess, assess_on, clear_cache

__all__ = ["EHLO_PRODUCTS", "assess", "assess_on", "clear_cache"]
