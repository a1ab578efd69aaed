"""CSV cells that spreadsheets will not execute: :mod:`mxcensus.output.csv`, where report and
export share them (kept under this name for the callers that know it)."""

from __future__ import annotations

from mxcensus.output.csv import FORMULA_LEADS, csv_cell, write_csv

__all__ = ["FORMULA_LEADS", "csv_cell", "write_csv"]
