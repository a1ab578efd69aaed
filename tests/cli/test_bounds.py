"""Every number a user can type has a stated range, enforced the same way everywhere:
out of range is one line on stderr naming the option and the range, exit 2, before the
command runs (issue 18: ``--rate 18446744073709551617``, ``--shards 0``, ``--workers
100000``)."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer
from typer.models import ArgumentInfo, OptionInfo

from mxcensus.bounds import Range
from mxcensus.cli import app, main
from mxcensus.cli.options import Bounded

Command = tuple[tuple[str, ...], Callable[..., Any]]


def commands(group: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[Command]:
    for info in group.registered_commands:
        assert info.callback is not None
        yield (*path, info.name or info.callback.__name__.replace("_", "-")), info.callback
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name
        yield from commands(sub.typer_instance, (*path, sub.name))


def numeric_options(callback: Callable[..., Any]) -> Iterator[tuple[str, Any]]:
    """(parameter, its typer info) of every int or float parameter."""
    for param, hint in typing.get_type_hints(callback, include_extras=True).items():
        if typing.get_origin(hint) is not typing.Annotated:
            continue
        base, *meta = typing.get_args(hint)
        if isinstance(base, types.UnionType):
            base = next(a for a in typing.get_args(base) if a is not type(None))
        if base in (int, float):
            yield param, next(m for m in meta if isinstance(m, OptionInfo | ArgumentInfo))


def bounded_options() -> list[tuple[tuple[str, ...], Bounded]]:
    return [
        (path, info.parser)
        for path, callback in commands(app)
        for _, info in numeric_options(callback)
        if isinstance(info.parser, Bounded)
    ]


def test_every_numeric_option_of_every_command_is_bounded() -> None:
    unbounded = [
        (path, param)
        for path, callback in commands(app)
        for param, info in numeric_options(callback)
        if not isinstance(info.parser, Bounded)
    ]
    assert unbounded == []
    found = {(path, b.option) for path, b in bounded_options()}
    assert {
        (("scan",), "--rate"), (("scan",), "--concurrency"), (("scan",), "--per-net"),
        (("scan",), "--workers"), (("scan",), "--shards"), (("scan",), "--shard"),
        (("scan",), "--seed"), (("lab",), "--size"), (("lab",), "--duration"),
        (("lab",), "--workers"), (("lab",), "--seed"), (("demo",), "--size"),
    } <= found  # fmt: skip


def test_every_range_is_stated_in_the_help() -> None:
    for path, callback in commands(app):
        for param, info in numeric_options(callback):
            assert info.help.endswith(f"[{info.parser.bounds}]"), (path, param)


def _refused(bounds: Range) -> list[str]:
    below = bounds.lo - 1
    above = bounds.hi + 1
    typo = "1e9" if bounds.kind is int else "nan"
    return [str(below), str(above), "1" + "0" * 30, "1" * 5000, typo, "x\u202e1"]


@pytest.mark.parametrize(("path", "bounded"), bounded_options(), ids=lambda v: str(v))
def test_out_of_range_is_a_one_line_usage_error(
    path: tuple[str, ...], bounded: Bounded, capsys: pytest.CaptureFixture[str]
) -> None:
    for value in _refused(bounded.bounds):
        with pytest.raises(SystemExit) as exc:
            main([*path, bounded.option, value])
        err = capsys.readouterr().err
        assert exc.value.code == 2, (value, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"mxcensus {' '.join(path)}: error: {bounded.option} ")
        assert f"(allowed: {bounded.bounds})" in err
        assert "\u202e" not in err
    assert bounded(str(bounded.bounds.lo)) == bounded.bounds.lo
    assert bounded(str(bounded.bounds.hi)) == bounded.bounds.hi
