"""Access tokens of the web service: a JSON file beside the store (or ``--tokens FILE``)
holding, per token, its name, scope and the SHA-256 of its secret — never the secret,
which ``mxcensus token add`` prints once.

A token is 32 random bytes (``mxc_`` + URL-safe base64): far beyond guessing, so one
SHA-256 is the right hash (as GitHub and PyPI store theirs); a slow password hash would
only slow every request. The file is a file, not a table in the store, so tokens can be
added and removed while ``serve`` holds the store; the service reads it again when it
changes (:class:`TokenBook`). It is written whole to a temporary name and renamed, mode
0600.

An empty scope makes an admin token (every service; may upload imports and start a
reassessment); a scoped one sees only services inside any of its networks, ASNs or
countries.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from mxcensus.errors import MxcensusError, OutputError, UsageError
from mxcensus.web.census import Scope, parse_scope, scope_items

PREFIX = "mxc_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TokenFileError(MxcensusError):
    """A token file that cannot be read or written."""


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    digest: str  # SHA-256 of the secret, hex
    scope: tuple[str, ...]  # --scope items as given (CIDR, ASxxx, CC); () = admin
    created: str

    @property
    def admin(self) -> bool:
        return not self.scope

    def parsed_scope(self) -> Scope:
        return parse_scope(self.scope)


def default_path(db: Path) -> Path:
    """The token file beside the store: ``census.duckdb`` → ``census.duckdb.tokens.json``."""
    return db.with_name(db.name + ".tokens.json")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def read(path: Path) -> list[Token]:
    """The tokens of ``path`` ([] when it does not exist)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TokenFileError(f"{path}: cannot read the token file: {exc.strerror}") from exc
    try:
        doc = orjson.loads(data)
        tokens = [
            Token(t["name"], t["sha256"], tuple(t.get("scope", ())), t.get("created", ""))
            for t in doc["tokens"]
        ]
        for t in tokens:
            parse_scope(t.scope)
    except (orjson.JSONDecodeError, KeyError, TypeError, UsageError) as exc:
        raise TokenFileError(f"{path}: not an mxcensus token file ({exc})") from exc
    return tokens


def _write(path: Path, tokens: list[Token]) -> None:
    """The file whole or not at all (temporary name, then rename), readable by its owner
    only."""
    from mxcensus.output.files import atomic_file

    doc = {
        "tokens": [
            {"name": t.name, "sha256": t.digest, "scope": list(t.scope), "created": t.created}
            for t in tokens
        ]
    }
    try:
        with atomic_file(path) as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    except (UsageError, OutputError) as exc:
        raise TokenFileError(str(exc)) from exc
    os.chmod(path, 0o600)


def add(path: Path, name: str, scope: list[str]) -> tuple[Token, str]:
    """A new token named ``name``; returns it and its secret (shown once)."""
    if not NAME.match(name):
        raise UsageError(f"token add {name!r}: a name is 1-64 letters, digits, '.', '_' or '-'")
    parsed = parse_scope(scope)
    tokens = read(path)
    if any(t.name == name for t in tokens):
        raise UsageError(f"token add {name!r}: a token of that name exists (remove it first)")
    secret = PREFIX + secrets.token_urlsafe(32)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    token = Token(name, digest(secret), tuple(scope_items(parsed)), created)
    _write(path, [*tokens, token])
    return token, secret


def remove(path: Path, name: str) -> None:
    tokens = read(path)
    kept = [t for t in tokens if t.name != name]
    if len(kept) == len(tokens):
        raise UsageError(f"token remove {name!r}: no such token in {path}")
    _write(path, kept)


class TokenBook:
    """The token file as the service sees it: read again whenever its modification time
    or size changes (checked at most once a second), so ``token add/remove`` take effect
    without a restart. A file that turns unreadable keeps the last good tokens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._tokens: list[Token] = read(path)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def tokens(self, now: float) -> list[Token]:
        with self._lock:
            if now - self._checked >= 1.0:
                self._checked = now
                stamp = self._stat()
                if stamp != self._stamp:
                    with contextlib.suppress(TokenFileError):
                        self._tokens = read(self.path)
                    self._stamp = stamp
            return self._tokens

    def find(self, secret: str, now: float) -> Token | None:
        """The token whose secret this is, compared in constant time."""
        want = digest(secret)
        found = None
        for t in self.tokens(now):
            if hmac.compare_digest(t.digest, want):
                found = t
        return found
