"""The scan engine: worker processes on uvloop probing a seeded walk of the target space.

``run_scan(store, scan_id, plan, progress=callback)`` runs (or resumes) a scan; the parent
alone writes the store, one transaction per batch with its checkpoint.
"""

from mxcensus.engine.plan import ScanPlan, load_port_table, load_probes, port_plan
from mxcensus.engine.run import EngineError, Progress, ScanResult, run_scan, shard_total
from mxcensus.engine.session import analyze, new_plan, resume, start

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
