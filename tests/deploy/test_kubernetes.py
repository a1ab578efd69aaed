"""deploy/kubernetes/: the Indexed Job validated against the Kubernetes API models, and its
pod command line run here for two indices, then ingested."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pydantic
import pytest
import yaml
from kubernetes import client

from mxcensus.lab.api import Lab
from tests.conftest import _env

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "mxcensus-scan-job.yaml"
_VAR = re.compile(r"\$\((\w+)\)")


def _docs() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = list(yaml.safe_load_all(MANIFEST.read_text()))
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    (job,) = [d for d in docs if d["kind"] == "Job"]
    return config, job


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def check(job: dict[str, Any], config: dict[str, Any]) -> None:
    """Validate against the API models, then what mxcensus needs of the Job."""
    client.V1ConfigMap.model_validate(config)
    client.V1Job.model_validate(job)
    spec = job["spec"]
    pod = spec["template"]["spec"]
    args = _container(job)["args"]
    assert spec["completionMode"] == "Indexed"  # the models take any string here
    assert int(_arg(args, "--shards")) == spec["completions"] >= spec["parallelism"] >= 1
    assert _arg(args, "--shard") == "$(JOB_COMPLETION_INDEX)"
    assert spec["backoffLimitPerIndex"] >= 1 and spec["podReplacementPolicy"] == "Failed"
    assert pod["restartPolicy"] == "Never"
    rules = spec["podFailurePolicy"]["rules"]
    assert {"action": "FailIndex", "onExitCodes": {"containerName": "scan", "operator": "In",
            "values": [2]}} in rules  # fmt: skip
    assert all(r["action"] in ("FailIndex", "Ignore", "FailJob", "Count") for r in rules)
    for flag in ("--seed", "--parts", "--name", "-iL", "--workers"):
        assert _arg(args, flag)  # the same plan everywhere: nothing left to chance
    declared = {e["name"] for e in _container(job).get("env", [])}
    assert set(_VAR.findall(" ".join(args))) <= declared
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["plan"]["configMap"]["name"] == config["metadata"]["name"]
    cpus = int(_container(job)["resources"]["requests"]["cpu"])
    assert int(_arg(args, "--workers")) == cpus


def test_the_manifest_is_a_valid_indexed_job() -> None:
    config, job = _docs()
    check(job, config)


@pytest.mark.parametrize(
    "path, value, what",
    [
        (("spec", "completionMod"), "Indexed", "Extra inputs are not permitted"),
        (("spec", "completions"), "8", "valid integer"),
        (("spec", "template", "spec", "restartPolicyy"), "Never", "Extra inputs"),
        (("spec", "completionMode"), "NonIndexed", None),
        (("spec", "completions"), 4, None),  # no longer --shards
    ],
)
def test_a_broken_manifest_is_caught(path: tuple[str, ...], value: Any, what: str | None) -> None:
    """Typos and wrong types fail the models (kubernetes >= 37, pydantic); what the models
    cannot see, the checks do."""
    config, job = _docs()
    broken = copy.deepcopy(job)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    if what is not None:
        with pytest.raises(pydantic.ValidationError, match=what):
            client.V1Job.model_validate(broken)
    else:
        with pytest.raises(AssertionError):
            check(broken, config)


def _pod_command(job: dict[str, Any], index: int, mounts: dict[str, Path]) -> list[str]:
    """The pod's command line as the kubelet expands it, its mount paths made local."""
    container = _container(job)
    env = {"JOB_COMPLETION_INDEX": str(index)}
    out = []
    for arg in container["args"]:
        arg = _VAR.sub(lambda m: env[m[1]], arg)
        for mount, local in mounts.items():
            arg = arg.replace(mount, str(local))
        out.append(arg)
    assert container["command"] == ["mxcensus"]
    return [sys.executable, "-m", "mxcensus", *out]


@pytest.mark.slow
def test_the_pod_command_runs_for_two_indices_then_ingest(tmp_path: Path) -> None:
    config, job = _docs()
    plan_dir, parts_dir = tmp_path / "plan", tmp_path / "parts"
    plan_dir.mkdir()
    with Lab(size=40, seed=2, hostile_fraction=0.0, ports=(25, 465, 587)) as lab:
        a = lab.addresses
        # the ConfigMap's files, its documentation ranges replaced by the lab on loopback
        assert set(config["data"]) == {"targets.txt", "exclude.txt"}
        (plan_dir / "targets.txt").write_text(f"{a[0]}-{a[-1]}\n")
        (plan_dir / "exclude.txt").write_text(f"{a[3]}\n")
        mounts = {"/etc/mxcensus": plan_dir, "/mnt/parts": parts_dir}
        before = lab.counters()["connections"]
        for index in (0, 1):
            cmd = [*_pod_command(job, index, mounts), "--allow-reserved"]
            res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, res.stderr
            assert f"shard      {index} of 8  (complete)" in res.stdout
        after = lab.counters()["connections"]
    name = _arg(_container(job)["args"], "--name")
    uri = _arg(_container(job)["args"], "--parts").replace("/mnt/parts", str(parts_dir))
    db = tmp_path / "db.duckdb"
    res = subprocess.run(
        [sys.executable, "-m", "mxcensus", "ingest", uri, "--name", name, "--db", str(db)],
        env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 1  # six shards have not run: named by index
    assert res.stderr.strip() == (
        f"mxcensus: error: ingest {uri}: missing shards 2, 3, 4, 5, 6, 7 of 8; ingest again "
        "when they finish"
    )
    assert "2 of 8 complete and in the store" in res.stdout
    assert after.get(a[3], 0) == before.get(a[3], 0)  # the excluded address: no connection
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT ip, port, protocol FROM transcripts").fetchall()
    con.close()
    markers = [
        json.loads((Path(uri.removeprefix("file://")) / f"shard-0000{i}-of-00008" /
                    "_COMPLETE.json").read_text())
        for i in (0, 1)
    ]  # fmt: skip
    assert rows and len(rows) == len(set(rows)) == sum(m["targets"] for m in markers)
    assert not [r for r in rows if r[0] == a[3]]
