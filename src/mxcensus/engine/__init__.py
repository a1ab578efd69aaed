"""The scan engine: worker processes on uvloop probing a seeded walk of the target space.

``run_scan(store, scan_id, plan, progress=callback)`` runs (or resumes) a scan; the parent
alone writes the store, one transaction per batch with its checkpoint.

The names below are imported on first use (PEP 562), not here: the workers import
``mxcensus.engine.worker`` in a fresh interpreter, and importing this package must not pull
the store (DuckDB, pyarrow) into them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mxcensus.engine.plan import ScanPlan, load_port_table, load_probes, port_plan
    from mxcensus.engine.run import EngineError, Progress, ScanResult, run_scan, shard_total
    from mxcensus.engine.session import analyze, new_plan, resume, start

_WHERE = {
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
    "EngineError",
    "Progress",
    "ScanPlan",
    "ScanResult",
    "analyze",
    "load_port_table",
    "load_probes",
    "new_plan",
    "port_plan",
    "resume",
    "run_scan",
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
