"""Reports and trends: counts computed inside DuckDB (through ``store.queries``), rendered
by pluggable formats.

Public API: ``report.render`` (:func:`write_report`, :func:`write_trend`, and their
``render_*`` bytes forms), ``report.query`` (:func:`build_report`), ``report.trend``
(:func:`build_trend`, :func:`series`), ``report.fields`` (``FIELDS``, :func:`parse_by`),
``report.formats`` (:func:`get_format`). Files are written by ``mxcensus.output``. Nothing
is imported here, so importing one part never drags in the others.
"""
