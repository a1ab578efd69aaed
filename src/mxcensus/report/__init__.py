"""Reports and trends: counts computed inside DuckDB, rendered by pluggable formats.

Public API: ``report.render`` (:func:`render_report`, :func:`render_trend`), ``report.query``
(:func:`build_report`), ``report.trend`` (:func:`build_trend`, :func:`series`),
``report.fields`` (``FIELDS``, :func:`parse_by`), ``report.formats`` (:func:`get_format`),
``report.output`` (:func:`atomic_file`). Nothing is imported here, so importing one part
never drags in the others.
"""
