from __future__ import annotations

from tests.report.conftest import fixture_db

__all__ = ["fixture_db"]
