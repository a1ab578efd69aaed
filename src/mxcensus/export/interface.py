"""The export-format axis: one small interface, one registry line per format.

ExportError (an MxcensusError) is the root of what an export may raise.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from mxcensus.errors import MxcensusError
from mxcensus.model import ScanId
from mxcensus.store.db import Store


class ExportError(MxcensusError):
    """An export that cannot be written from the store as it is."""


class ExportFormat(Protocol):
    """Writes every service of one scan to ``out``; returns the number of records."""

    name: str

    def write(self, store: Store, scan: ScanId, out: BinaryIO) -> int: ...
