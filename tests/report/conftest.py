from __future__ import annotations

from pathlib import Path

import pytest

from tests.report import fixture_store


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture_store.build(tmp_path_factory.mktemp("store") / "fixture.duckdb")
