"""Fingerprint rules: YAML data files compiled once, validated at load, matched fast.

One file per observed field (``smtp_banner.yaml`` holds the rules for ``smtp.banner``); each
probe declares its fields and their files (``RuleField`` in ``mxcensus.probes.interface``)::

    field: smtp.banner
    rules:
      - id: exim-versioned
        keywords: [exim]                  # optional prefilter tokens (see below)
        pattern: '(?i)\\bexim\\s+(?P<version>\\d+\\.\\d+(?:[._][0-9a-z]+)*)'
        product: exim                     # closed vocabulary (mxcensus.vocabulary)
        vendor: exim                      # optional, defaults to the vocabulary's vendor
        version: '{version}'              # template over named groups, filters |lower |int |sp
        precision: version                # product, major, version, build3, build4
        cpe: 'cpe:2.3:a:exim:exim:{version}:*:*:*:*:*:*:*'
        distro: '{distro|lower}'          # optional
        note: '...'                       # optional, becomes Identification.reason
        examples:
          - input: '220 mx.example.org ESMTP Exim 4.96 Tue, 13 Aug 2024 10:00:00 +0000'
            version: '4.96'

Optional, for what the dialogue shows rather than states: ``confidence: low`` (or
``medium``) says how far a match alone can be trusted (a shape or a keyword order is weaker
than a banner naming the product; without it the precision decides, see
``model.CONFIDENCE``; a single field is never ``high`` on its own). A field with a list
shape (``smtp.ehlo-shape``: ``<head> | KW1 param / KW2 / ...``, see
:mod:`mxcensus.identify.shapes`) also takes three list keys, compiled with the pattern into
one regex (the pattern then matches the whole head, the text before `` | ``)::

    list-order: [SIZE, 8BITMIME, PIPELINING]  # only these items, in this order, any missing
    list-last: HELP                           # the list ends with this item
    list-has: [ENHANCEDSTATUSCODES]           # these items are present, in any order

An item matches its keyword followed by its parameters (``SIZE #``, ``AUTH PLAIN LOGIN``,
``AUTH=LOGIN``). Examples of a shaped field are the replies as received; the loader shapes
them as identify does.

Within a file the first matching rule wins, so specific rules come before generic ones.
Every named group must be used by a template and every template field must be a group
(recog's self-test); unnamed capturing groups are refused (write ``(?:...)``).

Speed: a rule's ``keywords`` are words (runs of ASCII letters) of which at least one
occurs as a whole word in every text the rule can match: write the pattern so that the
keyword is delimited (``\\b``, a space, punctuation). The text is cut into words once (one
C-level ``bytes.translate`` + ``split``), and only rules with a keyword among those words,
plus rules without keywords, are tried, in file order. Examples must contain a keyword
(checked at load) and a property test checks that the prefilter never changes the result.
Each candidate is then searched from its :class:`Hint` (a literal every match holds near its
start, read from the parsed pattern), or skipped when the hint is absent from the text.
Patterns are compiled with ``re.ASCII`` (banners are bytes; ``\\d`` means 0-9). The result
of a rule is cached by the matched text, so a pattern should match the telling part of a
banner, not the host name or the date.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from mxcensus.errors import RuleError
from mxcensus.identify.shapes import SHAPES
from mxcensus.model import CONFIDENCE, Evidence, Identification, Precision
from mxcensus.probes import TABLE
from mxcensus.vocabulary import PRODUCTS

RULES_DIR = Path(__file__).resolve().parent / "rules"

FIELDS: dict[str, str] = {f.file: f.name for f in TABLE.fields.values()}
"""Rule file -> the observed field its rules read (as the probes declare them)."""

MAX_TEXT = {f.name: f.max_text for f in TABLE.fields.values()}
"""Longest text a field's rules look at; anything beyond is ignored (default 8 KiB)."""
DEFAULT_MAX_TEXT = 8192

SHAPE_OF: dict[str, Callable[[str], str]] = {
    f.name: SHAPES[f.shape] for f in TABLE.fields.values() if f.shape
}
"""field -> the canonical form its rules read (fields that read the text itself are absent)."""

RULE_CONFIDENCE = ("low", "medium")
"""What a rule may declare: one field alone is never ``high`` (see :func:`single_field`)."""

_RULE_KEYS = frozenset(
    {
        "id",
        "pattern",
        "keywords",
        "product",
        "vendor",
        "version",
        "precision",
        "cpe",
        "distro",
        "note",
        "examples",
        "confidence",
        "list-order",
        "list-last",
        "list-has",
    }
)
_REQUIRED = ("id", "pattern", "product", "precision", "examples")
_EXAMPLE_KEYS = frozenset({"input", "product", "vendor", "version", "precision", "cpe", "distro"})
_TEMPLATE_KEYS = ("version", "cpe", "distro", "note")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_KEYWORD_RE = re.compile(r"^[a-z]+$")
_WORDS = bytes((c | 0x20) if (0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A) else 0x20 for c in range(256))


def words(text: str) -> list[bytes]:
    """The lower-case ASCII letter runs of a text (what keywords are looked up in); digits
    separate words too, so dates, addresses and versions add no words."""
    return text.encode("ascii", "replace").translate(_WORDS).split()


_FIELD_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([a-z]+))?\}")


def _strip_zeros(s: str) -> str:
    return str(int(s)) if s.isdigit() else s


def _spaced(s: str) -> str:
    return " " + s


_FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "int": _strip_zeros,
    "sp": _spaced,  # a space before a part that is there ("{fp}{hf|sp}": "9.0.1FP8 HF475")
}
_LINE = "__line__"
_EVIDENCE_MAX = 160
_CACHE_TEXT_MAX = 256  # longer matches (HTML spans) are not worth keeping
_CACHE_ENTRIES = 4096  # per rule; cleared when full
_PLAN_ENTRIES = 4096  # remembered keyword sets per field


class _LineLoader(yaml.SafeLoader):
    """A safe loader that records the line of every mapping under ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[_LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


_LEADING_WORD = re.compile(r"\\b([A-Za-z0-9][A-Za-z0-9 ]{2,})")


def accelerate(pattern: str) -> str:
    """The same regex, faster to search: ``\\bLiteral rest`` becomes
    ``Literal(?<=\\bLiteral)rest``. A leading ``\\b`` hides the literal from ``re``'s
    prefix scan; after the rewrite ``re`` skips straight to each occurrence of the literal
    and the look-behind keeps the word boundary. Other patterns are returned unchanged."""
    m = _LEADING_WORD.match(pattern)
    if m is None:
        return pattern
    literal = m.group(1)
    rest = pattern[m.end() :]
    if rest[:1] in ("?", "*", "+", "{"):  # the quantifier binds to the literal's last char
        literal, rest = literal[:-1], literal[-1] + rest
    if len(literal) < 3:
        return pattern
    return f"{literal}(?<=\\b{literal}){rest}"


_sre_parser: Any = importlib.import_module("re._parser")  # no stubs; in CPython since 3.11
_sre: Any = importlib.import_module("re._constants")
UNBOUNDED = 1 << 62
"""A hint's lead when the width before it has no bound (``at - lead`` stays a valid
negative start position, which ``re`` takes as 0)."""
_HINT_LETTERS = 3  # a hint must hold this many letters to be worth looking up


class Hint(NamedTuple):
    """Literal characters every match of a pattern holds at a bounded distance from its
    start: ``text`` as the prefilter's ``translate`` maps them (ASCII letters lower-cased,
    everything else a space, so it is looked up in the text's mapped letters, which have
    the text's length) and ``lead``, the most characters a match can have before them.

    For ``(?i)\\bexim\\)?\\s+...`` it is ``(b"exim", 0)``; for ``(?i)(?:^|[\\s(])Postfix\\b``
    it is ``(b"postfix", 1)``. No match can start before the hint's first occurrence minus
    ``lead``: the matcher searches from there, or skips the rule when the hint is absent.
    A hint after an unbounded part (``lead`` is :data:`UNBOUNDED`) still tells that the
    rule cannot match when it is absent."""

    text: bytes = b""
    lead: int = 0


NO_HINT = Hint()


def _mandatory(items: Any) -> Iterator[tuple[Any, Any]]:
    """The items every match passes through in order, groups inlined."""
    for op, av in items:
        if op is _sre.SUBPATTERN:
            yield from _mandatory(av[-1].data)
        elif op is _sre.ATOMIC_GROUP:
            yield from _mandatory(av.data)
        else:
            yield op, av


def _mapped(code: int) -> int:
    """A required character as ``translate`` sees it in the text: with ``re.ASCII`` and
    IGNORECASE a letter matches only its ASCII case pair; any other character only itself
    (a non-ASCII one is encoded as ``?``): both become a space."""
    return _WORDS[code] if code < 128 else 0x20


def hint_of(pattern: str) -> Hint:
    """The :class:`Hint` of a pattern (compiled with ``re.ASCII``, as rules are), read from
    the parsed pattern: the first run of literal characters in the mandatory sequence
    (groups inlined; alternatives, repeats and assertions end a run) with at least three
    letters; ``Hint()`` when there is none."""
    try:
        parsed = _sre_parser.parse(pattern, re.ASCII)
    except re.error:
        return Hint()
    run: list[int] = []
    run_lead = hi = 0
    for op, av in [*_mandatory(parsed.data), (None, None)]:
        if op is _sre.LITERAL:
            if not run:
                run_lead = hi
            run.append(_mapped(av))
            hi += 1
            continue
        if sum(0x61 <= c <= 0x7A for c in run) >= _HINT_LETTERS:
            return Hint(bytes(run), run_lead)
        run = []
        if op is None:
            break
        hi = min(hi + _sre_parser.SubPattern(parsed.state, [(op, av)]).getwidth()[1], UNBOUNDED)
    return Hint()


class Template:
    """``{group}`` / ``{group|filter}`` over a match's named groups; absent groups give ''."""

    __slots__ = ("fields", "parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[tuple[str, str | None, str | None]] = []
        pos = 0
        for m in _FIELD_RE.finditer(text):
            parts.append((text[pos : m.start()], None, None))
            parts.append(("", m.group(1), m.group(2)))
            pos = m.end()
        parts.append((text[pos:], None, None))
        self.parts = tuple(p for p in parts if p[0] or p[1])
        self.fields = frozenset(p[1] for p in parts if p[1])
        rest = _FIELD_RE.sub("", text)
        if "{" in rest or "}" in rest:
            raise ValueError(f"malformed template {text!r}")
        for _, _, flt in parts:
            if flt is not None and flt not in _FILTERS:
                raise ValueError(f"unknown template filter {flt!r} in {text!r}")

    def render(self, groups: dict[str, str | Any], empty: str = "") -> str:
        """Fill in the groups; a group that did not take part gives ``empty``."""
        out = []
        for literal, name, flt in self.parts:
            if name is None:
                out.append(literal)
                continue
            value = groups.get(name) or empty
            out.append(_FILTERS[flt](value) if flt and value else value)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Example:
    input: str
    expected: dict[str, str]
    line: int


@dataclass(slots=True)
class Rule:
    """One compiled rule; ``address`` is ``file#id`` as evidence and errors show it."""

    id: str
    file: str
    line: int
    field: str
    regex: re.Pattern[str]
    written: str  # the pattern as written in the file (regex may be its accelerated form)
    product: str
    vendor: str
    precision: Precision
    keywords: tuple[str, ...]
    templates: dict[str, Template]
    examples: tuple[Example, ...]
    hint: Hint = NO_HINT  # a literal near the start of every match, see Hint
    confidence: str = ""  # what a match alone is worth (see single_field)
    _cache: dict[str, Identification] = dc_field(default_factory=dict, repr=False)
    _rendered: dict[tuple[str | Any, ...], tuple[str, str, str, str]] = dc_field(
        default_factory=dict, repr=False
    )  # group values -> (version, cpe, distro, note): matches that differ elsewhere

    @property
    def address(self) -> str:
        return f"{self.file}#{self.id}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}#{self.id}"

    def build(self, m: re.Match[str], evidence_field: str) -> Identification:
        """The identification for a match (cached by matched text and field; the rendered
        templates by the groups' values, for matches that hold a host name or a date)."""
        matched = m.group(0)
        key = matched if evidence_field == self.field else evidence_field + "\0" + matched
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        values = m.groups()  # the templates depend on the groups only, not on the rest
        rendered = self._rendered.get(values)
        if rendered is None:
            groups = m.groupdict()
            t = self.templates
            rendered = (
                t["version"].render(groups) if "version" in t else "",
                t["cpe"].render(groups, empty="*") if "cpe" in t else "",
                t["distro"].render(groups) if "distro" in t else "",
                t["note"].render(groups) if "note" in t else "",
            )
            if len(self._rendered) >= _CACHE_ENTRIES:
                self._rendered.clear()
            self._rendered[values] = rendered
        version, cpe, distro, reason = rendered
        confidence = self.confidence or single_field(self.precision)
        evidence = Evidence(
            evidence_field,
            self.address,
            _shorten(matched),
            product=self.product,
            version=version,
            precision=self.precision,
            confidence=confidence or CONFIDENCE[self.precision],
        )
        ident = Identification(
            product=self.product,
            vendor=self.vendor,
            version=version,
            precision=self.precision,
            cpe=cpe,
            distro=distro,
            evidence=(evidence,),
            reason=reason,
            confidence=confidence,
        )
        if len(matched) <= _CACHE_TEXT_MAX:
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = ident
        return ident


def single_field(precision: Precision) -> str:
    """The confidence of one field's statement on its own: what its precision says, but never
    ``high`` (a full build seen in one place only could be forged or stale; ``combine`` gives
    ``high`` back when a second field agrees). "" when the precision says it already."""
    return "medium" if CONFIDENCE.get(precision) == "high" else ""


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EVIDENCE_MAX else text[: _EVIDENCE_MAX - 1] + "…"


_Step = tuple[
    Callable[[str, int], "re.Match[str] | None"], dict[str, Identification], Rule, bytes, int
]


class RuleSet:
    """The compiled rules of one field, in file order, with the keyword prefilter."""

    def __init__(self, field_name: str, rules: list[Rule]) -> None:
        self.field = field_name
        self.rules = tuple(rules)
        self.max_text = MAX_TEXT.get(field_name, DEFAULT_MAX_TEXT)
        self.shape = SHAPE_OF.get(field_name)
        """The canonical form this field's rules read (None: the text as received). ``own``
        takes the text already in that form; every other method shapes what it is given."""
        self._keywords = frozenset(k.encode() for r in rules for k in r.keywords)
        self._always = tuple(r for r in rules if not r.keywords)
        self._by_found: dict[frozenset[bytes], tuple[Rule, ...]] = {frozenset(): self._always}
        self._plans: dict[frozenset[bytes], tuple[_Step, ...]] = {}
        self.own = self._own_matcher()
        """``match(text)`` for this ruleset's own field, as one closure (the hot path)."""

    def _found(self, text: str) -> frozenset[bytes]:
        return self._keywords.intersection(words(text))

    def read(self, text: str) -> str:
        """``text`` as this field's rules read it (its shape, when the field has one)."""
        return text if self.shape is None else self.shape(text)

    def candidates(self, text: str) -> tuple[Rule, ...]:
        """The rules that can match ``text``, in file order (the keyword prefilter)."""
        return self._candidates(self._found(self.read(text)))

    def _candidates(self, found: frozenset[bytes]) -> tuple[Rule, ...]:
        cands = self._by_found.get(found)
        if cands is None:
            cands = tuple(
                r
                for r in self.rules
                if not r.keywords or any(k.encode() in found for k in r.keywords)
            )
            if len(self._by_found) < _PLAN_ENTRIES:
                self._by_found[found] = cands
        return cands

    def _plan(self, found: frozenset[bytes]) -> tuple[_Step, ...]:
        """The candidates for a set of found keywords as (search, cache, rule, hint text,
        hint lead) steps."""
        plan = tuple(
            (r.regex.search, r._cache, r, r.hint.text, r.hint.lead) for r in self._candidates(found)
        )
        if len(self._plans) < _PLAN_ENTRIES:
            self._plans[found] = plan
        return plan

    def _own_matcher(self) -> Callable[[str], Identification | None]:
        """:meth:`match` for the ruleset's own field with everything bound as locals: the
        prefilter (one ``encode``/``translate``/``split``, one set intersection, one dict
        lookup), then the candidates' regexes in file order (each from its :class:`Hint`),
        then the rule's cache."""
        max_text = self.max_text
        found_in = self._keywords.intersection
        plans = self._plans.get
        plan_for = self._plan
        table = _WORDS
        field_name = self.field

        def match(text: str) -> Identification | None:
            if len(text) > max_text:
                text = text[:max_text]
            letters = text.encode("ascii", "replace").translate(table)
            found = found_in(letters.split())
            plan = plans(found)
            if plan is None:
                plan = plan_for(found)
            for search, cache, rule, hint, lead in plan:
                if hint:
                    at = letters.find(hint)
                    if at < 0:
                        continue
                    m = search(text, at - lead)  # (a negative start is 0)
                else:
                    m = search(text, 0)
                if m is not None:
                    hit = cache.get(m[0])
                    return hit if hit is not None else rule.build(m, field_name)
            return None

        return match

    def match(self, text: str, evidence_field: str | None = None) -> Identification | None:
        """The identification by the first rule (in file order) that matches, or None."""
        text = self.read(text)
        if evidence_field is None or evidence_field == self.field:
            return self.own(text)
        if len(text) > self.max_text:
            text = text[: self.max_text]
        for rule in self._candidates(self._found(text)):
            m = rule.regex.search(text)
            if m is not None:
                return rule.build(m, evidence_field)
        return None

    def first_rule_slow(self, text: str) -> Rule | None:
        """Reference matcher without the prefilter (the self-test compares both)."""
        text = self.read(text)
        if len(text) > self.max_text:
            text = text[: self.max_text]
        for rule in self.rules:
            if rule.regex.search(text):
                return rule
        return None

    def first_rule(self, text: str) -> Rule | None:
        text = self.read(text)
        if len(text) > self.max_text:
            text = text[: self.max_text]
        for rule in self._candidates(self._found(text)):
            if rule.regex.search(text):
                return rule
        return None


@dataclass
class FileReport:
    """What loading one rule file found: its rules and every problem, each with its address."""

    file: str
    field: str = ""
    rules: list[Rule] = dc_field(default_factory=list)
    errors: list[str] = dc_field(default_factory=list)

    @property
    def examples(self) -> int:
        return sum(len(r.examples) for r in self.rules)


def _err(report: FileReport, line: int, rid: str, msg: str) -> None:
    where = f"{report.file}:{line}" + (f"#{rid}" if rid else "")
    report.errors.append(f"{where}: {msg}")


def load_file(path: Path) -> FileReport:
    """Compile one rule file; never raises for bad content, collects every problem."""
    report = FileReport(file=path.name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _err(report, 0, "", f"cannot read: {exc}")
        return report
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        # a ReaderError (a control character) has a reason and a multi-line str: one line
        problem = (
            getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        ).splitlines()[0]
        _err(report, line, "", f"malformed YAML: {problem}")
        return report
    if not isinstance(doc, dict):
        _err(report, 1, "", "expected a mapping with 'field' and 'rules'")
        return report
    expected_field = FIELDS.get(path.name)
    fname = doc.get("field")
    if expected_field is None:
        _err(report, 1, "", f"unknown rule file (known: {', '.join(sorted(FIELDS))})")
        return report
    if fname != expected_field:
        _err(report, 1, "", f"field must be {expected_field!r}, not {fname!r}")
        return report
    report.field = expected_field
    unknown_top = set(doc) - {"field", "rules", _LINE}
    if unknown_top:
        _err(report, 1, "", f"unknown key(s) {', '.join(sorted(map(str, unknown_top)))}")
    items = doc.get("rules")
    if not isinstance(items, list):
        _err(report, 1, "", "'rules' must be a list")
        return report
    seen: dict[str, int] = {}
    for item in items:
        rule = _compile_rule(report, item, expected_field)
        if rule is None:
            continue
        if rule.id in seen:
            _err(report, rule.line, rule.id, f"duplicate id (first at line {seen[rule.id]})")
            continue
        seen[rule.id] = rule.line
        report.rules.append(rule)
    if not report.errors:
        _check_examples(report)
    return report


class _Bad(Exception):
    """One problem of a rule entry; :func:`_compile_rule` reports it at the rule's line."""


def _header_ok(report: FileReport, item: dict[Any, Any], line: int, rid_s: str) -> bool:
    """No unknown and no missing field (each reported)."""
    before = len(report.errors)
    unknown = sorted(str(k) for k in item if k not in _RULE_KEYS and k != _LINE)
    if unknown:
        _err(report, line, rid_s, f"unknown field(s) {', '.join(repr(k) for k in unknown)}")
    for key in _REQUIRED:
        if key not in item:
            _err(report, line, rid_s, f"missing field {key!r}")
    return len(report.errors) == before


def _what(item: dict[Any, Any]) -> tuple[str, str, Precision, str]:
    """Product, vendor, precision and confidence, checked."""
    product = item["product"]
    if not isinstance(product, str) or product not in PRODUCTS or product == "unknown":
        raise _Bad(f"unknown product {product!r}")
    vendor = item.get("vendor", PRODUCTS[product].vendor)
    if not isinstance(vendor, str) or not vendor:
        raise _Bad(f"bad vendor {vendor!r}")
    try:
        precision = Precision.from_label(str(item["precision"]))
    except ValueError:
        raise _Bad(f"unknown precision {item['precision']!r}") from None
    if precision is Precision.NONE:
        raise _Bad("precision 'none' is for unknowns, not rules")
    confidence = item.get("confidence", "")
    if confidence and confidence not in RULE_CONFIDENCE:
        raise _Bad(f"confidence must be one of {', '.join(RULE_CONFIDENCE)}")
    return product, vendor, precision, confidence


def _pattern(item: dict[Any, Any], fname: str) -> tuple[str, re.Pattern[str]]:
    """The pattern as written (list keys compiled in) and its regex (accelerated)."""
    pattern = item["pattern"]
    if not isinstance(pattern, str) or not pattern:
        raise _Bad("pattern must be a non-empty string")
    if any(k in item for k in _LIST_KEYS):
        if fname not in SHAPE_OF:
            raise _Bad(f"list keys need a field with a list shape, not {fname}")
        try:
            pattern = with_list(pattern, item)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    try:
        regex = re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise _Bad(f"bad regex: {exc}") from None
    fast = accelerate(pattern)
    if fast != pattern:
        regex = re.compile(fast, re.ASCII)
    if regex.groups != len(regex.groupindex):
        raise _Bad("unnamed capturing group: use (?:...) or (?P<name>...)")
    return pattern, regex


def _templates(item: dict[Any, Any], named: set[str], precision: Precision) -> dict[str, Template]:
    """The templates, each over existing groups, every group used, a version iff the
    precision needs one."""
    templates: dict[str, Template] = {}
    for key in _TEMPLATE_KEYS:
        if key not in item:
            continue
        value = item[key]
        if not isinstance(value, str):
            raise _Bad(f"{key} must be a string template")
        try:
            templates[key] = Template(value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    used: set[str] = set()
    for key, tpl in templates.items():
        missing = tpl.fields - named
        if missing:
            raise _Bad(f"{key} template uses {', '.join(sorted(missing))} with no such group")
        used |= tpl.fields
    unused = named - used
    if unused:
        raise _Bad(f"capture group(s) {', '.join(sorted(unused))} not used")
    if precision >= Precision.MAJOR and "version" not in templates:
        raise _Bad(f"precision {precision.label} needs a version template")
    if precision == Precision.PRODUCT and "version" in templates:
        raise _Bad("precision product cannot have a version")
    return templates


def _compile_rule(report: FileReport, item: Any, fname: str) -> Rule | None:
    if not isinstance(item, dict):
        _err(report, 0, "", f"a rule must be a mapping, not {type(item).__name__}")
        return None
    line = int(item.get(_LINE, 0))
    rid = item.get("id")
    rid_s = str(rid) if rid is not None else ""
    if not _header_ok(report, item, line, rid_s):
        return None
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        _err(report, line, rid_s, "id must be lower-case letters, digits and '-'")
        return None
    try:
        product, vendor, precision, confidence = _what(item)
        pattern, regex = _pattern(item, fname)
        templates = _templates(item, set(regex.groupindex), precision)
        keywords = item.get("keywords", [])
        if not isinstance(keywords, list) or not all(
            isinstance(k, str) and _KEYWORD_RE.match(k) for k in keywords
        ):
            raise _Bad("keywords must be a list of lower-case words ([a-z]+)")
    except _Bad as exc:
        _err(report, line, rid, str(exc))
        return None
    examples = _examples(report, item["examples"], line, rid, templates)
    if examples is None:
        return None
    return Rule(
        id=rid,
        file=report.file,
        line=line,
        field=fname,
        regex=regex,
        written=pattern,  # with the list keys compiled in
        product=product,
        vendor=vendor,
        precision=precision,
        keywords=tuple(keywords),
        templates=templates,
        examples=tuple(examples),
        hint=hint_of(pattern),
        confidence=confidence,
    )


_LIST_KEYS = ("list-order", "list-last", "list-has")


def _item(keyword: str) -> str:
    """One list item: the keyword, then its parameters (``SIZE #``, ``AUTH PLAIN``); a
    keyword ending in ``=`` takes what follows it (``AUTH=`` is ``AUTH=LOGIN PLAIN``)."""
    if keyword.endswith("="):
        return re.escape(keyword) + r"[^/]*"
    return re.escape(keyword) + r"(?:[ =][^/]*)?"


def with_list(pattern: str, item: dict[str, Any]) -> str:
    """The rule's regex with its list keys: ``pattern`` matches the head, then `` | `` and
    the list as ``list-order`` / ``list-last`` / ``list-has`` describe it (ValueError for a
    key of the wrong type)."""
    order, last, has = item.get("list-order"), item.get("list-last"), item.get("list-has", [])
    for key, value in (("list-order", order), ("list-has", has)):
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(k, str) and k for k in value)
        ):
            raise ValueError(f"{key} must be a list of keywords")
    if last is not None and (not isinstance(last, str) or not last):
        raise ValueError("list-last must be one keyword")
    out = f"(?:{pattern}) \\| "
    for k in has:
        out += f"(?=(?:[^|]* / )?{_item(k)}(?: / |$))"
    if order is not None:
        if last is not None:
            body = "".join(f"(?:{_item(k)} / )?" for k in order) + _item(last)
        else:
            body = "(?=.)" + "".join(f"(?:{_item(k)}(?: / (?=.)|$))?" for k in order)
        out += body + "$"
    elif last is not None:
        out += f"(?:[^|]* / )?{_item(last)}$"
    return out


def _examples(
    report: FileReport, raw: Any, line: int, rid: str, templates: dict[str, Template]
) -> list[Example] | None:
    if not isinstance(raw, list) or not raw:
        _err(report, line, rid, "examples must be a non-empty list")
        return None
    out = []
    for ex in raw:
        if not isinstance(ex, dict) or not isinstance(ex.get("input"), str):
            _err(report, line, rid, "each example needs an 'input' string")
            return None
        eline = int(ex.get(_LINE, line))
        unknown = sorted(str(k) for k in ex if k not in _EXAMPLE_KEYS and k != _LINE)
        if unknown:
            _err(report, eline, rid, f"example has unknown field(s) {', '.join(unknown)}")
            return None
        expected = {str(k): str(v) for k, v in ex.items() if k not in ("input", _LINE)}
        if "version" in templates and templates["version"].fields and "version" not in expected:
            _err(report, eline, rid, "example must state the expected version")
            return None
        out.append(Example(input=ex["input"], expected=expected, line=eline))
    return out


def example_problems(ruleset: RuleSet, rule: Rule, ex: Example) -> list[str]:
    """Why an example fails its rule (empty when it passes): matched first, fields equal."""
    problems = []
    text = ruleset.read(ex.input)
    first = ruleset.first_rule_slow(ex.input)
    if first is None:
        return [f"example does not match: {text!r}"]
    if first is not rule:
        if not rule.regex.search(text[: ruleset.max_text]):
            return [f"example does not match (it matches {first.address}): {text!r}"]
        return [f"example is claimed first by earlier rule {first.address}: {text!r}"]
    if ruleset.first_rule(ex.input) is not rule:
        problems.append(f"keyword prefilter misses the example (keywords {list(rule.keywords)})")
    m = rule.regex.search(text[: ruleset.max_text])
    assert m is not None
    ident = rule.build(m, ruleset.field)
    got = {
        "product": ident.product,
        "vendor": ident.vendor,
        "version": ident.version,
        "precision": ident.precision.label,
        "cpe": ident.cpe,
        "distro": ident.distro,
    }
    for key, want in ex.expected.items():
        if got[key] != want:
            problems.append(f"{key} is {got[key]!r}, expected {want!r} for {text!r}")
    return problems


def _check_examples(report: FileReport) -> None:
    ruleset = RuleSet(report.field, report.rules)
    for rule in report.rules:
        for ex in rule.examples:
            for problem in example_problems(ruleset, rule, ex):
                _err(report, ex.line, rule.id, problem)


def load_reports(directory: Path = RULES_DIR) -> list[FileReport]:
    """Load every ``*.yaml`` in ``directory``: one report per file, in name order."""
    files = sorted(directory.glob("*.yaml"))
    reports = [load_file(p) for p in files]
    present = {p.name for p in files}
    for name in sorted(set(FIELDS) - present):
        r = FileReport(file=name)
        _err(r, 0, "", "rule file missing")
        reports.append(r)
    return reports


def load_rulesets(directory: Path = RULES_DIR) -> dict[str, RuleSet]:
    """Compile all rule files; the first problem raises :class:`RuleError` with its address."""
    reports = load_reports(directory)
    return rulesets_from(reports)


def rulesets_from(reports: Iterable[FileReport]) -> dict[str, RuleSet]:
    out: dict[str, RuleSet] = {}
    for r in reports:
        if r.errors:
            extra = f" (and {len(r.errors) - 1} more)" if len(r.errors) > 1 else ""
            raise RuleError(r.errors[0] + extra)
        out[r.field] = RuleSet(r.field, r.rules)
    return out
