"""Typing the text cells of an export: dates (partial dates imputed), numbers (decimal
commas), the cells that cannot be typed as findings (README, "Your own export")."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from smanh.config.date_formats import ISO_DATE_FORMAT, as_iso, date_rule
from smanh.ingest.export_format import Table
from smanh.ingest.problems import Finding
from smanh.ingest.readers import RawTable

FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
MONTH_DATE = re.compile(r"^\d{4}-\d{2}$", re.ASCII)
YEAR_DATE = re.compile(r"^\d{4}$", re.ASCII)
INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$", re.ASCII)
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
DECIMAL_COMMA = re.compile(r"^([+-]?\d*),(\d+)$", re.ASCII)
TYPE_RULES = {
    "date": date_rule(ISO_DATE_FORMAT),  # with registry.date_format: date_rule(date_format)
    "integer": "must be a whole number of at most 15 digits",
    "number": "must be a number",
}
BLANK_RULE = "required value is blank"


def _all_text(values: np.ndarray) -> bool:
    """Whether every cell is a str (no NaN or None): then fillna("") and astype(str)
    change nothing and are skipped (they are slow on millions of cells)."""
    return values.dtype == object and infer_dtype(values, skipna=False) in ("string", "empty")


def _filled(series: pd.Series) -> pd.Series:
    """``series.fillna("").astype(object)``, without copying text columns."""
    return series if _all_text(series.to_numpy()) else series.fillna("").astype(object)


def as_str(series: pd.Series) -> pd.Series:
    """``series.astype(str)``, without copying text columns."""
    return series if _all_text(series.to_numpy()) else series.astype(str)


def _positional(data: pd.DataFrame) -> pd.DataFrame:
    """``data.reset_index(drop=True)``, without a copy when it is indexed 0, 1, ..."""
    index = data.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return data
    return data.reset_index(drop=True)


def text_cells(table: RawTable, spec: Table) -> pd.DataFrame:
    """The table's text cells with every canonical column (blank when absent)."""
    data = _positional(table.data)
    columns = {
        c.name: _filled(data[c.name]) if c.name in data.columns else pd.Series([""] * len(data), dtype=object)
        for c in spec.columns
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(len(data)), copy=False)


def parse_table(
    table: RawTable, spec: Table, date_format: str = ISO_DATE_FORMAT
) -> tuple[pd.DataFrame, list[Finding], dict[str, int]]:
    """Typed columns (dates, numbers), the cells that cannot be typed, and the number of
    partial dates imputed per column. Unknown extra columns are kept as text."""
    rules = {**TYPE_RULES, "date": date_rule(date_format)}
    data = _positional(table.data)
    text = {column for column in data.columns if _all_text(data[column].to_numpy())}
    typed = {column: data[column] if column in text else data[column].fillna("").astype(object) for column in data}
    findings: list[Finding] = []
    imputed: dict[str, int] = {}
    rows = np.arange(len(data))
    for column in spec.columns:
        if column.name not in data.columns:
            typed[column.name] = _parse_column(pd.Series([""] * len(data), dtype=object), column.kind)[0]
            continue
        values = typed[column.name] if column.name in text else typed[column.name].astype(str)
        if column.required:
            findings += [Finding(spec.name, int(r), column.name, "", BLANK_RULE) for r in rows[values.to_numpy() == ""]]
        parsed, bad, n_imputed = _parse_column(values, column.kind, date_format)
        if n_imputed:
            imputed[column.name] = n_imputed
        if column.kind in rules:
            findings += [
                Finding(spec.name, int(r), column.name, v, rules[column.kind])
                for r, v in zip(rows[bad], values[bad])
            ]
        typed[column.name] = parsed
    frame = pd.DataFrame(typed, index=pd.RangeIndex(len(data)), copy=False)
    frame.insert(0, "line", table.lines.astype(np.int64) if len(table.lines) == len(data) else rows + 2)
    return frame, findings, imputed


def _parse_column(
    values: pd.Series, kind: str, date_format: str = ISO_DATE_FORMAT
) -> tuple[pd.Series, np.ndarray, int]:
    """Typed values, a mask of unparseable cells, and the number of imputed dates."""
    values = values.reset_index(drop=True)
    if kind == "string":
        return values.astype(object), np.zeros(len(values), dtype=bool), 0
    if kind == "date":
        return parse_dates(values, date_format)
    # Exports repeat the same few texts (scores, copy numbers): parse each distinct one.
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    numbers, bad = _parse_numbers(pd.Series(distinct, dtype=object), kind)
    return pd.Series(numbers.array.take(codes), name=values.name), bad[codes], 0


def _parse_numbers(values: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    text = values.str.replace(DECIMAL_COMMA, r"\1.\2", regex=True)
    pattern = INTEGER if kind == "integer" else NUMBER
    valid = text.map(lambda v: bool(pattern.match(v))).to_numpy(dtype=bool) if len(text) else np.zeros(0, bool)
    numbers = pd.to_numeric(text.where(valid), errors="coerce")
    if kind == "integer":  # beyond 15 digits a float no longer holds every whole number
        valid &= ~(numbers.abs() >= 1e15).to_numpy()
        numbers = numbers.where(valid)
    bad = (values != "").to_numpy() & ~valid
    if kind == "integer":
        return numbers.round().astype("Int64"), bad
    return numbers.astype(float), bad


def parse_dates(values: pd.Series, date_format: str = ISO_DATE_FORMAT) -> tuple[pd.Series, np.ndarray, int]:
    """ISO dates; partial ``YYYY-MM`` → the 15th, ``YYYY`` → 1 July (§1). With another
    ``date_format`` (e.g. ``%d.%m.%Y``), texts in that format and its partial form without
    the day (``%m.%Y``) too, imputed alike (:mod:`smanh.config.date_formats`).

    Returns the dates (NaT for blank), a mask of unparseable cells and the number of
    partial dates imputed.
    """
    values = as_str(values).reset_index(drop=True)
    # Exports repeat the same dates many times: parse each distinct text once.
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    dates, bad, partial = _parse_distinct_dates(as_iso(pd.Series(distinct, dtype=object), date_format))
    n_imputed = int(np.bincount(codes, minlength=len(distinct))[partial & ~bad].sum())
    return pd.Series(dates.to_numpy()[codes], name=values.name), bad[codes], n_imputed


def _parse_distinct_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    month = values.map(lambda v: bool(MONTH_DATE.match(v))).astype(bool)
    year = values.map(lambda v: bool(YEAR_DATE.match(v))).astype(bool)
    completed = values.mask(month, values + "-15").mask(year, values + "-07-01")
    full = completed.map(lambda v: bool(FULL_DATE.match(v))).astype(bool)
    dates = pd.to_datetime(completed.where(full), format="%Y-%m-%d", errors="coerce")
    bad = ((values != "") & dates.isna()).to_numpy(dtype=bool)
    return dates.astype("datetime64[ns]"), bad, (month | year).to_numpy(dtype=bool)


