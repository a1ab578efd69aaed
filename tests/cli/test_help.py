"""Help that reads whole and cannot drift: ``mxcensus --help`` shows each command's whole
first paragraph, and the names an option accepts come from the registries themselves."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from mxcensus.cli import app, main
from mxcensus.cli.options import names
from tests.cli.test_bounds import commands

CLI = Path(__file__).resolve().parents[2] / "src" / "mxcensus" / "cli"


def help_of(capsys: pytest.CaptureFixture[str], *path: str) -> str:
    """The help of ``mxcensus PATH --help`` as one line (wrapped words joined again)."""
    main([*path, "--help"])  # help is no error: it returns
    return " ".join(re.sub(r"-\n\s+", "-", capsys.readouterr().out).split())


def test_root_help_shows_every_command_whole(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_of(capsys)
    for path, callback in commands(app):
        if len(path) == 1:
            first = inspect.cleandoc(callback.__doc__ or "").split("\n\n")[0]
            assert f"{path[0]} {' '.join(first.split())}" in out, path
    assert "..." not in out.split("Commands:")[1]


@pytest.mark.parametrize(
    ("command", "registry"),
    [
        (("scan",), "probes"),
        (("import",), "import_formats"),
        (("report",), "report_formats"),
        (("report",), "fields"),
        (("trend",), "report_formats"),
        (("trend",), "fields"),
        (("export",), "export_formats"),
        (("identify",), "protocols"),
        (("notify",), "owners"),
        (("lab",), "lab_ports"),
    ],
)
def test_help_lists_the_registry(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], registry: str
) -> None:
    listed = ", ".join(names(registry))
    assert len(names(registry)) > 1 and listed in help_of(capsys, *command)


def test_registries_are_not_loaded_to_run_a_command() -> None:
    """Help names registries lazily: importing the CLI loads none of them."""
    import subprocess
    import sys

    code = (
        "import sys, mxcensus.cli\n"
        "from mxcensus.cli.options import _REGISTRIES\n"
        "print([r for r in _REGISTRIES.values() if r.partition(':')[0] in sys.modules])\n"
        "print([m for m in ('duckdb', 'rich', 'pyarrow') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def _body_lines(function: ast.FunctionDef) -> int:
    """Lines of a function after its signature and docstring."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (function.end_lineno or 0) - body[0].lineno + 1 if body else 0


def test_commands_are_thin_and_functions_short() -> None:
    registered = {cb.__name__ for _, cb in commands(app)}
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                length = (node.end_lineno or 0) - node.lineno + 1
                assert length <= 80, f"{path.name}:{node.name} has {length} lines"
                if node.name in registered:
                    assert _body_lines(node) <= 40, f"{path.name}:{node.name} body is long"
