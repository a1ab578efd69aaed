"""The shipped knowledge loads; a malformed knowledge file fails with file, line and id."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mxcensus import kb
from mxcensus.errors import KnowledgeError


def test_shipped_knowledge_loads() -> None:
    k = kb.load()
    assert len(k.builds) == 338 + 113
    ids = {a.id for a in k.advisories}
    # every Exchange CVE in KEV (19), the Exim CVEs, OpenSMTPD, Zimbra, MDaemon, SmarterMail
    assert len([a for a in k.advisories if a.product == "ms-exchange"]) == 19
    assert all(a.kev for a in k.advisories if a.product == "ms-exchange")
    assert {"CVE-2019-10149", "CVE-2023-42115", "CVE-2020-28017", "CVE-2026-45185"} <= ids
    assert {"CVE-2020-7247", "CVE-2024-11182", "CVE-2026-73570", "CVE-2026-24423"} <= ids
    assert {a.id for a in k.advisories if a.product == "exim" and a.kev} == {
        "CVE-2010-4344", "CVE-2010-4345", "CVE-2018-6789", "CVE-2019-10149", "CVE-2019-16928",
    }  # fmt: skip
    assert set(k.lifecycles) >= {
        "ms-exchange",
        "exim",
        "postfix",
        "dovecot",
        "hmailserver",
        "zimbra",
    }


def test_every_data_file_names_its_sources_and_date() -> None:
    for path in sorted(kb.DATA_DIR.iterdir()):
        head = path.read_text().split("\n", 25)[:25]
        text = "\n".join(head).lower()
        assert "source" in text, path.name
        assert re.search(r"as-of: \d{4}-\d{2}-\d{2}", text), path.name


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(kb.DATA_DIR, d)
    return d


def _line_of(path: Path, needle: str) -> int:
    for no, text in enumerate(path.read_text().splitlines(), 1):
        if needle in text:
            return no
    raise AssertionError(needle)


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_unquoted_exim_version_names_file_line_and_id(data: Path) -> None:
    f = data / "exim.yaml"
    _break(f, 'ranges: [["4.87", "4.92"]]', "ranges: [[4.87, 4.92]]")
    with pytest.raises(KnowledgeError) as err:
        kb.load(data)
    line = _line_of(f, "id: CVE-2019-10149")
    assert f"exim.yaml:{line}: CVE-2019-10149:" in str(err.value)
    assert "quoted" in str(err.value) or "strings" in str(err.value)


def test_version_that_does_not_parse(data: Path) -> None:
    f = data / "exim.yaml"
    _break(f, 'ranges: [["0", "4.96.1"]]', 'ranges: [["0", "four"]]')
    with pytest.raises(KnowledgeError, match=r"exim\.yaml:\d+: CVE-2023-42114: .*'four'"):
        kb.load(data)


def test_empty_range(data: Path) -> None:
    _break(data / "exim.yaml", 'ranges: [["4.92", "4.92.3"]]', 'ranges: [["4.92.3", "4.92"]]')
    with pytest.raises(KnowledgeError, match=r"CVE-2019-16928: range 4\.92\.3 \.\. 4\.92 is empty"):
        kb.load(data)


def test_fixed_build_not_in_the_build_list(data: Path) -> None:
    f = data / "exchange-advisories.yaml"
    _break(f, "fixed: [14.3.509.0]", "fixed: [14.3.509.7]")
    with pytest.raises(KnowledgeError) as err:
        kb.load(data)
    line = _line_of(f, "id: CVE-2020-17144")
    assert str(err.value).startswith(f"exchange-advisories.yaml:{line}: CVE-2020-17144:")
    assert "14.3.509.7" in str(err.value)


def test_bad_cve_id_and_unknown_field(data: Path) -> None:
    f = data / "other-advisories.yaml"
    _break(f, "id: CVE-2020-7247", "id: CVE-2020-XXXX")
    with pytest.raises(KnowledgeError, match=r"other-advisories\.yaml:\d+: CVE-2020-XXXX: id must"):
        kb.load(data)
    _break(f, "id: CVE-2020-XXXX", "id: CVE-2020-7247")
    _break(f, "    cvss: 9.8\n", "    cvss: 9.8\n    fixd: 6.6.2\n")
    with pytest.raises(KnowledgeError, match=r"CVE-2020-7247: unknown field\(s\) fixd"):
        kb.load(data)


def test_unknown_product_is_refused(data: Path) -> None:
    _break(data / "other-advisories.yaml", "product: opensmtpd", "product: opensmtp")
    with pytest.raises(KnowledgeError, match=r"CVE-2020-7247: product 'opensmtp' is not in"):
        kb.load(data)


def test_yaml_syntax_error_names_the_line(data: Path) -> None:
    f = data / "lifecycle.yaml"
    _break(f, "  exim:\n", "  exim: [\n")
    with pytest.raises(KnowledgeError, match=r"lifecycle\.yaml:\d+: not valid YAML"):
        kb.load(data)


def test_build_csv_row_names_line_and_build(data: Path) -> None:
    f = data / "exchange-builds.csv"
    _break(
        f, "CU22 Nov22SU,15.1.2375.37,15.01.2375.037", "CU22 Nov22SU,15.1.2375.37,15.01.2375.038"
    )
    line = _line_of(f, "CU22 Nov22SU,15.1.2375.37")
    with pytest.raises(
        KnowledgeError, match=rf"exchange-builds\.csv:{line}: 15\.1\.2375\.37: build_long"
    ):
        kb.load(data)


def test_duplicate_advisory(data: Path) -> None:
    f = data / "other-advisories.yaml"
    _break(f, "id: CVE-2024-11182", "id: CVE-2020-7247")
    with pytest.raises(
        KnowledgeError, match=r"CVE-2020-7247: duplicate \(first at other-advisories"
    ):
        kb.load(data)


def test_disputed_fixed_outside_every_range_is_refused(data: Path) -> None:
    f = data / "zimbra.yaml"
    old = 'disputed_fixed: ["8.8.15.p31", "9.0.0.p24"]'
    _break(f, old, old.replace("9.0.0.p24", "9.0.1"))
    with pytest.raises(KnowledgeError) as err:
        kb.load(data)
    line = _line_of(f, "id: CVE-2022-27924")
    assert f"zimbra.yaml:{line}: CVE-2022-27924: disputed_fixed '9.0.1' lies in none" in str(
        err.value
    )


def test_refs_must_be_strings(data: Path) -> None:
    _break(
        data / "dovecot.yaml",
        "    cvss: 4.8\n    refs:\n",
        "    cvss: 4.8\n    refs:\n      - {url: x}\n",
    )
    with pytest.raises(KnowledgeError, match=r"CVE-2021-33515: refs must be a list of quoted"):
        kb.load(data)


def test_zimbra_patch_version_that_does_not_parse(data: Path) -> None:
    _break(data / "zimbra.yaml", '[["8.8.15", "8.8.15.p33"]', '[["8.8.15", "8.8"]')
    with pytest.raises(KnowledgeError, match=r"CVE-2022-37042: version '8\.8' does not"):
        kb.load(data)


def test_added_advisories_load_with_their_sources() -> None:
    k = kb.load()
    by = {a.id: a for a in k.advisories}
    assert by["CVE-2022-27924"].disputed_fixed == ("8.8.15.p31", "9.0.0.p24")
    assert by["CVE-2024-11182"].disputed_fixed == ("24.5.1",)  # a single string still loads
    assert by["CVE-2019-11500"].ranges == (("0", "2.2.36.4"), ("2.3.0", "2.3.7.2"))
    assert by["CVE-2023-51764"].config and not by["CVE-2023-51764"].kev
    assert any("postfix-announce" in r for r in by["CVE-2023-51764"].refs)
    assert k.newest["zimbra"] == "10.1.20"
    assert {r.version for r in k.releases["zimbra"]} >= {"8.8.15", "9.0.0", "10.0.0", "10.1.0"}
