"""The store the reliability tests start from."""

from __future__ import annotations

import random
from pathlib import Path

from mxcensus.importers import import_files
from mxcensus.store.db import Store
from tests.importers.test_shodan_columnar import realistic, write_lines
from tests.store.kill import State, state


def april_and_may(tmp: Path, seed: int, hosts: int) -> tuple[Path, Path, State]:
    """``tmp/base.duckdb`` holding the Shodan import "april" of ``hosts`` hosts (analysed,
    not enriched), a file "may" of twice as many other hosts to import into it, and the
    store's state."""
    path = tmp / "base.duckdb"
    april = write_lines(tmp / "april.json", realistic(random.Random(seed), hosts))
    may = write_lines(tmp / "may.json", realistic(random.Random(seed + 1), 2 * hosts, first=hosts))
    with Store.open(path) as store:
        import_files(store, "shodan", [april], name="april", enricher=None)
    return path, may, state(path)
