"""Assessment: CVE, KEV and end-of-support verdicts from the knowledge base, pure functions.

Public API: ``assess(ident: Identification, transcript: Transcript | None) -> Assessment``.
"""
