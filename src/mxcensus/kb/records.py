"""The knowledge records, as loaded and validated from the data files (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from: ``file:line``, for explanations and errors."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ExchangeBuild:
    """One row of the Exchange build list."""

    product_line: str  # "Exchange Server 2016"
    release: str  # Microsoft's label without the product: "CU22 Oct21SU", "SP3 RU23", "RTM"
    build: str  # "15.1.2375.12"
    date: str  # "2021-10-12", or "2015-09" where only the month is known
    base: str  # the CU / SP part: "CU22", "SP3", "SP1 (CU4)", "RTM", "Preview"
    update: str  # the SU / RU / hotfix part: "Oct21SU", "RU23", "KB4536988", ""
    official: bool  # on Microsoft's build page (main file) rather than the supplement
    note: str  # the supplement's date precision / CONFLICT notes
    source: Source


@dataclass(frozen=True, slots=True)
class FixedBuild:
    build: str  # the first fixed build on its CU line
    also: str = ""  # another source's build for the same release
    note: str = ""


@dataclass(frozen=True, slots=True)
class Backport:
    distro: str  # "debian", "ubuntu"
    release: str  # "Debian 9 (stretch)"
    package: str  # "4.89-2+deb9u4"
    upstream: str = ""  # the upstream version the package carries (what the banner shows)
    advisory: str = ""

    def describe(self) -> str:
        name = self.release.split(" (")[0]
        return f"{name} {self.package}".strip()


@dataclass(frozen=True, slots=True)
class Requires:
    """What a configuration-dependent CVE needs that the EHLO can show."""

    ehlo: tuple[str, ...] = ()  # every keyword must be advertised (PIPELINING, CHUNKING)
    auth: tuple[str, ...] = ()  # any of these AUTH mechanisms
    starttls: bool = False  # TLS must be offered (STARTTLS or implicit TLS)

    @property
    def any(self) -> bool:
        return bool(self.ehlo or self.auth or self.starttls)


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    product: str
    title: str
    source: Source
    published: date | None = None
    cvss: float | None = None
    cvss_source: str = ""
    kev: KevEntry | None = None  # in CISA KEV: when added, whether ransomware uses it
    tags: tuple[str, ...] = ()
    # Exchange-style: fixed build per CU line
    lines: tuple[str, ...] = ()
    not_affected: tuple[str, ...] = ()
    fixed_builds: tuple[FixedBuild, ...] = ()
    fixed_from: tuple[str, ...] = ()
    # version-range style: [introduced, fixed)
    ranges: tuple[tuple[str, str], ...] = ()
    fixed_unknown: bool = False  # the fixed version was not collected
    intro_unverified: bool = False  # the first affected version is not from a primary source
    disputed_fixed: tuple[str, ...] = ()  # other sources' (lower) fixed versions, one per range
    config: str = ""  # configuration the CVE depends on; "" when none
    config_detail: str = ""
    requires: Requires = field(default_factory=Requires)
    attack: str = "remote"  # remote | local
    backports: tuple[Backport, ...] = ()
    mitigation: str = ""
    remediation: str = ""
    note: str = ""
    refs: tuple[str, ...] = ()  # where the ranges come from: URL or document, what it says, date
    secondary: bool = False  # only secondary sources

    @property
    def fixed_versions(self) -> tuple[str, ...]:
        return tuple(fixed for _, fixed in self.ranges)


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    date: date | None


@dataclass(frozen=True, slots=True)
class Baseline:
    version: str
    distro: str
    release: str
    package: str
    until: date | None = None  # end of that release's regular security support


@dataclass(frozen=True, slots=True)
class LifecycleLine:
    line: str
    prefix: str
    eol: bool
    eol_date: date | None
    below: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Lifecycle:
    product: str
    migrate_to: str
    lines: tuple[LifecycleLine, ...] = ()
    policy: str = ""  # "newest-release-only" (Exim)


@dataclass(frozen=True, slots=True)
class KevEntry:
    """A CVE's entry in CISA's Known Exploited Vulnerabilities catalog: when it was added
    (None: unknown) and whether it is known to be used in ransomware campaigns."""

    date_added: date | None
    ransomware: bool


@dataclass(frozen=True, slots=True)
class KevCatalog:
    """A CISA KEV catalog loaded by ``kb update --kev``; it overrides the shipped KEV flags."""

    version: str
    released: str
    entries: dict[str, KevEntry]
    path: str = ""
