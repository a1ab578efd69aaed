"""The command line: parses, wires, renders. The library never prints.

One module per command group registers its commands on the one app of
:mod:`mxcensus.cli.app` (which also holds ``main``, the shared options and the help
format): :mod:`~mxcensus.cli.collect` (scan, import, reassess),
:mod:`~mxcensus.cli.reporting` (report, trend, export, notify),
:mod:`~mxcensus.cli.interpret` (identify, explain, rules, kb), :mod:`~mxcensus.cli.serving`
(serve, token), :mod:`~mxcensus.cli.lab` (lab, demo) and :mod:`~mxcensus.cli.scans` (scans
list, scans delete); watches register from :mod:`~mxcensus.cli.watching`.
:mod:`~mxcensus.cli.render` draws progress and summaries; :mod:`~mxcensus.cli.options`
bounds every number a user can type. A command parses its options, calls one library
function and renders the result; the command modules import the library inside the
command, so starting one command loads nothing the others need.

Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted. Every error is one line on
stderr that says what and where; no traceback reaches the user (``MXCENSUS_DEBUG=1``
shows it).
"""

from __future__ import annotations

import importlib

from mxcensus.cli.app import app, main

GROUPS = ("collect", "reporting", "interpret", "watching", "serving", "lab", "scans")
"""The command modules, in the order ``mxcensus --help`` lists their commands."""

for _group in GROUPS:
    importlib.import_module(f"{__name__}.{_group}")

__all__ = ["GROUPS", "app", "main"]
