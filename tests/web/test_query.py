"""The request's filter parameters: :class:`Params` declares them once; ``filter_params``
is what FastAPI calls with them (the service's tests send them over HTTP)."""

from __future__ import annotations

import inspect
from dataclasses import fields
from datetime import UTC, datetime
from typing import get_args

from mxcensus.web.query import Params, filter_params


def test_every_field_is_a_query_parameter_repeatable_where_it_is_a_tuple() -> None:
    parameters = inspect.signature(filter_params).parameters
    assert list(parameters) == [f.name for f in fields(Params)]
    assert all(p.default is None for p in parameters.values())
    assert "list[" in str(parameters["country"].annotation)
    assert "list[" in str(parameters["verdict"].annotation)
    assert "list[" not in str(parameters["kev"].annotation)
    assert get_args(parameters["country"].annotation)[1].description == "ISO country code"


def test_values_as_fastapi_passes_them() -> None:
    seen = datetime(2026, 1, 2, tzinfo=UTC)
    params = filter_params(
        scan="", country=["DE,FR", " AT "], continent=None, asn=[0, 3320],
        org=["Example, Inc.", ""], prefix=["192.0.2.0/24,198.51.100.0/24"], port=[25],
        protocol=None, product=["ms-exchange"], product_line=["Exchange Server 2016", ""],
        version=None, cve=["cve-2021-26855"], verdict=["vulnerable"], kev=False, eol=None,
        at_risk=True, seen_from=seen, seen_to=None,
    )  # fmt: skip
    assert params == Params(
        country=("DE", "FR", "AT"), asn=(0, 3320), org=("Example, Inc.",),
        prefix=("192.0.2.0/24", "198.51.100.0/24"), port=(25,), product=("ms-exchange",),
        product_line=("Exchange Server 2016",), cve=("cve-2021-26855",),
        verdict=("vulnerable",), kev=False, at_risk=True, seen_from=seen,
    )  # fmt: skip
    assert filter_params(scan="week1") == Params(scan="week1")
    assert filter_params() == Params()
