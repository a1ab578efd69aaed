"""Identification: fingerprint rules (data) applied to transcripts, pure functions.

Public API (stable for the rest of the pipeline):

- ``identify(transcript) -> Identification`` for one service;
- ``identify_field(field, text) -> Identification`` for one observed field
  (``smtp.banner``, ``imap.banner``, ``http.header.x-owa-version`` …);
- ``combine(idents) -> Identification`` for all services of a host: the most precise
  identification wins and disagreeing evidence is kept in ``conflicts``.
"""
