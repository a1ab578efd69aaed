"""Every writing command (report, trend, export, notify) through the real CLI: ``-o`` never
replaces the store or another database unless forced, and a full disk is one line, exit 1,
with no partial file left (on a small tmpfs mounted in a private mount namespace)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SRC, RunCli, _env
from tests.report import fixture_store
from tests.tmpfs import can_mount


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture_store.build(tmp_path_factory.mktemp("store") / "census.duckdb")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


COMMANDS = {
    "report": ("report", "--format", "json"),
    "trend": ("trend", "--format", "csv"),
    "export": ("export", "--format", "csv"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_over_the_store_is_refused(mx: RunCli, store: Path, command: str) -> None:
    before = _digest(store)
    res = mx(*COMMANDS[command], "--db", str(store), "-o", str(store))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == (
        f"mxcensus: error: -o {store}: is the store this command reads ({store}); "
        "refusing to overwrite it (--force to overwrite anyway)"
    )
    assert _digest(store) == before
    res = mx("report", "--db", str(store), "--format", "json")
    assert res.returncode == 0, res.stderr  # the store still opens


def test_any_database_is_refused_unless_forced(mx: RunCli, store: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    before = _digest(other)
    res = mx("export", "--db", str(store), "--format", "jsonl", "-o", str(other))
    assert res.returncode == 2
    assert "is a DuckDB database; refusing to overwrite it" in res.stderr
    assert _digest(other) == before
    res = mx("export", "--db", str(store), "--format", "jsonl", "-o", str(other), "--force")
    assert res.returncode == 0, res.stderr
    assert other.read_text().startswith('{"schema":1')


def test_notify_refuses_a_database_in_its_directory(
    mx: RunCli, store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "notices"
    out.mkdir()
    index = out / "index.tsv"
    duckdb.connect(str(index)).close()  # someone's database, named like notify's index
    before = _digest(index)
    res = mx("notify", "--db", str(store), "--scan", "april", "--out", str(out))
    assert res.returncode == 2
    assert f"--out {index}: is a DuckDB database" in res.stderr
    assert [p.name for p in out.iterdir()] == ["index.tsv"]
    assert _digest(index) == before


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and unshare -m")

FULL = """
set -u
dir=$1; shift
mount -t tmpfs -o size=256k tmpfs "$dir" || exit 97
head -c 1048576 /dev/zero > "$dir/filler" 2>/dev/null
"$@"
echo "exit $?"
ls -A "$dir"
"""
"""Mount a small tmpfs over ``dir`` in this mount namespace, fill it, run the command,
print its exit code and what the directory holds (only the filler, if nothing partial
was left)."""


def _on_full_disk(full: Path, *args: str, stdout_to: str | None = None) -> tuple[str, str]:
    cmd = [sys.executable, "-m", "mxcensus", *args]
    script = FULL if stdout_to is None else FULL.replace('"$@"', f'"$@" > "{stdout_to}"')
    res = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(full), *cmd],
        capture_output=True,
        text=True,
        env=_env({"PYTHONPATH": str(SRC)}),
        timeout=120,
        check=False,
    )
    return res.stdout, res.stderr


@needs_mount
@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("report", "--format", "html"), "report"),
        (("trend", "--format", "json"), "trend"),
        (("export", "--format", "jsonl"), "jsonl export"),
        (("export", "--format", "csv"), "csv export"),
        (("export", "--format", "parquet"), "parquet export"),
        (("export", "--format", "shadowserver"), "shadowserver export"),
    ],
)
def test_a_full_disk_is_one_line_and_leaves_nothing(
    store: Path, tmp_path: Path, args: tuple[str, ...], what: str
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    target = full / "out"
    out, err = _on_full_disk(full, *args, "--db", str(store), "-o", str(target))
    assert out.splitlines() == ["exit 1", "filler"], (out, err)
    if what == "shadowserver export":  # a directory of files: the one that did not fit
        target = target / "2026-11-01-scan6_smtp-november_id-export.csv"
    assert err == f"mxcensus: error: {target}: cannot write the {what}: No space left on device\n"


@needs_mount
def test_a_full_disk_behind_stdout_is_one_line(store: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    out, err = _on_full_disk(
        full, "export", "--db", str(store), "--format", "jsonl", stdout_to=f"{full}/redirected"
    )
    assert out.splitlines()[0] == "exit 1", (out, err)
    want = "stdout: cannot write the jsonl export: No space left on device"
    assert err == f"mxcensus: error: {want}\n"


@needs_mount
def test_notify_on_a_full_disk_leaves_no_file_and_no_partial_set(
    store: Path, tmp_path: Path
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    notices = full / "notices"
    out, err = _on_full_disk(
        full, "notify", "--db", str(store), "--scan", "april", "--out", str(notices)
    )
    assert out.splitlines() == ["exit 1", "filler"], (out, err)
    assert err.startswith(f"mxcensus: error: {notices}")
    assert err.endswith(": No space left on device\n")
    assert err.count("\n") == 1
