"""What options accept: numbers within a stated range, names from the registries.

Every numeric option of every command is declared with :func:`bounded`: its help states
the range, and a value outside it (``--rate 18446744073709551617``, ``--shards 0``) is a
usage error naming the range, exit 2, before the command runs; never a clamp, never a
traceback (``tests/cli/test_bounds.py`` walks every command to hold that).

Help texts name a registry's contents as ``{probes}``, ``{import_formats}`` …; :func:`fill`
lists them from the registry itself when help is shown, so no list is kept by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

import typer
from typer._click import exceptions as click_exc

from mxcensus.bounds import Range
from mxcensus.errors import UsageError


class Bounded:
    """The parser of a numeric option (:meth:`Range.parse`)."""

    def __init__(self, option: str, bounds: Range) -> None:
        self.option = option
        self.bounds = bounds

    def __call__(self, value: str | int | float) -> int | float:
        try:
            return self.bounds.parse(value, self.option)
        except UsageError as exc:
            raise click_exc.UsageError(str(exc)) from None


def bounded(*names: str, bounds: Range, help: str, **settings: Any) -> Any:
    """A ``typer.Option`` taking numbers in ``bounds`` only; its help ends with them."""
    option = next(n for n in names if n.startswith("--"))
    return typer.Option(
        *names, parser=Bounded(option, bounds), help=f"{help} [{bounds}]", **settings
    )


F = TypeVar("F", bound=Callable[..., Any])


def grouped(command: F) -> F:
    """``command`` as Typer reads it: a parameter typed as an option group (a dataclass whose
    fields are annotated options, declared once for the commands that share them) stands,
    in its place, for its fields' options; the command is called with the group built.
    Typer passes every option by name, so each is keyword-only here."""
    hints = get_type_hints(command, include_extras=True)
    groups: dict[str, type] = {}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(command).parameters.values():
        kind = hints[param.name]
        if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
            params.append(param.replace(kind=param.KEYWORD_ONLY, annotation=kind))
            continue
        groups[param.name] = kind
        fields = get_type_hints(kind, include_extras=True)
        params += [_option(f, fields[f.name]) for f in dataclasses.fields(kind)]

    @functools.wraps(command)
    def called(**given: Any) -> Any:
        for name, kind in groups.items():
            own = {f.name: given.pop(f.name) for f in dataclasses.fields(kind)}
            given[name] = kind(**own)
        return command(**given)

    called.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    called.__annotations__ = {p.name: p.annotation for p in params}
    return called  # type: ignore[return-value]


def _option(field: dataclasses.Field[Any], annotation: Any) -> inspect.Parameter:
    """A group's field as the parameter Typer reads: required when it has no default."""
    default = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
    return inspect.Parameter(
        field.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


_REGISTRIES = {
    "probes": "mxcensus.probes:PROBES",
    "import_formats": "mxcensus.importers.registry:IMPORTERS",
    "feed_formats": "mxcensus.importers.registry:FEEDS",
    "report_formats": "mxcensus.report.formats:FORMATS",
    "export_formats": "mxcensus.export.formats:FORMATS",
    "fields": "mxcensus.report.fields:FIELDS",
    "protocols": "mxcensus.identify.lines:PROTOCOLS",
    "owners": "mxcensus.export.notify:PER",
    "lab_ports": "mxcensus.lab.population:ALL_PORTS",
}
"""Each registry a help text may name, as ``module:attribute`` (as ``MXCENSUS_PROBE_TABLE``)."""
_NAME = re.compile(r"\{(\w+)\}")


def names(registry: str) -> list[str]:
    """The names ``registry`` holds, in its own order."""
    module, _, attribute = _REGISTRIES[registry].partition(":")
    return [str(n) for n in getattr(importlib.import_module(module), attribute)]


def fill(text: str) -> str:
    """``text`` with each ``{registry}`` replaced by its names, comma-separated."""
    return _NAME.sub(lambda m: ", ".join(names(m[1])) if m[1] in _REGISTRIES else m[0], text)
