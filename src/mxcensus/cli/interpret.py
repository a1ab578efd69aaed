"""Interpreting: ``identify``, ``explain``, ``rules check``, ``kb update``, ``kb list``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mxcensus.cli.app import DbOption, ScanOption, app, command, group
from mxcensus.errors import MxcensusError, UsageError

rules_app = group("Fingerprint rules: validate the rule files.")
kb_app = group("The knowledge base: list advisories, load newer data files.")
app.add_typer(rules_app, name="rules")
app.add_typer(kb_app, name="kb")


IdentifyFormat = Annotated[
    str | None,
    typer.Option("--format", help="text or json (JSONL) [default: text on a terminal, else json]."),
]


@command(app)
def identify(
    protocol: Annotated[
        str | None,
        typer.Option(
            help="What the banners are: one of {protocols} [default: each line's "
            'from its shape: HTTP/…, * OK, +OK, "IMPLEMENTATION", 220 …].'
        ),
    ] = None,
    fmt: IdentifyFormat = None,
) -> None:
    """Identify raw banners, one per stdin line (\\r\\n escapes allowed): product, version,
    precision, the worst verdicts and end of support.

    Readable on a terminal, one JSON object per line (the full record: evidence, every CVE,
    remediation) with --format json or when stdout is not a terminal. An HTTP line starting
    HTTP/ is read as a whole response: its headers (X-OWA-Version …) and body.
    """
    import orjson

    from mxcensus.banners import assessment_adder
    from mxcensus.cli.render import identify_text
    from mxcensus.identify.engine import decode
    from mxcensus.identify.lines import identifier, identify_lines
    from mxcensus.text import json_safe

    if protocol is not None:
        identifier(protocol)  # a bad --protocol fails before reading stdin
    if fmt not in (None, "text", "json"):
        raise UsageError(f"--format {fmt!r}: identify writes text or json")
    text = fmt == "text" or (fmt is None and sys.stdout.isatty())
    lines = (decode(raw) for raw in sys.stdin.buffer)
    out = sys.stdout.buffer
    for record in identify_lines(lines, protocol, extend=assessment_adder()):
        out.write(
            identify_text(record).encode() if text else json_safe(orjson.dumps(record)) + b"\n"
        )
        out.flush()


@command(app)
def explain(
    target: Annotated[str, typer.Argument(metavar="IP[:PORT]")],
    scan_ref: ScanOption = None,
    db: DbOption = None,
) -> None:
    """Show the evidence chain: what was seen, which rule, which knowledge row, why.

    Without --scan, the newest scan that saw the address is used. Identification and
    assessment are re-run with the current rules and knowledge.
    """
    from mxcensus.explain import explain as explain_chain
    from mxcensus.store.db import Store

    with Store.open(db, read_only=True) as store:
        lines = explain_chain(store, target, scan_ref)
    typer.echo("\n".join(lines).rstrip())


@command(rules_app, "check")
def rules_check(
    rules_dir: Annotated[
        Path | None,
        typer.Option("--dir", help="Check the rule files in DIR instead of the packaged ones."),
    ] = None,
) -> None:
    """Load every rule file and run every example."""
    from mxcensus.identify.rules import RULES_DIR, load_reports

    if rules_dir is not None and not rules_dir.is_dir():
        raise UsageError(f"rules check: {rules_dir} is not a directory")
    failed = 0
    for report in load_reports(rules_dir or RULES_DIR):
        if report.errors:
            failed += len(report.errors)
            typer.echo(f"{report.file}: FAIL ({len(report.errors)} problem(s))")
            for problem in report.errors:
                typer.echo(f"  {problem}")
        else:
            typer.echo(
                f"{report.file}: ok ({report.field}, {len(report.rules)} rules, "
                f"{report.examples} examples)"
            )
    if failed:
        raise MxcensusError(f"rules check: {failed} problem(s) in the rule files")


@command(kb_app, "update")
def kb_update(
    kev: Annotated[Path, typer.Option("--kev", help="A CISA KEV catalog JSON file.")],
) -> None:
    """Load a newer CISA KEV catalog without a release.

    The catalog (CISA's JSON: catalogVersion, vulnerabilities[] with cveID, dateAdded,
    knownRansomwareCampaignUse) is validated and kept in the user data directory
    (MXCENSUS_DATA_DIR overrides it); its KEV flags then replace the shipped ones.
    """
    from mxcensus.kb import kev as kevmod

    result = kevmod.update(kev)
    typer.echo(f"KEV catalog {result.version}: {result.entries} entries installed at {result.path}")
    if result.changed:
        typer.echo(f"KEV flags changed for: {', '.join(result.changed)}")
    if result.missing:
        typer.echo(
            f"{len(result.missing)} CVEs marked KEV in the shipped knowledge are not in this "
            "catalog; they stay marked."
        )


@command(kb_app, "list")
def kb_list(
    product: Annotated[
        str, typer.Option("--product", help="Only this product (zimbra, postfix, …).")
    ] = "",
    cve: Annotated[str, typer.Option("--cve", help="Only this CVE id.")] = "",
) -> None:
    """List the advisories in force: KEV flags, what is affected and fixed, sources."""
    from mxcensus import kb as kbase
    from mxcensus.kb.listing import describe, select

    for adv in select(kbase.get(), product=product, cve=cve):
        typer.echo("\n".join(describe(adv)))
