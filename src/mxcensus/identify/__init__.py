"""Identification: fingerprint rules (data) applied to transcripts, pure functions.

Public API (stable for the rest of the pipeline):

- ``identify(transcript) -> Identification`` for one service;
- ``identify_field(field, text) -> Identification`` for one observed field
  (``smtp.banner``, ``imap.banner``, ``http.header.x-owa-version`` …);
- ``combine(idents) -> Identification`` for all services of a host: the most precise
  identification wins and disagreeing evidence is kept in ``conflicts``;
- ``rulesets()`` the compiled rules (loaded once, on first use).

The rules live in ``identify/rules/*.yaml`` (see :mod:`mxcensus.identify.rules`).
"""

from __future__ import annotations

from mxcensus.identify.combine import combine
from mxcensus.identify.engine import identify, identify_field, identify_http_text, rulesets

__all__ = ["combine", "identify", "identify_field", "identify_http_text", "rulesets"]
