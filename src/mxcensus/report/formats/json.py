"""JSON: the whole document, definitions and notes included, one object."""

from __future__ import annotations

from typing import Any

import orjson

from mxcensus.report.document import Document


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


class JsonFormat:
    name = "json"

    def __init__(self) -> None:
        pass

    def render(self, doc: Document) -> bytes:
        return orjson.dumps(document_to_dict(doc), option=orjson.OPT_INDENT_2) + b"\n"
