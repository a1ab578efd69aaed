"""Exim verdicts: boundaries of every range, banner-only verdicts, EHLO notes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.model import Finding, Identification, Precision, Status
from mxcensus.versions import EXIM
from tests.assess.conftest import MakeTranscript


def verdicts(version: str, distro: str = "") -> dict[str, Finding]:
    a = assess(
        Identification(product="exim", version=version, precision=Precision.VERSION, distro=distro)
    )
    return {f.cve: f for f in a.findings}


def _in_any_range(cve: str, version: str) -> bool:
    adv = next(a for a in kb.load_shipped().advisories if a.id == cve)
    return any(
        (i == "0" or EXIM.compare(version, i) >= 0) and EXIM.compare(version, f) < 0
        for i, f in adv.ranges
    )


def _boundary_cases() -> list[tuple[str, str, str]]:
    k = kb.load_shipped()
    releases = [r.version for r in k.releases["exim"]]
    out = []
    for adv in k.by_product["exim"]:
        for intro, fixed in adv.ranges:
            below_fix = max((r for r in releases if EXIM.compare(r, fixed) < 0), key=EXIM.sort_key)
            out.append((adv.id, below_fix, "in"))
            out.append((adv.id, fixed, "out" if not _in_any_range(adv.id, fixed) else "in"))
            if intro != "0":
                out.append((adv.id, intro, "in"))
                below = [r for r in releases if EXIM.compare(r, intro) < 0]
                if below:
                    v = max(below, key=EXIM.sort_key)
                    where = "in" if _in_any_range(adv.id, v) else "out"
                    if where == "out" and adv.intro_unverified:
                        where = "unconfirmed"
                    out.append((adv.id, v, where))
    return out


CASES = _boundary_cases()


@pytest.mark.parametrize(("cve", "version", "where"), CASES, ids=[f"{c}@{v}" for c, v, _ in CASES])
def test_range_boundaries(cve: str, version: str, where: str) -> None:
    f = verdicts(version)[cve]
    if where == "in":
        assert f.status is Status.POTENTIALLY_VULNERABLE, f
        assert "backport" in f.reason
        assert f.fixed_in
    elif where == "unconfirmed":  # below a lower bound no primary source confirms
        assert f.status is Status.UNKNOWN, f
        assert "not confirmed" in f.reason
    else:
        assert f.status is Status.NOT_VULNERABLE, f


@pytest.mark.parametrize(
    ("cve", "version", "status"),
    [
        ("CVE-2016-1531", "4.86_1", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2016-1531", "4.86_2", Status.NOT_VULNERABLE),
        ("CVE-2016-1531", "4.86.2", Status.NOT_VULNERABLE),
        ("CVE-2019-10149", "4.86.2", Status.NOT_VULNERABLE),
        ("CVE-2019-10149", "4.87", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2019-10149", "4.91", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2019-10149", "4.92", Status.NOT_VULNERABLE),
        ("CVE-2019-16928", "4.91", Status.NOT_VULNERABLE),
        ("CVE-2019-16928", "4.92", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2019-16928", "4.92.2", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2019-16928", "4.92.3", Status.NOT_VULNERABLE),
        ("CVE-2019-15846", "4.92.1", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2019-15846", "4.92.2", Status.NOT_VULNERABLE),
        ("CVE-2020-28017", "4.94", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2020-28017", "4.94.1", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2020-28017", "4.94.2", Status.NOT_VULNERABLE),
        ("CVE-2023-42115", "4.96", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2023-42115", "4.96.1", Status.NOT_VULNERABLE),
        ("CVE-2024-39929", "4.97.1", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2024-39929", "4.98", Status.NOT_VULNERABLE),
        ("CVE-2018-6789", "4.90_RC3", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2018-6789", "4.89_1", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2018-6789", "4.90_1", Status.NOT_VULNERABLE),
        ("CVE-2026-45185", "4.96.2", Status.NOT_VULNERABLE),
        ("CVE-2026-45185", "4.97", Status.POTENTIALLY_VULNERABLE),
        ("CVE-2026-45185", "4.99.3", Status.NOT_VULNERABLE),
        ("CVE-2026-45185", "4.100", Status.NOT_VULNERABLE),
    ],
)
def test_named_boundaries(cve: str, version: str, status: Status) -> None:
    assert verdicts(version)[cve].status is status


def test_banner_only_exim_is_never_flatly_vulnerable() -> None:
    for r in kb.load_shipped().releases["exim"]:
        for f in verdicts(r.version).values():
            assert f.status is not Status.VULNERABLE, (r.version, f)


def test_debian_baseline_is_named_in_the_reason() -> None:
    f = verdicts("4.89", distro="debian")["CVE-2019-10149"]
    assert f.status is Status.POTENTIALLY_VULNERABLE
    assert "banner version in range" in f.reason
    assert "distributions backport fixes" in f.reason
    assert "Debian 9 4.89-2+deb9u4" in f.reason
    f = verdicts("4.90_1")["CVE-2019-10149"]
    assert "Ubuntu 18.04 4.90.1-1ubuntu1.2" in f.reason
    assert f.kev and f.fixed_in == "4.92"


def _local_exim_version() -> str | None:
    exe = shutil.which("exim4") or shutil.which("exim")
    if exe is None:
        return None
    out = subprocess.run([exe, "-bV"], capture_output=True, text=True, timeout=30, check=False)
    m = re.search(r"Exim version (\S+)", out.stdout)
    return m.group(1) if m else None


LOCAL = _local_exim_version()


@pytest.mark.skipif(LOCAL is None, reason="Debian's exim4 is not installed")
def test_debians_real_exim_is_potentially_vulnerable_with_the_backport_reason(
    smtp: MakeTranscript,
) -> None:
    assert LOCAL is not None
    banner = f"220 mx.example.org ESMTP Exim {LOCAL} Mon, 23 Nov 2026 10:00:00 +0000\r\n".encode()
    ident = Identification(product="exim", version=LOCAL, precision=Precision.VERSION)
    a = assess(ident, smtp(banner=banner))
    f = {x.cve: x for x in a.findings}
    c = f["CVE-2023-42115"]
    if EXIM.compare(LOCAL, "4.96.1") < 0:
        assert c.status is Status.POTENTIALLY_VULNERABLE
        assert "backport" in c.reason.lower()
        assert c.fixed_in == "4.96.1"
    for cve in ("CVE-2019-10149", "CVE-2019-15846", "CVE-2020-28017"):
        assert f[cve].status is Status.NOT_VULNERABLE
    assert a.product_line == "Exim 4"


def test_ehlo_notes_for_configuration_dependent_cves(smtp: MakeTranscript) -> None:
    ident = Identification(product="exim", version="4.96", precision=Precision.VERSION)
    plain = {f.cve: f for f in assess(ident, smtp()).findings}
    assert "does not advertise PIPELINING and CHUNKING" in plain["CVE-2023-51766"].reason
    assert "no AUTH EXTERNAL advertised" in plain["CVE-2023-42115"].reason
    assert plain["CVE-2023-51766"].status is Status.POTENTIALLY_VULNERABLE  # never cleared by EHLO
    rich = smtp(
        ehlo=b"250-mx Hello\r\n250-PIPELINING\r\n250-CHUNKING\r\n"
        b"250-AUTH PLAIN EXTERNAL\r\n250 HELP\r\n"
    )
    f = {x.cve: x for x in assess(ident, rich).findings}
    assert "the EHLO advertises PIPELINING and CHUNKING" in f["CVE-2023-51766"].reason
    assert "AUTH EXTERNAL is advertised" in f["CVE-2023-42115"].reason
    assert f["CVE-2023-42115"].status is Status.POTENTIALLY_VULNERABLE
    # without a transcript the verdict is the same, without the note
    bare = {x.cve: x for x in assess(ident).findings}
    assert "EHLO" not in bare["CVE-2023-51766"].reason


def test_unknown_version_is_unknown_never_not_vulnerable(smtp: MakeTranscript) -> None:
    for ident in (
        Identification(product="exim", precision=Precision.PRODUCT),
        Identification(product="exim", version="x.y", precision=Precision.VERSION),
    ):
        a = assess(ident, smtp())
        assert a.findings
        assert all(f.status is Status.UNKNOWN for f in a.findings)
        assert a.eol.eol is None


def test_exim_end_of_support() -> None:
    a = assess(Identification(product="exim", version="4.96", precision=Precision.VERSION))
    assert a.eol.eol is True and "newest release" in a.eol.reason
    assert "Debian 12" in a.eol.reason  # still patched by a supported distribution
    a = assess(Identification(product="exim", version="4.99.4", precision=Precision.VERSION))
    assert a.eol.eol is False


def test_ehlo_facts_parse() -> None:
    from mxcensus.assess.ehlo import parse_ehlo

    reply = (
        b"250-mx1.example Hello scanner [192.0.2.1]\r\n250-SIZE 52428800\r\n250-PIPELINING\r\n"
        b"250-CHUNKING\r\n250-AUTH PLAIN EXTERNAL\r\n250-AUTH=LOGIN\r\n250-STARTTLS\r\n250 HELP\r\n"
    )
    facts = parse_ehlo((reply, b""), False)
    assert facts == {
        "PIPELINING", "CHUNKING", "STARTTLS", "TLS", "AUTH:PLAIN", "AUTH:EXTERNAL", "AUTH:LOGIN",
    }  # fmt: skip
    assert parse_ehlo((b"250-x\r\n250 AUTH NTLM\r\n", b""), True) == {"AUTH:NTLM", "TLS"}
    # a keyword inside the greeting line or a garbage reply is not a keyword
    assert parse_ehlo((b"250-chunking.example Hello\r\n250 HELP\r\n", b""), False) == set()
    assert parse_ehlo((b"\x00" * 100000, b""), False) == set()
