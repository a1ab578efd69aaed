"""Choosing the executor on the command line: its errors come before anything starts."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import RunCli
from tests.engine.servers import free_port

SCAN = ["scan", "127.0.41.0/30", "-p", "2525", "--allow-reserved", "-q"]


def test_without_ray_installed_the_ray_executor_says_how_to_get_it(
    tmp_path: Path, mx: RunCli
) -> None:
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    res = mx(*SCAN, "--db", str(tmp_path / "d"), "--executor", "ray",
             env={"PYTHONPATH": str(fake.parent)})  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == (
        "mxcensus: error: --executor ray: Ray is not installed (pip install 'mxcensus[ray]')"
    )
    assert not (tmp_path / "d").exists()


def test_an_unreachable_cluster_is_one_line_and_quick(tmp_path: Path, mx: RunCli) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    t0 = time.monotonic()
    res = mx(*SCAN, "--db", str(tmp_path / "d"), "--executor", "ray", "--ray-address", address)
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"mxcensus: error: --ray-address {address}: no Ray cluster there (Connection refused)"
    ]
    assert time.monotonic() - t0 < 60  # not Ray's minutes of retries
    assert not (tmp_path / "d").exists()


def test_options_the_ray_executor_refuses(tmp_path: Path, mx: RunCli) -> None:
    for extra, text in (
        (["--shard", "1", "--shards", "2"], "--shard: the Ray executor runs every shard"),
        (["--workers", "2"], "--workers: on Ray each shard is one task"),
        (["--ray-address", "127.0.0.1:1"], "--ray-address: only with --executor ray"),
        (["--executor", "spark"], "--executor spark: must be local or ray"),
    ):
        ray = [] if "--executor" in extra or "--ray-address" in extra else ["--executor", "ray"]
        res = mx(*SCAN, "--db", str(tmp_path / "d"), *ray, *extra)
        assert res.returncode == 2, (extra, res.stderr)
        assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
