"""The export-format axis: one small interface, one registry line per format.

ExportError (an MxcensusError) is the root of what an export may raise.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from mxcensus.errors import MxcensusError
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader


class ExportError(MxcensusError):
    """An export that cannot be written from the store as it is."""


class ExportFormat(Protocol):
    """Writes every service of the filter to ``out``, streamed from the store in batches;
    returns the number of records. ``media_type`` and ``suffix`` name what it writes (a
    download's Content-Type and file name ending)."""

    name: str
    media_type: str
    suffix: str

    def write(self, reader: Reader, f: Filter, out: BinaryIO) -> int: ...
