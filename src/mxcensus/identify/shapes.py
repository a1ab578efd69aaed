"""Canonical forms of replies whose rules must not see host names, addresses or sizes.

A probe declares which form a rule field reads (``RuleField.shape`` in
:mod:`mxcensus.probes.interface`); :data:`SHAPES` maps that name to a pure function of the
reply text. Equal dialogues give equal text, so the per-field memo keeps hitting across a
census, and a rule cannot match a host name by accident.

``ehlo``: the EHLO reply as ``<hello form> | KW1 param / KW2 / ...`` —

- the hello form is the first line without its code: the server's own name (its first
  word) becomes ``{host}``, a bracketed address ``[{ip}]``, the name after ``Hello``
  (with a parenthesised HELO name after it) ``{helo}``;
- then every later line, code and separator dropped, in the order sent (case kept:
  Exchange 2003 sends ``8bitmime``), each number ``#`` (SIZE limits differ per site).

From Debian's Exim 4.96 (recorded): ``{host} Hello {helo} [{ip}] | SIZE # / 8BITMIME /
PIPELINING / PIPECONNECT / CHUNKING / STARTTLS / SMTPUTF8 / HELP``. A reply that is not a
2xx EHLO reply has no shape (``""``: no rule of the field can match it).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ADDRESS = re.compile(r"\[(?:IPv6:)?[0-9A-Fa-f:.]+\]")
_HELLO = re.compile(r"\b([Hh]ello) (?!\[)\S+?(?: \([^)]*\))?(?=,? |,$|$)")
_HELLO_PAREN = re.compile(r"\b([Hh]ello) \([^)]*\)(?= \[)")
_NUMBER = re.compile(r"\b\d+\b")


def ehlo_shape(text: str) -> str:
    """The canonical form of an EHLO reply (see the module docstring); "" for anything that
    is not a 2xx reply."""
    lines = [ln for ln in text.replace("\r", "").split("\n") if ln]
    if not lines or len(lines[0]) < 3 or lines[0][0] != "2" or not lines[0][:3].isdigit():
        return ""
    first = lines[0][4:].strip()
    host, _, rest = first.partition(" ")
    hello = "{host}" + (" " + rest if rest else "") if host else ""
    if "[" in hello:
        hello = _ADDRESS.sub("[{ip}]", hello)
    if "ello" in hello:
        hello = _HELLO_PAREN.sub(r"\1 {helo}", _HELLO.sub(r"\1 {helo}", hello))
    items = [ln[4:].strip() for ln in lines[1:]]
    listed = " / ".join(items)
    if any(c.isdigit() for c in listed):
        listed = _NUMBER.sub("#", listed)
    return f"{hello} | {listed}"


_DN_PART = re.compile(
    r"((?:^|(?<!\\),)(?:CN|emailAddress|1\.2\.840\.113549\.1\.9\.1)=)(?:\\.|[^,])*"
)


_DN_SPACE = re.compile(r"(?<!\\),\s+")


def dn_shape(text: str) -> str:
    """A certificate's subject or issuer (RFC 4514 text, any attribute order; Censys' ", "
    between attributes read as ",") with the names that differ per server -- CN and
    emailAddress values -- as ``*``: the default certificate a product makes names the host
    in its CN (``CN=*,O=Exim Developers,C=UK``)."""
    if "=" not in text:
        return ""
    return _DN_PART.sub(r"\1*", _DN_SPACE.sub(",", text.strip()))


SHAPES: dict[str, Callable[[str], str]] = {
    "ehlo": ehlo_shape,
    "dn": dn_shape,
}
"""shape name (as ``RuleField.shape`` names it) -> the function that makes it."""
