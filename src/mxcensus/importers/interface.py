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

Capabilities beyond :class:`Importer`, which the runner (``run.py``) dispatches on:
:class:`DocImporter` gives transcripts already in their stored JSON form;
:class:`ChunkedImporter` also has a columnar fast path — whole chunks of a file staged by
SQL (:class:`~mxcensus.store.staged.StagedChunk`) — and reads a chunk record by record
when the fast path cannot take it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from mxcensus.errors import ImportFormatError
from mxcensus.model import Transcript

if TYPE_CHECKING:
    from mxcensus.store.staged import StagedChunk

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


@dataclass(frozen=True, slots=True)
class ReadAt:
    """Where a read starts in its file (a :class:`ChunkedImporter` reads a later chunk of it
    record by record) and the time of its records that have none."""

    line: int = 0
    """The file's lines before the stream: the first record read is line ``line + 1``."""
    first: bool = True
    """Whether the stream starts the file's records: its first record decides whether the
    file is this format at all (a later chunk's is one malformed record at most)."""
    now: datetime | None = None
    """The time of a record without one (the import's start); None: the time of reading."""


FILE_START = ReadAt()
"""A whole file, read now."""

Item = tuple[int, Transcript | ImportProblem | Skipped]
TranscriptDoc = dict[str, Any]
"""A transcript in the store's JSON form, as an importer writes it: the keys of
:class:`mxcensus.serialize.TranscriptDoc` (typed there, loosely at this edge)."""
DocItem = tuple[int, TranscriptDoc | ImportProblem | Skipped]


class Importer(Protocol):
    name: str  # registry key and Transcript.source: "censys", "nmap-xml", ...

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


class Stager(Protocol):
    """A columnar importer's staging of one file, chunk by chunk (its own connection and
    memos; :meth:`ChunkedImporter.stager`)."""

    def stage(self, path: str) -> StagedChunk | None:
        """Stage the chunk of whole lines at ``path``; None: it must be read record by
        record (a record the columnar path would not take exactly as the other does)."""
        ...

    def stored(self) -> None:
        """The chunk last staged is in the store: its transcript parts may be referred to."""
        ...


@runtime_checkable
class ChunkedImporter(DocImporter, Protocol):
    """A :class:`DocImporter` with a columnar fast path for JSON-lines files: the runner
    cuts a file into chunks of whole lines, and each chunk is staged by SQL
    (:meth:`stager`) or, when that cannot take it, read record by record (:meth:`read_docs`
    from the chunk's first line on). The chunk's analysis takes its source name and the
    location hint's columns from the :class:`~mxcensus.store.staged.StagedChunk`."""

    def stager(
        self, *, threads: int, memory: str, tmp: str, now: datetime
    ) -> AbstractContextManager[Stager]:
        """A staging session: ``threads`` and ``memory`` (a DuckDB size) for its own
        database, spilling into ``tmp``; ``now``: the time of a record without one."""
        ...

    def read_docs(self, stream: BinaryIO, path: str, at: ReadAt = FILE_START) -> Iterator[DocItem]:
        """:meth:`DocImporter.read_docs` of a chunk: ``at``, where it starts in its file."""
        ...
