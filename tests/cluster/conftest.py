"""Ray for the cluster tests: loopback only, bounded, a token of our own, nothing left.

Ray reads its environment when it is imported, so it is set here, before any test module
of this directory imports it (inside fixtures). Each module starts its Ray once: a local
Ray (test_ray_local.py) and a two-node cluster (test_ray_two_nodes.py) cannot live in one
driver at once. ``ray stop`` is never called: it kills every Ray on the host.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

_TOKEN_DIR = tempfile.mkdtemp(prefix="mxraytest-")
_TOKEN = os.path.join(_TOKEN_DIR, "token")
with open(os.open(_TOKEN, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as _f:
    _f.write(secrets.token_hex(32))
# short: Ray's Unix socket paths live under it (107 bytes), so not pytest's tmp_path
_TEMP = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
os.makedirs(os.path.join(_TEMP, "ray"))  # Cluster writes ray_current_cluster there
os.environ.update(
    {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP 127.0.0.1, every server on it
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": _TOKEN,
        "RAY_TMPDIR": _TEMP,
        "RAY_worker_niceness": "0",
    }
)
os.environ.pop("RAY_ADDRESS", None)  # never another Ray on this host by accident
# Ray's workers inherit it from the Ray this process starts: the tests' probe registry
# (tests.engine.tinyprobe) must import there as here
_ROOT = str(Path(__file__).resolve().parents[2])
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_ROOT, os.environ.get("PYTHONPATH", "")) if p
)

OBJECT_STORE = 128 * 2**20
FAST_HEALTH = {
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
    "health_check_initial_delay_ms": 0,
}


@pytest.fixture(scope="session", autouse=True)
def _remove_dirs() -> Iterator[None]:
    yield
    shutil.rmtree(_TEMP, ignore_errors=True)
    shutil.rmtree(_TOKEN_DIR, ignore_errors=True)


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def assert_gone(pids: set[int], timeout: float = 30.0) -> None:
    """Every process of ``pids`` ends within ``timeout`` (killed and failed otherwise)."""
    deadline = time.monotonic() + timeout
    left = set(pids)
    while left and time.monotonic() < deadline:
        for pid in list(left):
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    left.discard(pid)
            except psutil.NoSuchProcess:
                left.discard(pid)
        time.sleep(0.1)
    if left:
        names = []
        for pid in left:
            try:
                proc = psutil.Process(pid)
                names.append(" ".join(proc.cmdline()[:2]))
                proc.kill()  # never into the next module
            except psutil.NoSuchProcess:
                pass
        pytest.fail(f"processes Ray started are still running: {sorted(left)} {names}")


def loopback_only(pids: set[int]) -> list[str]:
    """Listening sockets of ``pids`` on anything but loopback."""
    bad = []
    for c in psutil.net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            ip = c.laddr.ip
            if not (ip.startswith("127.") or ip in ("::1",) or ip.startswith("::ffff:127.")):
                bad.append(f"{ip}:{c.laddr.port} pid {c.pid}")
    return bad


class RateProbe:
    """The lab's accepted connections sampled over time (every ``every`` seconds at most),
    to check that the whole cluster kept to its rate."""

    def __init__(self, lab: object, every: float = 0.4) -> None:
        self.lab = lab
        self.every = every
        self.samples: list[tuple[float, int]] = []

    def __call__(self, event: object) -> None:
        now = time.monotonic()
        if not self.samples or now - self.samples[-1][0] >= self.every:
            self.samples.append((now, int(self.lab.counters()["total"])))  # type: ignore[attr-defined]

    def worst(self, window: float = 1.0) -> float:
        """The most connections per second over any window of ``window`` seconds or more."""
        worst = 0.0
        for i, (t0, n0) in enumerate(self.samples):
            for t1, n1 in self.samples[i + 1 :]:
                if t1 - t0 >= window:
                    worst = max(worst, (n1 - n0) / (t1 - t0))
                    break
        return worst
