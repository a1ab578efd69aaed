from __future__ import annotations

from tests.conftest import RunCli

CONTRACT = [
    "scan", "import", "report", "trend", "export", "identify", "explain", "lab", "demo",
]  # fmt: skip


def test_help_lists_the_whole_contract(mx: RunCli) -> None:
    res = mx("--help")
    assert res.returncode == 0
    for command in CONTRACT:
        assert f"  {command} " in res.stdout, command


def test_every_command_has_help(mx: RunCli) -> None:
    for command in CONTRACT:
        res = mx(command, "--help")
        assert res.returncode == 0, (command, res.stderr)
        assert "Usage: mxcensus " + command in res.stdout
        assert len(res.stdout.splitlines()) > 4


def test_unknown_command_is_one_line_usage_error(mx: RunCli) -> None:
    res = mx("frobnicate")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "frobnicate" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_option_value_is_usage_error(mx: RunCli) -> None:
    res = mx("scan", "-p")
    assert res.returncode == 2
    assert "mxcensus scan: error:" in res.stderr
    assert res.stderr.strip().count("\n") == 0
