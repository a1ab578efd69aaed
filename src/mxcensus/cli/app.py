"""The one Typer app, its help formatting, the options several commands share, and main().

Command modules register on :data:`app` with :func:`command`; their help texts may name
a registry as ``{probes}``, ``{import_formats}`` … (:mod:`mxcensus.cli.options`), filled in
only when help is shown, so a command that runs imports no registry it does not use.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer._click import Context, HelpFormatter
from typer._click import exceptions as click_exc
from typer.core import TyperCommand, TyperGroup

from mxcensus import __version__
from mxcensus.cli.options import fill
from mxcensus.errors import MxcensusError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


class _FilledHelp:
    """Help whose ``{registry}`` names are filled in when it is shown."""

    help: str | None
    params: list[Any]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.help = fill(self.help or "")
        for param in self.params:
            if getattr(param, "help", None):
                param.help = fill(param.help)
        super().format_help(ctx, formatter)  # type: ignore[misc]


class Command(_FilledHelp, TyperCommand):
    pass


class Group(_FilledHelp, TyperGroup):
    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Each command with the whole first paragraph of its help, never cut short."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                first = inspect.cleandoc(cmd.help or "").split("\n\n")[0]
                rows.append((name, fill(" ".join(first.split()))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def group(
    help: str, *, no_args_is_help: bool = True, invoke_without_command: bool = False
) -> typer.Typer:
    """The app or a command group, with this module's help: ``-h``, no completion, no rich
    markup; run without a command it shows its help, unless its callback is a command."""
    return typer.Typer(
        cls=Group,
        help=help,
        no_args_is_help=no_args_is_help,
        invoke_without_command=invoke_without_command,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


app = group(
    "Find exposed mail servers, identify their exact software and build, and judge them "
    "against exploited CVEs and end-of-support dates. Scans only what you allow, politely; "
    "or imports others' scans ({import_formats})."
)


def command(on: typer.Typer, name: str | None = None) -> Callable[[F], F]:
    """Register a command on ``on`` (the app or a sub-app) with the help of this module."""
    return on.command(name, cls=Command)


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="MXCENSUS_DB",
        help="DuckDB file (default: the user data directory; env MXCENSUS_DB).",
        show_default=False,
    ),
]
ScanOption = Annotated[
    str | None,
    typer.Option("--scan", help="Scan id or --name (default: the newest scan in the store)."),
]
OutOption = Annotated[
    Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Write the output even over a DuckDB file (refused otherwise)."),
]
GeoDbOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--geo-db",
        metavar="MMDB",
        help="MaxMind/DB-IP/ipinfo MMDB for ASN, organisation and city (repeatable).",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mxcensus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """mxcensus."""


def _command_names() -> set[str]:
    """Top-level command and group names, as registered (so the list cannot drift)."""
    names = {g.name for g in app.registered_groups if g.name}
    for c in app.registered_commands:
        if c.name:
            names.add(c.name)
        elif c.callback is not None:
            names.add(c.callback.__name__.replace("_", "-"))
    return names


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every outcome ends in an exit code (0 done, 1 failed, 2 bad
    usage, 130 interrupted) and at most one line on stderr."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if app(args=args, prog_name="mxcensus", standalone_mode=False) == 130:
            # typer's answer to Ctrl-C outside standalone mode: a return value, not an exit
            _fail("mxcensus: interrupted", 130)
    except click_exc.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(0)
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "mxcensus"
        if where == "mxcensus" and args and args[0] in _command_names():
            where = f"mxcensus {args[0]}"
        _fail(f"{where}: error: {exc.format_message()}", 2)
    except typer.Abort:
        _fail("mxcensus: interrupted", 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except UsageError as exc:
        _fail(f"mxcensus: error: {exc}", 2)
    except MxcensusError as exc:
        if os.environ.get("MXCENSUS_DEBUG"):
            raise
        # an interruption is no error: it says how to go on
        _fail(f"mxcensus: {'' if exc.exit_code == 130 else 'error: '}{exc}", exc.exit_code)
    except KeyboardInterrupt:
        _fail("mxcensus: interrupted", 130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a full disk under the store, in whatever shape it came
        from mxcensus.store.full import disk_full

        path = disk_full(exc)
        if path is None or os.environ.get("MXCENSUS_DEBUG"):
            raise
        what = _WRITING.get(" ".join(args[:2]), _WRITING.get(args[0] if args else "", ""))
        where = path or _db_option(args) or "the store"
        _fail(f"mxcensus: error: {where}: cannot write {what or 'the store'}:"
              " No space left on device", 1)  # fmt: skip


def _db_option(args: list[str]) -> str:
    """The store's path as typed (``--db``, or ``MXCENSUS_DB``), for an error that names no
    file (an ``OSError`` of a write to an open descriptor)."""
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--db="):
            return arg[5:]
    return os.environ.get("MXCENSUS_DB", "")


_WRITING = {
    "import": "the import into the store",
    "scan": "the scan's results into the store",
    "reassess": "the reassessed services into the store",
    "watch run": "the watch run's results into the store",
    "scans delete": "the deletion from the store",
}
"""What each command that writes the store was writing, for the one line a full disk gives."""


def _fail(line: str, code: int) -> None:
    from mxcensus.text import escape  # what files and servers said, made inert

    print(escape(line), file=sys.stderr)
    sys.exit(code)
