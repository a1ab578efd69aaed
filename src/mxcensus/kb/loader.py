"""Load and validate the knowledge files; every failure names file, line and id.

The shipped files live in ``kb/data/`` (each starts with its sources and as-of date). A KEV
catalog loaded with ``mxcensus kb update --kev`` is kept in the user data directory and
overrides the shipped KEV flags (see :mod:`mxcensus.kb.kev`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from mxcensus.errors import KnowledgeError
from mxcensus.kb.records import (
    Advisory,
    Backport,
    Baseline,
    ExchangeBuild,
    FixedBuild,
    KevCatalog,
    KevEntry,
    Lifecycle,
    LifecycleLine,
    Release,
    Requires,
    Source,
)
from mxcensus.versions import EXCHANGE, Scheme, build_parts, scheme_for
from mxcensus.vocabulary import is_product

DATA_DIR = Path(__file__).parent / "data"

BUILD_FILES = ("exchange-builds.csv", "exchange-builds-supplement.csv")
ADVISORY_FILES = (
    "exchange-advisories.yaml",
    "exim.yaml",
    "zimbra.yaml",
    "postfix.yaml",
    "dovecot.yaml",
    "other-advisories.yaml",
)
LIFECYCLE_FILE = "lifecycle.yaml"

_CVE = re.compile(r"CVE-\d{4}-\d{4,}$")
_LINE_KEY = "__line__"
_BASE = re.compile(r"(Preview|RTM|SP\d(?: \(CU\d+\))?|CU\d+)(?:\s+\+?\s*(.*))?$")
_PRODUCT_LINES = (
    "Exchange Server 2007",
    "Exchange Server 2010",
    "Exchange Server 2013",
    "Exchange Server 2016",
    "Exchange Server 2019",
    "Exchange Server SE",
)


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that remembers the line of every mapping (key ``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping = {loader.construct_object(k): loader.construct_object(v) for k, v in node.value}
    mapping[_LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per load
class KnowledgeBase:
    builds: dict[str, ExchangeBuild]  # normalised build "15.1.2375.7" -> row
    advisories: tuple[Advisory, ...]
    releases: dict[str, tuple[Release, ...]]  # product -> known releases, sorted
    newest: dict[str, str]  # product -> newest known release
    baselines: dict[str, tuple[Baseline, ...]]  # product -> distro baselines
    lifecycles: dict[str, Lifecycle]
    as_of: str  # the shipped knowledge's KEV catalog version / date
    kev: KevCatalog | None = None  # the user's newer catalog, when loaded
    by_product: dict[str, tuple[Advisory, ...]] = field(default_factory=dict)


def _err(file: str, line: int | None, ident: str, msg: str) -> KnowledgeError:
    where = f"{file}:{line}" if line else file
    return KnowledgeError(f"{where}: {ident}: {msg}" if ident else f"{where}: {msg}")


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeError(f"{path.name}: not UTF-8 text (byte {exc.start})") from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise _err(path.name, line, "", f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:  # a ReaderError (a control character): its reason, one line
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise _err(path.name, None, "", f"not valid YAML: {reason}") from exc


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KnowledgeError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
    numbered = [(i + 1, t) for i, t in enumerate(lines) if t.strip() and not t.startswith("#")]
    if not numbered:
        raise _err(path.name, None, "", "no header row")
    header_no, header = numbered[0]
    fields = next(csv.reader([header]))
    for no, text in numbered[1:]:
        values = next(csv.reader([text]))
        if len(values) != len(fields):
            raise _err(
                path.name,
                no,
                values[2] if len(values) > 2 else "",
                (f"{len(values)} columns, the header (line {header_no}) has {len(fields)}"),
            )
        yield no, dict(zip(fields, values, strict=True))


def normalise_build(build: str) -> str:
    parts = build_parts(build)
    if parts is None:
        return build
    return ".".join(str(p) for p in parts)


def _load_builds(data_dir: Path) -> dict[str, ExchangeBuild]:
    out: dict[str, ExchangeBuild] = {}
    for name in BUILD_FILES:
        official = name == BUILD_FILES[0]
        for no, row in _csv_rows(data_dir / name):
            build = row.get("build_short", "")
            parts = build_parts(build)
            if parts is None or len(parts) != 4:
                raise _err(name, no, build, "build_short is not a four-part build")
            line = row.get("product", "")
            if line not in _PRODUCT_LINES:
                raise _err(name, no, build, f"unknown product line {line!r}")
            release = row.get("release_name", "").strip()
            m = _BASE.match(release)
            if m is None:
                raise _err(name, no, build, f"release {release!r} has no RTM/SP/CU part")
            long = row.get("build_long", "")
            if normalise_build(long) != normalise_build(build):
                raise _err(name, no, build, f"build_long {long!r} is another build")
            when = row.get("release_date", "")
            if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", when):
                raise _err(name, no, build, f"release_date {when!r} is not YYYY-MM[-DD]")
            key = normalise_build(build)
            if key in out:
                raise _err(name, no, build, f"duplicate build (first at {out[key].source})")
            out[key] = ExchangeBuild(
                product_line=line,
                release=release,
                build=key,
                date=when,
                base=m.group(1),
                update=(m.group(2) or "").strip(),
                official=official,
                note=row.get("date_precision", ""),
                source=Source(name, no),
            )
    return out


def _str(entry: dict[str, Any], key: str, file: str, ident: str, default: str = "") -> str:
    v = entry.get(key, default)
    if v is None:
        return default
    if not isinstance(v, str):
        raise _err(
            file,
            entry.get(_LINE_KEY),
            ident,
            (f"{key} must be a quoted string, got {v!r} (YAML reads 4.96 as a number)"),
        )
    return v


def _strs(entry: dict[str, Any], key: str, file: str, ident: str) -> tuple[str, ...]:
    v = entry.get(key) or []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(file, entry.get(_LINE_KEY), ident, f"{key} must be a list of quoted strings")
    return tuple(v)


def _date(entry: dict[str, Any], key: str, file: str, ident: str) -> date | None:
    v = entry.get(key)
    if v is None:
        return None
    if isinstance(v, date):
        return v
    raise _err(file, entry.get(_LINE_KEY), ident, f"{key} must be a date YYYY-MM-DD, got {v!r}")


_ADVISORY_KEYS = {
    "id", "product", "title", "published", "cvss", "cvss_source", "kev", "tags", "lines",
    "not_affected", "fixed", "fixed_from", "ranges", "disputed_fixed", "config",
    "config_detail", "requires", "attack", "backports", "mitigation", "remediation", "note",
    "source", "intro_unverified", "refs", _LINE_KEY,
}  # fmt: skip


class _At:
    """Where an advisory entry is, for its error messages."""

    def __init__(self, file: str, no: int, ident: str) -> None:
        self.file, self.no, self.ident = file, no, ident

    def err(self, what: str) -> KnowledgeError:
        return _err(self.file, self.no, self.ident, what)


def _kev(raw: dict[str, Any], at: _At) -> KevEntry | None:
    kev_raw = raw.get("kev")
    if kev_raw is None:
        return None
    if not isinstance(kev_raw, dict) or not isinstance(kev_raw.get("date_added"), date):
        raise at.err("kev must be {date_added: YYYY-MM-DD, ransomware: bool}")
    if not isinstance(kev_raw.get("ransomware", False), bool):
        raise at.err("kev.ransomware must be true or false")
    return KevEntry(kev_raw["date_added"], bool(kev_raw.get("ransomware", False)))


def _fixed_builds(raw: dict[str, Any], at: _At) -> tuple[FixedBuild, ...]:
    """Exchange's ``fixed``: the fixed build per CU line (four-part builds)."""
    fixed_raw = raw.get("fixed", [])
    if not isinstance(fixed_raw, list):
        raise at.err("fixed must be a list of builds")
    out: list[FixedBuild] = []
    for item in fixed_raw:
        fb = (
            FixedBuild(build=item)
            if isinstance(item, str)
            else FixedBuild(
                build=str(item.get("build", "")),
                also=str(item.get("also", "")),
                note=str(item.get("note", "")),
            )
            if isinstance(item, dict)
            else None
        )
        if fb is None or any(
            b and (build_parts(b) is None or len(build_parts(b) or ()) != 4)
            for b in (fb.build, fb.also)
        ):
            raise at.err(f"fixed build {item!r} is not a four-part build")
        out.append(fb)
    return tuple(out)


def _ranges(raw: dict[str, Any], scheme: Scheme, at: _At) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for r in raw.get("ranges") or []:
        if not isinstance(r, list) or len(r) != 2 or not all(isinstance(x, str) for x in r):
            raise at.err(f'range {r!r} must be ["introduced", "fixed"] strings')
        intro, fixed = r
        for v in (fixed,) if intro == "0" else (intro, fixed):
            if not scheme.parses(v):
                raise at.err(f"version {v!r} does not parse as {scheme.name}")
        if intro != "0" and scheme.compare(intro, fixed) >= 0:
            raise at.err(f"range {intro} .. {fixed} is empty")
        out.append((intro, fixed))
    return tuple(out)


def _requires(raw: dict[str, Any], at: _At) -> Requires:
    req_raw = raw.get("requires") or {}
    if not isinstance(req_raw, dict):
        raise at.err("requires must be a mapping")
    return Requires(
        ehlo=tuple(s.upper() for s in _strs(req_raw, "ehlo", at.file, at.ident)),
        auth=tuple(s.upper() for s in _strs(req_raw, "auth", at.file, at.ident)),
        starttls=bool(req_raw.get("starttls", False)),
    )


def _backports(raw: dict[str, Any], at: _At) -> tuple[Backport, ...]:
    out: list[Backport] = []
    for b in raw.get("backports") or []:
        if not isinstance(b, dict) or not isinstance(b.get("package"), str):
            raise at.err(f"backport {b!r} needs distro, release, package")
        out.append(
            Backport(
                distro=str(b.get("distro", "")),
                release=str(b.get("release", "")),
                package=b["package"],
                upstream=_str(b, "upstream", at.file, at.ident),
                advisory=str(b.get("advisory", "")),
            )
        )
    return tuple(out)


def _disputed(
    raw: dict[str, Any], scheme: Scheme, ranges: tuple[tuple[str, str], ...], at: _At
) -> tuple[str, ...]:
    """``disputed_fixed``: another source's earlier fix, one value per range, inside it."""
    value = raw.get("disputed_fixed")
    disputed = (
        _strs(raw, "disputed_fixed", at.file, at.ident)
        if isinstance(value, list)
        else ((_str(raw, "disputed_fixed", at.file, at.ident),) if value is not None else ())
    )
    for d in disputed:
        if not scheme.parses(d):
            raise at.err(f"disputed_fixed {d!r} does not parse")
        if not any(
            (i == "0" or scheme.compare(i, d) <= 0) and scheme.compare(d, f) < 0 for i, f in ranges
        ):
            raise at.err(f"disputed_fixed {d!r} lies in none of the ranges")
    return disputed


def _header(raw: Any, file: str, default_product: str, line_hint: int) -> tuple[_At, str]:
    """The entry's place, id and product, checked before anything else is read."""
    if not isinstance(raw, dict):
        raise _err(file, line_hint, "", "an advisory must be a mapping")
    no = int(raw.get(_LINE_KEY, line_hint))
    ident = raw.get("id")
    if not isinstance(ident, str) or not _CVE.match(ident):
        raise _err(file, no, str(ident), "id must be a CVE id (CVE-YYYY-NNNN)")
    at = _At(file, no, ident)
    unknown = set(raw) - _ADVISORY_KEYS
    if unknown:
        raise at.err(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    product = _str(raw, "product", file, ident, default_product)
    if not is_product(product) or product == "unknown":
        raise at.err(f"product {product!r} is not in the vocabulary")
    return at, product


def _advisory(raw: Any, file: str, default_product: str, line_hint: int) -> Advisory:
    at, product = _header(raw, file, default_product, line_hint)
    ident = at.ident
    scheme = scheme_for(product)
    cvss = raw.get("cvss")
    if cvss is not None and (not isinstance(cvss, int | float) or not 0 <= cvss <= 10):
        raise at.err(f"cvss must be a number 0-10, got {cvss!r}")
    kev = _kev(raw, at)
    lines = _strs(raw, "lines", file, ident)
    not_affected = _strs(raw, "not_affected", file, ident)
    for line in (*lines, *not_affected):
        if line not in _PRODUCT_LINES:
            raise at.err(f"unknown product line {line!r}")
    fixed_unknown = "fixed" in raw and raw["fixed"] is None
    exchange = product == "ms-exchange"
    fixed_builds = _fixed_builds(raw, at) if exchange and not fixed_unknown else ()
    fixed_from = _strs(raw, "fixed_from", file, ident)
    for b in fixed_from:
        if not EXCHANGE.parses(b):
            raise at.err(f"fixed_from {b!r} is not a build")
    ranges = _ranges(raw, scheme, at)
    if not exchange and not ranges and not fixed_unknown:
        raise at.err("needs ranges (or fixed: null when the fix is not known)")
    if exchange and not lines:
        raise at.err("needs lines (the affected product lines)")
    attack = _str(raw, "attack", file, ident, "remote")
    if attack not in ("remote", "local"):
        raise at.err(f"attack must be remote or local, got {attack!r}")
    tags = _strs(raw, "tags", file, ident)
    return Advisory(
        id=ident,
        product=product,
        title=_str(raw, "title", file, ident),
        source=Source(file, at.no),
        published=_date(raw, "published", file, ident),
        cvss=float(cvss) if cvss is not None else None,
        cvss_source=_str(raw, "cvss_source", file, ident, "NVD" if cvss is not None else ""),
        kev=kev,
        tags=tuple(dict.fromkeys((ident.lower(), *tags))),
        lines=lines,
        not_affected=not_affected,
        fixed_builds=fixed_builds,
        fixed_from=fixed_from,
        ranges=ranges,
        fixed_unknown=fixed_unknown,
        intro_unverified=bool(raw.get("intro_unverified", False)),
        disputed_fixed=_disputed(raw, scheme, ranges, at),
        config=_str(raw, "config", file, ident),
        config_detail=_str(raw, "config_detail", file, ident).strip(),
        requires=_requires(raw, at),
        attack=attack,
        backports=_backports(raw, at),
        mitigation=_str(raw, "mitigation", file, ident).strip(),
        remediation=_str(raw, "remediation", file, ident).strip(),
        note=_str(raw, "note", file, ident).strip(),
        refs=_strs(raw, "refs", file, ident),
        secondary=raw.get("source") == "secondary",
    )


def _load_advisories(
    data_dir: Path,
) -> tuple[
    list[Advisory], dict[str, tuple[Release, ...]], dict[str, str], dict[str, tuple[Baseline, ...]]
]:
    advisories: list[Advisory] = []
    releases: dict[str, tuple[Release, ...]] = {}
    newest: dict[str, str] = {}
    baselines: dict[str, tuple[Baseline, ...]] = {}
    seen: dict[str, Source] = {}
    for name in ADVISORY_FILES:
        doc = _read_yaml(data_dir / name)
        if not isinstance(doc, dict) or not isinstance(doc.get("advisories"), list):
            raise _err(name, 1, "", "needs a top-level advisories: list")
        product = doc.get("product", "")
        for raw in doc["advisories"]:
            adv = _advisory(raw, name, product, int(doc.get(_LINE_KEY, 1)))
            if adv.id in seen:
                raise _err(name, adv.source.line, adv.id, f"duplicate (first at {seen[adv.id]})")
            seen[adv.id] = adv.source
            advisories.append(adv)
        if "releases" in doc:
            scheme = scheme_for(product)
            rels: list[Release] = []
            for item in doc["releases"]:
                if (
                    not isinstance(item, list)
                    or len(item) != 2
                    or not isinstance(item[0], str)
                    or not scheme.parses(item[0])
                    or not (item[1] is None or isinstance(item[1], date))
                ):
                    raise _err(name, None, str(item), 'a release is ["version", YYYY-MM-DD|null]')
                rels.append(Release(item[0], item[1]))
            releases[product] = tuple(sorted(rels, key=lambda r: scheme.sort_key(r.version)))
            top = _str(doc, "newest", name, product)
            if top and not scheme.parses(top):
                raise _err(name, None, product, f"newest {top!r} does not parse")
            newest[product] = top or releases[product][-1].version
        bases: list[Baseline] = []
        for b in doc.get("distro_baselines") or []:
            if not isinstance(b, dict) or not isinstance(b.get("version"), str):
                raise _err(name, None, str(b), "a distro baseline needs a quoted version")
            until = b.get("until")
            if until is not None and not isinstance(until, date):
                raise _err(name, b.get(_LINE_KEY), b["version"], "until must be YYYY-MM-DD")
            bases.append(
                Baseline(
                    version=b["version"],
                    distro=str(b.get("distro", "")),
                    release=str(b.get("release", "")),
                    package=str(b.get("package", "")),
                    until=until,
                )
            )
        if bases:
            baselines[product] = tuple(bases)
    return advisories, releases, newest, baselines


def _load_lifecycles(data_dir: Path) -> dict[str, Lifecycle]:
    doc = _read_yaml(data_dir / LIFECYCLE_FILE)
    if not isinstance(doc, dict) or not isinstance(doc.get("products"), dict):
        raise _err(LIFECYCLE_FILE, 1, "", "needs a top-level products: mapping")
    out: dict[str, Lifecycle] = {}
    for product, spec in doc["products"].items():
        if product == _LINE_KEY:
            continue
        if not isinstance(spec, dict):
            raise _err(LIFECYCLE_FILE, None, str(product), "must be a mapping")
        no = spec.get(_LINE_KEY)
        if not is_product(product):
            raise _err(LIFECYCLE_FILE, no, product, "product is not in the vocabulary")
        lines: list[LifecycleLine] = []
        for item in spec.get("lines") or []:
            lno = item.get(_LINE_KEY) if isinstance(item, dict) else no
            if not isinstance(item, dict) or not isinstance(item.get("line"), str):
                raise _err(LIFECYCLE_FILE, lno, product, "a line needs line: and prefix:")
            prefix = item.get("prefix")
            if not isinstance(prefix, str):
                raise _err(LIFECYCLE_FILE, lno, item["line"], "prefix must be a quoted string")
            eol_date = item.get("eol_date")
            if eol_date is not None and not isinstance(eol_date, date):
                raise _err(LIFECYCLE_FILE, lno, item["line"], "eol_date must be YYYY-MM-DD")
            lines.append(
                LifecycleLine(
                    line=item["line"],
                    prefix=prefix,
                    eol=bool(item.get("eol", True)),
                    eol_date=eol_date,
                    below=str(item.get("below", "")),
                    note=str(item.get("note", "")),
                )
            )
        out[product] = Lifecycle(
            product=product,
            migrate_to=str(spec.get("migrate_to", "")),
            lines=tuple(lines),
            policy=str(spec.get("policy", "")),
        )
    return out


def _check_fixed_builds(advisories: list[Advisory], builds: dict[str, ExchangeBuild]) -> None:
    """Every fixed build of an Exchange advisory must be a build in the build list."""
    for adv in advisories:
        for fb in adv.fixed_builds:
            for b in (fb.build, fb.also):
                if b and normalise_build(b) not in builds:
                    raise _err(
                        adv.source.file,
                        adv.source.line,
                        adv.id,
                        (f"fixed build {b} is not in the Exchange build list"),
                    )
        for b in adv.fixed_from:
            if normalise_build(b) not in builds:
                raise _err(
                    adv.source.file,
                    adv.source.line,
                    adv.id,
                    (f"fixed_from {b} is not in the Exchange build list"),
                )


def load(data_dir: Path | None = None, kev: KevCatalog | None = None) -> KnowledgeBase:
    """Load every knowledge file of ``data_dir`` (default: the shipped data)."""
    d = data_dir or DATA_DIR
    builds = _load_builds(d)
    advisories, releases, newest, baselines = _load_advisories(d)
    _check_fixed_builds(advisories, builds)
    if kev is not None:
        advisories = [apply_kev(a, kev) for a in advisories]
    by_product: dict[str, list[Advisory]] = {}
    for a in advisories:
        by_product.setdefault(a.product, []).append(a)
    return KnowledgeBase(
        builds=builds,
        advisories=tuple(advisories),
        releases=releases,
        newest=newest,
        baselines=baselines,
        lifecycles=_load_lifecycles(d),
        as_of="2026.08.21",
        kev=kev,
        by_product={p: tuple(v) for p, v in by_product.items()},
    )


def apply_kev(adv: Advisory, kev: KevCatalog) -> Advisory:
    """The catalog's flags for ``adv``. A CVE missing from the catalog keeps the shipped flags:
    KEV entries are almost never withdrawn, and a partial file must not clear them."""
    entry = kev.entries.get(adv.id)
    if entry is None:
        return adv
    return replace(adv, kev=entry)
