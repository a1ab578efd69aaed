"""Losing precision never makes a verdict more reassuring (a false "not vulnerable" is the
worst bug this project can have)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.model import Identification, Precision, Status

BUILDS = sorted(kb.load_shipped().builds)
RANK = {
    Status.NOT_VULNERABLE: 0,
    Status.UNKNOWN: 1,
    Status.POTENTIALLY_VULNERABLE: 1,
    Status.VULNERABLE: 2,
}


def _statuses(version: str, precision: Precision) -> dict[str, Status]:
    a = assess(Identification(product="ms-exchange", version=version, precision=precision))
    return {f.cve: f.status for f in a.findings}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(BUILDS), st.integers(min_value=-3, max_value=40))
def test_fewer_parts_never_more_reassuring(build: str, bump: int) -> None:
    parts = [int(p) for p in build.split(".")]
    parts[3] = max(0, parts[3] + bump)
    full = ".".join(map(str, parts))
    b4 = _statuses(full, Precision.BUILD4)
    b3 = _statuses(".".join(map(str, parts[:3])), Precision.BUILD3)
    b2 = _statuses(".".join(map(str, parts[:2])), Precision.MAJOR)
    for cve, status in b3.items():
        if status is Status.NOT_VULNERABLE:
            assert b4.get(cve, Status.NOT_VULNERABLE) is Status.NOT_VULNERABLE, (full, cve)
        if b4.get(cve) is Status.VULNERABLE:
            assert status is not Status.NOT_VULNERABLE
    assert Status.NOT_VULNERABLE not in b2.values()
    assert Status.VULNERABLE not in b2.values()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_garbage_versions_are_never_not_vulnerable(text: str) -> None:
    for product in ("ms-exchange", "exim", "opensmtpd", "mdaemon", "zimbra"):
        for precision in (Precision.VERSION, Precision.BUILD4):
            a = assess(Identification(product=product, version=text, precision=precision))
            for f in a.findings:
                if f.status is Status.NOT_VULNERABLE:
                    # only a version that actually parses may clear a CVE
                    from mxcensus.versions import scheme_for

                    assert scheme_for(product).parses(text), (product, text, f)
