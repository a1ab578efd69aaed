"""The JSON-lines driver shared by shodan, censys and zgrab2: one JSON object per line.

The first record decides whether the file is this format at all: a first line that is not a
JSON object, or one without the keys the format always has, raises
:class:`~mxcensus.importers.interface.WrongFormatError`. After that a bad line is one
malformed record, reported with its number, and the rest imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, TypeVar

import orjson

from mxcensus.importers._common import iter_lines
from mxcensus.importers.interface import ImportProblem, Skipped, WrongFormatError

T = TypeVar("T")
Convert = Callable[[dict[str, Any]], Iterable[T]]
"""One parsed record -> its transcripts (none: nothing mail-related in it), as Transcript
objects or in their stored JSON form. Raises KeyError/TypeError/ValueError for a record that
does not have the format's shape."""


def read_json_lines(
    stream: BinaryIO,
    path: str,
    *,
    fmt: str,
    looks_right: Callable[[dict[str, Any]], bool],
    convert: Convert[T],
    what: str,
    start: int = 0,
    first: bool = True,
) -> Iterator[tuple[int, T | ImportProblem | Skipped]]:
    """``start``: lines of the file before ``stream`` (a later chunk of it); ``first``: its
    first record decides whether the file is this format at all (False for a later chunk)."""
    loads = orjson.loads
    for n, line in iter_lines(stream, start):
        if line is None:
            yield n, ImportProblem(n, "line longer than 64 MiB")
            first = False
            continue
        if line.isspace():  # a blank line (no copy, unlike strip(), for the 99.9% that are not)
            continue
        if first:
            stripped = line.strip()
            first = False
            if not stripped.startswith(b"{"):
                raise WrongFormatError(
                    path, f"not {fmt} JSON lines: the first record is not a JSON object", n
                )
            try:
                doc = loads(stripped)
            except orjson.JSONDecodeError as exc:
                yield n, ImportProblem(n, f"invalid JSON: {exc}")
                continue
            if not isinstance(doc, dict) or not looks_right(doc):
                raise WrongFormatError(
                    path, f"not {fmt} JSON lines: the first record is not {what}", n
                )
        else:
            try:
                doc = loads(line)  # orjson skips the surrounding whitespace itself
            except orjson.JSONDecodeError as exc:
                yield n, ImportProblem(n, f"invalid JSON: {exc}")
                continue
            if not isinstance(doc, dict):
                yield n, ImportProblem(n, f"not a JSON object but {type(doc).__name__}")
                continue
        try:
            out = convert(doc)
            if type(out) is not list:  # a generator: run it here, inside the try
                out = list(out)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            yield n, ImportProblem(n, f"not {what}: {_describe(exc)}")
            continue
        if len(out) == 1:
            yield n, out[0]
        elif not out:
            yield n, Skipped("no mail or web service")
        else:
            for t in out:
                yield n, t


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
