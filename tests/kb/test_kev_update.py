"""``mxcensus kb update --kev``: a CISA-format catalog overrides the shipped KEV flags; a
broken or older one is refused with one clear line and nothing is written."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from mxcensus import kb
from mxcensus.errors import KnowledgeError, UsageError
from mxcensus.kb import kev
from mxcensus.kb.records import KevEntry
from tests.conftest import RunCli


def catalog(
    version: str = "2026.09.15", extra: list[dict[str, str]] | None = None
) -> dict[str, object]:
    vulns = [
        {
            "cveID": "CVE-2021-26855",
            "vendorProject": "Microsoft",
            "product": "Exchange Server",
            "vulnerabilityName": "Microsoft Exchange Server Remote Code Execution Vulnerability",
            "dateAdded": "2021-11-03",
            "shortDescription": "…",
            "requiredAction": "Apply updates per vendor instructions.",
            "dueDate": "2022-05-03",
            "knownRansomwareCampaignUse": "Known",
            "notes": "",
            "cwes": ["CWE-918"],
        },
        {
            "cveID": "CVE-2023-42115",
            "vendorProject": "Exim",
            "product": "Exim",
            "vulnerabilityName": "Exim Out-of-Bounds Write Vulnerability",
            "dateAdded": "2026-09-10",
            "shortDescription": "…",
            "requiredAction": "Apply mitigations per vendor instructions.",
            "dueDate": "2026-10-01",
            "knownRansomwareCampaignUse": "Known",
            "notes": "",
            "cwes": ["CWE-787"],
        },
    ]
    return {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": version,
        "dateReleased": "2026-09-15T17:00:00.000Z",
        "count": len(vulns) + len(extra or []),
        "vulnerabilities": vulns + (extra or []),
    }


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    return tmp_path / "userdata"


def test_update_installs_the_catalog_and_overrides_flags(
    mx: RunCli, tmp_path: Path, user_dir: Path
) -> None:
    src = tmp_path / "known_exploited_vulnerabilities.json"
    src.write_text(json.dumps(catalog()))
    res = mx("kb", "update", "--kev", str(src), env={"MXCENSUS_DATA_DIR": str(user_dir)})
    assert res.returncode == 0, res.stderr
    assert "2026.09.15" in res.stdout
    assert "CVE-2023-42115" in res.stdout  # its flag changed
    installed = user_dir / "kev.json"
    assert installed.exists()

    cat = kev.load_user_catalog(installed)
    assert cat is not None
    k = kb.load(kev=cat)
    adv = {a.id: a for a in k.advisories}
    assert adv["CVE-2023-42115"].kev == KevEntry(date(2026, 9, 10), ransomware=True)
    # absent from this (partial) catalog: the shipped flag stays
    assert adv["CVE-2019-10149"].kev is not None
    assert kb.load_shipped().advisories[0].kev  # shipped knowledge untouched


def test_assess_uses_the_installed_catalog(mx: RunCli, tmp_path: Path, user_dir: Path) -> None:
    src = tmp_path / "kev.json"
    src.write_text(json.dumps(catalog()))
    env = {"MXCENSUS_DATA_DIR": str(user_dir)}
    assert mx("kb", "update", "--kev", str(src), env=env).returncode == 0
    code = (
        "from mxcensus.assess import assess\n"
        "from mxcensus.model import Identification, Precision\n"
        "a = assess(Identification(product='exim', version='4.96', precision=Precision.VERSION))\n"
        "f = next(x for x in a.findings if x.cve == 'CVE-2023-42115')\n"
        "print(f.kev, f.kev_date)\n"
    )
    import os
    import subprocess
    import sys

    from tests.conftest import _env

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(env), timeout=60,
        check=False, cwd=os.getcwd(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True 2026-09-10"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a KEV catalog"),
        ('{"catalogVersion": "2026.09.15"}', "no vulnerabilities list"),
        ('{"vulnerabilities": []}', "no catalogVersion"),
    ],
)
def test_broken_catalog_is_refused(
    mx: RunCli, tmp_path: Path, user_dir: Path, content: str, message: str
) -> None:
    src = tmp_path / "kev.json"
    src.write_text(content)
    res = mx("kb", "update", "--kev", str(src), env={"MXCENSUS_DATA_DIR": str(user_dir)})
    assert res.returncode == 2
    assert message in res.stderr
    assert str(src) in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert "Traceback" not in res.stderr
    assert not (user_dir / "kev.json").exists()


def test_bad_entry_names_its_index(tmp_path: Path) -> None:
    bad = catalog(extra=[{"cveID": "CVE-2026-1", "dateAdded": "2026-09-01"}])
    with pytest.raises(UsageError, match=r"vulnerabilities\[2\]: cveID 'CVE-2026-1'"):
        kev.parse_catalog(json.dumps(bad).encode(), "x.json")
    bad = catalog(extra=[{"cveID": "CVE-2026-12345", "dateAdded": "yesterday"}])
    with pytest.raises(UsageError, match=r"CVE-2026-12345: dateAdded 'yesterday'"):
        kev.parse_catalog(json.dumps(bad).encode(), "x.json")


def test_older_catalog_is_refused(mx: RunCli, tmp_path: Path, user_dir: Path) -> None:
    src = tmp_path / "kev.json"
    src.write_text(json.dumps(catalog(version="2025.08.25")))
    res = mx("kb", "update", "--kev", str(src), env={"MXCENSUS_DATA_DIR": str(user_dir)})
    assert res.returncode == 2
    assert "older than the shipped knowledge" in res.stderr
    assert not (user_dir / "kev.json").exists()


def test_missing_file(mx: RunCli, tmp_path: Path, user_dir: Path) -> None:
    res = mx(
        "kb",
        "update",
        "--kev",
        str(tmp_path / "nope.json"),
        env={"MXCENSUS_DATA_DIR": str(user_dir)},
    )
    assert res.returncode == 2
    assert "nope.json" in res.stderr


def test_damaged_installed_catalog_is_a_knowledge_error(tmp_path: Path) -> None:
    p = tmp_path / "kev.json"
    p.write_text("{broken")
    with pytest.raises(KnowledgeError, match="damaged"):
        kev.load_user_catalog(p)


REAL = Path(__file__).parent / "fixtures" / "kev-2025.08.25-mail.json"


def test_shipped_kev_flags_match_the_official_catalog() -> None:
    """Every KEV flag, date and ransomware mark up to 2025-08-25 agrees with CISA's own file
    (cisagov/kev-data eacf03e), and no mail-server entry of that catalog is missing."""
    cat = kev.parse_catalog(REAL.read_bytes(), REAL.name)
    assert cat.version == "2025.08.25"
    shipped = {a.id: a for a in kb.load_shipped().advisories}
    for cve, entry in cat.entries.items():
        assert cve in shipped, cve
        adv = shipped[cve]
        assert adv.kev == entry, cve
    for adv in shipped.values():
        added = adv.kev.date_added if adv.kev else None
        if added is not None and added <= date(2025, 8, 25):
            assert adv.id in cat.entries, adv.id


def test_real_catalog_format_installs_when_newer(
    mx: RunCli, tmp_path: Path, user_dir: Path
) -> None:
    doc = json.loads(REAL.read_text())
    doc["catalogVersion"] = "2026.10.01"  # the real layout, presented as a newer catalog
    src = tmp_path / "known_exploited_vulnerabilities.json"
    src.write_text(json.dumps(doc))
    res = mx("kb", "update", "--kev", str(src), env={"MXCENSUS_DATA_DIR": str(user_dir)})
    assert res.returncode == 0, res.stderr
    assert f"{len(doc['vulnerabilities'])} entries" in res.stdout
    # the untouched 2025 catalog is older than the shipped knowledge: refused
    res = mx("kb", "update", "--kev", str(REAL), env={"MXCENSUS_DATA_DIR": str(tmp_path / "u2")})
    assert res.returncode == 2 and "older than the shipped knowledge" in res.stderr
