"""Option groups (:func:`mxcensus.cli.options.grouped`): options several commands share,
declared once as a dataclass, show and parse as options of their own, in the group's place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import pytest
import typer

from mxcensus.cli.app import command, group
from mxcensus.cli.options import grouped
from tests.cli.test_help import help_of


@dataclass(frozen=True)
class Shared:
    colour: Annotated[str, typer.Option(help="A colour.")] = "red"
    times: Annotated[int, typer.Option(help="How often.")] = 1


def _app(seen: list[object]) -> typer.Typer:
    app = group("A test app.")

    @command(app)
    @grouped
    def paint(
        wall: Annotated[str, typer.Option(help="Which wall.")] = "north",
        *,
        shared: Shared,
        dry: Annotated[bool, typer.Option(help="Only say it.")] = False,
    ) -> None:
        """Paint a wall."""
        seen.append((wall, shared, dry))

    @command(app)
    def other() -> None:
        """Another command (a group with one command would run it without its name)."""

    return app


def test_a_group_stands_for_its_fields_in_its_place(capsys: pytest.CaptureFixture[str]) -> None:
    app = _app([])
    with pytest.raises(SystemExit):
        app(args=["paint", "--help"], prog_name="t")
    out = capsys.readouterr().out
    options = re.findall(r"^\s+(--[a-z-]+)", out, re.M)
    assert options == ["--wall", "--colour", "--times", "--dry"]
    assert "A colour.  [default: red]" in out


def test_the_command_gets_the_group_built_from_its_options() -> None:
    seen: list[object] = []
    app = _app(seen)
    app(args=["paint", "--times", "3", "--wall", "east"], prog_name="t", standalone_mode=False)
    app(args=["paint", "--dry"], prog_name="t", standalone_mode=False)
    assert seen == [
        ("east", Shared("red", 3), False),
        ("north", Shared("red", 1), True),
    ]


def test_scan_shows_its_pace_where_it_always_stood(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_of(capsys, "scan")
    order = [out.index(f" {o} ") for o in ("--http", "--rate", "--concurrency", "--per-net")]
    assert order == sorted(order) and out.index(" --per-net ") < out.index(" --workers ")


def test_report_and_trend_share_their_rendering_options(capsys: pytest.CaptureFixture[str]) -> None:
    shared = ("--by", "--format", "-o, --output", "--db", "--force")
    for path in ("report", "trend"):
        out = help_of(capsys, path)
        order = [out.index(f" {o} ") for o in shared]
        assert order == sorted(order), path


def test_lab_shows_the_population_first_then_how_it_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = help_of(capsys, "lab")
    population = ("--size", "--seed", "--base", "--hostile-fraction", "--hidden-fraction")
    population += ("--ports", "--tarpit-interval", "--epoch")
    running = ("--truth", "--duration", "--counters", "--workers", "--mmdb", "--die-with-parent")
    order = [out.index(f" {o} ") for o in (*population, *running)]
    assert order == sorted(order)


def test_the_lab_population_is_its_lab_config() -> None:
    from mxcensus.cli.lab import Population
    from mxcensus.lab.population import LabConfig

    assert Population().config() == LabConfig()  # the options' defaults are the library's
    given = Population(size=5, seed=7, hostile_fraction=0.5, ports="143, 25", epoch=2)
    assert given.config() == LabConfig(
        size=5, seed=7, hostile_fraction=0.5, ports=(143, 25), epoch=2
    )
    auto = Population(size=3, base="auto", ports="25").config()
    assert auto.base != "auto" and auto.base.startswith("127.") and auto.ports == (25,)
