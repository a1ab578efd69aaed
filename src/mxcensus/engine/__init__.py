"""The scan engine: worker processes on uvloop probing a seeded walk of the target space.

``scan(ScanRequest(...), db=path, on_event=callback)`` runs a scan from the user's request
(or resumes one) to its end: start, probe, analyse, finish. Underneath, ``run_scan(store,
scan_id, plan, progress=callback)`` probes through the worker processes; the parent alone
writes the store, one transaction per batch with its checkpoint.

The names below are imported on first use (PEP 562), not here: the workers import
``mxcensus.engine.worker`` in a fresh interpreter, and importing this package must not pull
the store (DuckDB, pyarrow) into them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mxcensus.engine.executor import Executor, LocalExecutor
    from mxcensus.engine.plan import ScanPlan, load_port_table, load_probes, port_plan
    from mxcensus.engine.request import ScanRequest
    from mxcensus.engine.run import EngineError, Progress, ScanResult, run_scan, shard_total
    from mxcensus.engine.session import (
        Analysing,
        ScanDone,
        ScanEvent,
        ScanInterrupted,
        Started,
        analyze,
        new_plan,
        resume,
        scan,
        start,
    )

_WHERE = {
    "Executor": "executor",
    "LocalExecutor": "executor",
    "ScanRequest": "request",
    "Analysing": "session",
    "ScanDone": "session",
    "ScanEvent": "session",
    "ScanInterrupted": "session",
    "Started": "session",
    "scan": "session",
    "ScanPlan": "plan",
    "load_port_table": "plan",
    "load_probes": "plan",
    "port_plan": "plan",
    "EngineError": "run",
    "Progress": "run",
    "ScanResult": "run",
    "run_scan": "run",
    "shard_total": "run",
    "analyze": "session",
    "new_plan": "session",
    "resume": "session",
    "start": "session",
}

__all__ = [
    "Analysing",
    "EngineError",
    "Executor",
    "LocalExecutor",
    "Progress",
    "ScanDone",
    "ScanEvent",
    "ScanInterrupted",
    "ScanPlan",
    "ScanRequest",
    "ScanResult",
    "Started",
    "analyze",
    "load_port_table",
    "load_probes",
    "new_plan",
    "port_plan",
    "resume",
    "run_scan",
    "scan",
    "shard_total",
    "start",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
