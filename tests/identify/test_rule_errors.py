"""A bad rule fails at load with file, line and id; ``rules check`` reports per file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mxcensus.errors import RuleError
from mxcensus.identify.rules import RULES_DIR, load_file, load_reports, load_rulesets

GOOD_RULE = """\
field: smtp.ehlo
rules:
  - id: haraka
    keywords: [haraka]
    pattern: '\\bHaraka is at your service\\b'
    product: haraka
    precision: product
    examples:
      - input: '250 mx Hello x [192.0.2.1], Haraka is at your service.'
"""


def _write(tmp_path: Path, body: str, name: str = "smtp_ehlo.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def _one_error(tmp_path: Path, body: str) -> str:
    report = load_file(_write(tmp_path, body))
    assert report.errors, "expected a load error"
    return report.errors[0]


def test_good_rule_loads(tmp_path: Path) -> None:
    report = load_file(_write(tmp_path, GOOD_RULE))
    assert report.errors == []
    assert [r.id for r in report.rules] == ["haraka"]
    assert report.rules[0].line == 3


def test_unknown_product(tmp_path: Path) -> None:
    err = _one_error(tmp_path, GOOD_RULE.replace("product: haraka", "product: exim5"))
    assert err == "smtp_ehlo.yaml:3#haraka: unknown product 'exim5'"


def test_bad_regex(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("'\\bHaraka is at your service\\b'", "'Haraka (unclosed'")
    err = _one_error(tmp_path, body)
    assert err.startswith("smtp_ehlo.yaml:3#haraka: bad regex: missing )")


def test_unused_capture_group(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("'\\bHaraka is", "'\\b(?P<who>Haraka) is")
    assert _one_error(tmp_path, body) == "smtp_ehlo.yaml:3#haraka: capture group(s) who not used"


def test_unnamed_capture_group(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("'\\bHaraka is", "'\\b(Haraka) is")
    assert "unnamed capturing group" in _one_error(tmp_path, body)


def test_template_field_without_group(tmp_path: Path) -> None:
    body = GOOD_RULE.replace(
        "    precision: product\n", "    precision: product\n    note: '{v}'\n"
    )
    err = _one_error(tmp_path, body)
    assert err == "smtp_ehlo.yaml:3#haraka: note template uses v with no such group"


def test_unknown_field(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("    precision: product\n", "    precision: product\n    sevrity: 3\n")
    assert _one_error(tmp_path, body) == "smtp_ehlo.yaml:3#haraka: unknown field(s) 'sevrity'"


def test_version_precision_needs_template(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("precision: product", "precision: version")
    assert "needs a version template" in _one_error(tmp_path, body)


def test_malformed_yaml(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("    product: haraka\n", "    product: [haraka\n")
    err = _one_error(tmp_path, body)
    assert err.startswith("smtp_ehlo.yaml:")
    assert "malformed YAML" in err
    assert int(err.split(":")[1]) >= 6


def test_failing_example_names_the_example_line(tmp_path: Path) -> None:
    body = GOOD_RULE + "      - input: '250 mx Hello x [192.0.2.1]'\n"
    err = _one_error(tmp_path, body)
    assert err.startswith("smtp_ehlo.yaml:10#haraka: example does not match")


def test_example_claimed_by_an_earlier_rule(tmp_path: Path) -> None:
    body = (
        GOOD_RULE
        + """\
  - id: haraka-again
    pattern: 'Haraka'
    product: haraka
    precision: product
    examples:
      - input: '250 mx Hello x [192.0.2.1], Haraka is at your service.'
"""
    )
    err = _one_error(tmp_path, body)
    assert err.startswith("smtp_ehlo.yaml:15#haraka-again: example is claimed first by earlier")
    assert "smtp_ehlo.yaml#haraka" in err


def test_example_field_mismatch(tmp_path: Path) -> None:
    body = GOOD_RULE.replace(
        "    precision: product\n", "    precision: product\n    distro: debian\n"
    )
    body += "        distro: ubuntu\n"
    err = _one_error(tmp_path, body)
    assert "distro is 'debian', expected 'ubuntu'" in err


def test_keyword_that_misses_an_example(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("keywords: [haraka]", "keywords: [harakiri]")
    assert "keyword prefilter misses the example" in _one_error(tmp_path, body)


def test_duplicate_id(tmp_path: Path) -> None:
    second = GOOD_RULE.split("rules:\n", 1)[1]
    err = _one_error(tmp_path, GOOD_RULE + second)
    assert err == "smtp_ehlo.yaml:10#haraka: duplicate id (first at line 3)"


def test_load_rulesets_raises_rule_error_with_address(tmp_path: Path) -> None:
    for f in RULES_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    _write(tmp_path, GOOD_RULE.replace("product: haraka", "product: exim5"))
    with pytest.raises(RuleError, match=r"^smtp_ehlo\.yaml:3#haraka: unknown product 'exim5'$"):
        load_rulesets(tmp_path)


def test_missing_rule_file_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, GOOD_RULE)
    reports = {r.file: r for r in load_reports(tmp_path)}
    assert reports["smtp_ehlo.yaml"].errors == []
    assert reports["smtp_banner.yaml"].errors == ["smtp_banner.yaml:0: rule file missing"]


def test_packaged_rules_are_clean() -> None:
    for report in load_reports():
        assert report.errors == [], report.file
