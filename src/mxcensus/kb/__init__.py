"""The knowledge base: Exchange builds, advisories, KEV flags, end-of-support dates, as data.

Public API:

- ``get() -> KnowledgeBase``: the shipped files plus the user's KEV catalog (cached);
- ``load(data_dir=None, kev=None) -> KnowledgeBase``: load and validate a directory of
  knowledge files; any error is a :class:`~mxcensus.errors.KnowledgeError` naming
  ``file:line: id: what``;
- ``exchange_build(build) -> ExchangeBuild | None``: a row of the build list;
- ``kev.update(path)``: install a newer CISA KEV catalog (``mxcensus kb update --kev``).
"""

from __future__ import annotations

from functools import lru_cache

from mxcensus.kb.kev import load_user_catalog, update, user_kev_path
from mxcensus.kb.loader import DATA_DIR, KnowledgeBase, load, normalise_build
from mxcensus.kb.records import Advisory, ExchangeBuild, KevCatalog


@lru_cache(maxsize=1)
def load_shipped() -> KnowledgeBase:
    return load()


@lru_cache(maxsize=1)
def get() -> KnowledgeBase:
    """The knowledge in force: shipped files, with the user's KEV catalog when installed."""
    kev = load_user_catalog()
    return load(kev=kev) if kev is not None else load_shipped()


def reset() -> None:
    """Forget cached knowledge (after ``kb update``, or in tests)."""
    load_shipped.cache_clear()
    get.cache_clear()


def exchange_build(build: str) -> ExchangeBuild | None:
    return get().builds.get(normalise_build(build))


__all__ = [
    "DATA_DIR", "Advisory", "ExchangeBuild", "KevCatalog", "KnowledgeBase", "exchange_build",
    "get", "load", "load_shipped", "load_user_catalog", "reset", "update", "user_kev_path",
]  # fmt: skip
