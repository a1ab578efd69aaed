"""Assessment: CVE, KEV and end-of-support verdicts from the knowledge base, pure functions.

Public API: ``assess(ident: Identification, transcript: Transcript | None) -> Assessment``;
``clear_cache()`` after the knowledge changed.
"""

from mxcensus.assess.core import assess, clear_cache

__all__ = ["assess", "clear_cache"]
