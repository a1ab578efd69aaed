"""``mxcensus kb list``: the advisories in force with what is affected, fixed and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxcensus import kb
from mxcensus.errors import UsageError
from mxcensus.kb.listing import describe, select
from tests.conftest import RunCli


def test_describe_shows_ranges_disagreement_config_and_sources() -> None:
    k = kb.load_shipped()
    text = "\n".join(describe(select(k, cve="cve-2022-27924")[0]))
    assert "8.8.15 ≤ v < 8.8.15 Patch 31.1; 9.0.0 ≤ v < 9.0.0 Patch 24.1" in text
    assert "other sources' fix: 8.8.15 Patch 31, 9.0.0 Patch 24" in text
    assert "KEV 2022-08-04, ransomware" in text and "data: zimbra.yaml:" in text
    assert "ref: SonarSource" in text
    postfix = "\n".join(describe(select(k, product="postfix")[0]))
    assert "not in KEV" in postfix and "configuration dependent" in postfix
    assert "< Build 9511" in "\n".join(describe(select(k, cve="CVE-2026-23760")[0]))
    unknown = "\n".join(describe(select(k, cve="CVE-2025-48700")[0]))
    assert "fixed version not collected" in unknown


def test_select_refuses_unknown_products_and_cves() -> None:
    k = kb.load_shipped()
    assert {a.product for a in select(k, product="dovecot")} == {"dovecot"}
    assert len(select(k)) == len(k.advisories)
    with pytest.raises(UsageError, match="unknown product 'nope'"):
        select(k, product="nope")
    with pytest.raises(UsageError, match="CVE-1999-0001 is not in the knowledge base"):
        select(k, cve="CVE-1999-0001")


def test_cli_kb_list(mx: RunCli, tmp_path: Path) -> None:
    env = {"MXCENSUS_DATA_DIR": str(tmp_path)}
    res = mx("kb", "list", "--product", "zimbra", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\nCVE-") + res.stdout.startswith("CVE-") == 19
    assert "CVE-2024-45519  zimbra  KEV 2024-10-03" in res.stdout
    bad = mx("kb", "list", "--cve", "CVE-1999-0001", env=env)
    assert bad.returncode == 2 and "not in the knowledge base" in bad.stderr
