"""Serving: ``serve`` (the web dashboard and JSON API) and ``token add/list/remove``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mxcensus.bounds import Range
from mxcensus.cli.app import DbOption, GeoDbOption, app, command, group
from mxcensus.cli.options import bounded

PORT = Range(1, 65535)
TokensOption = Annotated[
    Path | None,
    typer.Option(
        "--tokens",
        metavar="FILE",
        help="Token file (default: beside the store, STORE.tokens.json).",
        show_default=False,
    ),
]


def _db(db: Path | None) -> Path:
    from mxcensus.store.db import default_db_path

    return db if db is not None else default_db_path()


@command(app)
def serve(
    db: DbOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback only with tokens.")
    ] = "127.0.0.1",
    port: Annotated[int, bounded("--port", bounds=PORT, help="TCP port.")] = 8080,
    tokens: TokensOption = None,
    geo_db: GeoDbOption = None,
    watches: Annotated[
        bool, typer.Option(help="Run the store's watches on their schedules.")
    ] = True,
) -> None:
    """Look at the census in a browser: a dashboard, a JSON API (/api/v1) and downloads.

    The service holds the store while it runs (imports, reassessments and watch runs go to
    it as background jobs); without tokens it answers on loopback only. Tokens: mxcensus
    token add NAME [--scope CIDR|ASN|COUNTRY ...].
    """
    from mxcensus.store.db import Store
    from mxcensus.web.server import ServeOptions, serve, url_of

    path = _db(db)
    if not path.exists():
        Store.open(path, read_only=True)  # the one-line "no such database" error
    options = ServeOptions(
        db=path, host=host, port=port, tokens=tokens, geo_db=tuple(geo_db or ()),
        watches=watches,
    )  # fmt: skip
    typer.echo(f"mxcensus serve: {url_of(options)} (store {path}; Ctrl-C stops)")
    serve(options)


token_app = group("Access tokens of mxcensus serve: each sees the census, or only its scope.")
app.add_typer(token_app, name="token")


@command(token_app, "add")
def token_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="CIDR|ASN|COUNTRY",
            help="Limit the token to services in these networks (192.0.2.0/24), ASNs "
            "(AS3320) or countries (DE); repeatable. Without it the token is admin.",
        ),
    ] = None,
    db: DbOption = None,
    tokens: TokensOption = None,
) -> None:
    """Make a token; its secret is printed once (only its hash is stored).

    Works while serve runs: the service reads the token file again when it changes.
    """
    from mxcensus.web import tokens as tf

    path = tokens or tf.default_path(_db(db))
    token, secret = tf.add(path, name, list(scope or ()))
    what = "scope " + ", ".join(token.scope) if token.scope else "admin (every service)"
    typer.echo(secret)
    typer.echo(f"token {token.name}: {what}; stored hashed in {path}", err=True)


@command(token_app, "list")
def token_list(db: DbOption = None, tokens: TokensOption = None) -> None:
    """The tokens: name, scope, when made (never the secret)."""
    from mxcensus.web import tokens as tf

    path = tokens or tf.default_path(_db(db))
    found = tf.read(path)
    if not found:
        typer.echo(f"no token in {path}")
    for t in found:
        typer.echo(f"{t.name}\t{', '.join(t.scope) or 'admin'}\t{t.created}")


@command(token_app, "remove")
def token_remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name.")],
    db: DbOption = None,
    tokens: TokensOption = None,
) -> None:
    """Revoke a token (a running service stops accepting it within a second)."""
    from mxcensus.web import tokens as tf

    path = tokens or tf.default_path(_db(db))
    tf.remove(path, name)
    typer.echo(f"token {name} removed from {path}")
