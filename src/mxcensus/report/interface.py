"""The report-format axis: one small interface, one registry line per format.

ReportError (an MxcensusError) is the root of what a format may raise; an unknown format
name is a UsageError.
"""

from __future__ import annotations

from typing import Protocol

from mxcensus.errors import MxcensusError
from mxcensus.report.document import Document


class ReportError(MxcensusError):
    """A report or trend that cannot be produced from the store as it is."""


class ReportFormat(Protocol):
    """Renders a :class:`Document` to bytes; every hostile string is made inert."""

    name: str

    def render(self, doc: Document) -> bytes: ...
