"""Exports: one record per service in JSONL, CSV, Parquet or Shadowserver-compatible CSV
(``export.formats``: ``FORMATS``, :func:`get_format`, :func:`export_scan`), and ``notify``
(``export.notify``: :func:`notify`), one Shadowserver-style file per network owner.
"""
