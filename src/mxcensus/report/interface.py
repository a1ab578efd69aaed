"""The report-format axis: one small interface, one registry line per format.

ReportError (an MxcensusError) is the root of what a format may raise; an unknown format
name is a UsageError. A format writes a :class:`Document` to a binary stream as it goes
(sections whose rows are streamed from the store are never held whole); :class:`Renders`
gives each format ``render(doc) -> bytes`` for small documents and tests.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Protocol

from mxcensus.errors import MxcensusError
from mxcensus.report.document import Document


class ReportError(MxcensusError):
    """A report or trend that cannot be produced from the store as it is."""


class ReportFormat(Protocol):
    """Writes a :class:`Document` to ``out``; every hostile string is made inert."""

    name: str

    def write(self, doc: Document, out: BinaryIO) -> None: ...

    def render(self, doc: Document) -> bytes: ...


class Renders:
    """``render`` for a format that has ``write``."""

    def write(self, doc: Document, out: BinaryIO) -> None:
        raise NotImplementedError

    def render(self, doc: Document) -> bytes:
        buf = io.BytesIO()
        self.write(doc, buf)
        return buf.getvalue()
