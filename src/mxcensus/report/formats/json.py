"""JSON: the whole document, definitions and notes included, one object — written as it
goes (a section's rows one by one), laid out as ``orjson``'s two-space indentation would
lay out the whole, every unsafe character as a JSON escape (:func:`mxcensus.text.json_safe`).
"""

from __future__ import annotations

from typing import Any, BinaryIO

import orjson

from mxcensus.report.document import Document
from mxcensus.report.interface import Renders
from mxcensus.text import json_safe


def document_to_dict(doc: Document) -> dict[str, Any]:
    return {
        "kind": doc.kind,
        "title": doc.title,
        "meta": dict(doc.meta),
        "definitions": list(doc.definitions),
        "sections": [
            {"key": s.key, "title": s.title, "notes": list(s.notes), "rows": s.as_dicts()}
            for s in doc.sections
        ],
    }


def _at(value: Any, depth: int) -> bytes:
    """``value`` indented as it would be ``depth`` levels deep in the whole document."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return json_safe(text.replace(b"\n", b"\n" + b"  " * depth))


class JsonFormat(Renders):
    name = "json"

    def write(self, doc: Document, out: BinaryIO) -> None:
        out.write(b"{\n")
        top = (("kind", doc.kind), ("title", doc.title), ("meta", dict(doc.meta)))
        for key, value in (*top, ("definitions", list(doc.definitions))):
            out.write(b'  "' + key.encode() + b'": ' + _at(value, 1) + b",\n")
        out.write(b'  "sections": [')
        for i, s in enumerate(doc.sections):
            out.write((b",\n" if i else b"\n") + b"    {\n")
            out.write(b'      "key": ' + _at(s.key, 3) + b",\n")
            out.write(b'      "title": ' + _at(s.title, 3) + b",\n")
            out.write(b'      "notes": ' + _at(list(s.notes), 3) + b",\n")
            out.write(b'      "rows": [')
            n = 0
            for n, row in enumerate(s.dicts(), 1):
                out.write((b",\n" if n > 1 else b"\n") + b"        " + _at(row, 4))
            out.write(b"\n      ]\n    }" if n else b"]\n    }")
        out.write(b"\n  ]\n}\n" if doc.sections else b"]\n}\n")
