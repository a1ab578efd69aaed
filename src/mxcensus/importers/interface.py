"""The importer contract: a byte stream of someone else's scan in, transcripts out.

An importer turns the bytes of one file (already decompressed) into ``(line_no, item)``
pairs, where ``item`` is a :class:`~mxcensus.model.Transcript`, an :class:`ImportProblem`
(a malformed record: counted and reported, the rest of the file goes on) or a
:class:`Skipped` (a record of a service that is neither mail nor web). It never interprets
what the servers said: banners go into :class:`~mxcensus.model.Step`\\ s named as a live
probe names them (``greeting``, ``ehlo``, ``starttls``, ``capability``, ``capa``,
``GET /`` with ``code``/``headers``/body), and the source's own fields are kept in
``Transcript.extra`` as evidence. Locations and networks the source carries go into
``extra`` under the ``geo.*`` keys of :data:`GEO_KEYS`, which enrichment reads as its hint.

A file that is not of the format at all raises :class:`WrongFormatError`; an input that ends
early (a truncated gzip) or cannot be read raises :class:`UnreadableInputError`. Both are
:class:`ImportInputError`, the root of this package's errors::

    ImportFormatError            (errors.py)
    └── ImportInputError         file (and line) that cannot be imported
        ├── WrongFormatError     not what its format says (a CSV given as shodan, …)
        ├── UnreadableInputError missing, unreadable, truncated gzip
        └── MalformedRecordError one record, raised only under --strict
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from mxcensus.errors import ImportFormatError
from mxcensus.model import Transcript

GEO_KEYS = ("geo.country", "geo.city", "geo.asn", "geo.org")
"""Normalised location keys an importer may put in ``Transcript.extra`` (its hint)."""


class ImportInputError(ImportFormatError):
    """A file (and line) that cannot be imported; the message names both."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class WrongFormatError(ImportInputError):
    pass


class UnreadableInputError(ImportInputError):
    pass


class MalformedRecordError(ImportInputError):
    pass


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One record that could not be imported, and why (the caller adds the file name)."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A well-formed record with no mail or web service in it (SSH, DNS …): counted only."""

    reason: str


Item = tuple[int, Transcript | ImportProblem | Skipped]
TranscriptDoc = dict[str, Any]
"""A transcript in the store's JSON form (serialize.transcript_to_dict / transcript_from_dict)."""
DocItem = tuple[int, TranscriptDoc | ImportProblem | Skipped]


class Importer(Protocol):
    name: str  # registry key and Transcript.source: "shodan", "nmap-xml", ...

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        """Yield ``(line_no, item)`` for every record of ``stream`` (several for a record that
        holds several services).

        Raises :class:`WrongFormatError` (with ``path`` and the line) as soon as the input
        shows it is not this format at all.
        """
        ...


@runtime_checkable
class DocImporter(Importer, Protocol):
    """An importer that can also give its transcripts already in the store's JSON form; the
    import then writes them without building :class:`Transcript` objects (the fast path)."""

    def read_docs(self, stream: BinaryIO, path: str) -> Iterator[DocItem]:
        """:meth:`Importer.read` with each Transcript as ``transcript_to_dict`` would give it."""
        ...
