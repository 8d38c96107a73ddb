"""The rules of one canonical table as pandera schemas (README, "Your own export").

Built from :mod:`smanh.ingest.export_format` so that the format is stated once: vocabularies,
value ranges, unique patient ids, the order of a patient's dates and the score range of
every scale. The schemas check the *typed* tables (dates as datetimes, numbers as
numbers); whether a cell could be typed at all is checked before, in
:mod:`smanh.ingest.registry`. Rules across tables (orphan rows, events after death) are in
:func:`smanh.ingest.registry.relation_findings`.

pandera is run lazily, so every failure of every rule is collected; each becomes a
:class:`~smanh.ingest.problems.Finding` (table, row, column, value, rule).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from smanh.ingest.export_format import SCALE_RANGES, TABLES
from smanh.ingest.problems import Finding

UNIQUE_ID_RULE = "patient_id is not unique"
# (earlier, later, rule, reported on): a later date before the earlier one breaks the rule;
# the problem is reported on the later column (as the rule's name says).
DATE_ORDER = {
    "patients": (
        ("birth_date", "onset_date", "onset before birth", "onset_date"),
        ("onset_date", "diagnosis_date", "diagnosis before onset", "diagnosis_date"),
        ("birth_date", "diagnosis_date", "diagnosis before birth", "diagnosis_date"),
        ("birth_date", "enrolment_date", "enrolment before birth", "enrolment_date"),
        ("enrolment_date", "last_contact_date", "enrolment after last contact", "last_contact_date"),
        ("birth_date", "death_date", "death before birth", "death_date"),
        ("last_contact_date", "death_date", "last contact after death", "death_date"),
        ("enrolment_date", "death_date", "enrolment after death", "death_date"),
        ("onset_date", "death_date", "onset after death", "death_date"),
        ("diagnosis_date", "death_date", "diagnosis after death", "death_date"),
    ),
    "treatments": (("start_date", "end_date", "treatment ends before it starts", "end_date"),),
}


def vocabulary_rule(values: tuple[str, ...]) -> str:
    return f"must be one of: {', '.join(values)}"


def range_rule(low: float, high: float | None) -> str:
    return f"must be between {low:g} and {high:g}" if high is not None else f"must be at least {low:g}"


def score_rule(scale: str) -> str:
    low, high = SCALE_RANGES[scale]
    return f"{scale} score {range_rule(low, high)}"


def _later_is_before(earlier: str, later: str):
    def check(frame: pd.DataFrame) -> pd.Series:
        a, b = frame[earlier], frame[later]
        return ~(a.notna() & b.notna() & (b < a))

    return check


def _score_in_range(scale: str):
    low, high = SCALE_RANGES[scale]

    def check(frame: pd.DataFrame) -> pd.Series:
        score = frame["score"].to_numpy(dtype=float, na_value=np.nan)
        out = score < low
        if high is not None:
            out |= score > high
        # The scale (text) compared only where the score is out of range: cheap.
        rows = np.flatnonzero(out)
        out[rows] = frame["scale"].to_numpy()[rows] == scale
        return pd.Series(~out, index=frame.index)

    return check


def _in_vocabulary(values: tuple[str, ...]):
    allowed = [*values, ""]

    def check(series: pd.Series) -> pd.Series:
        valid = series.isin(allowed)  # blank allowed; NaN too, below
        return valid if valid.all() else valid | series.isna()

    return check


def _unique_ids(series: pd.Series) -> pd.Series:
    return ~(series.duplicated(keep=False) & (series.to_numpy() != ""))


@cache
def table_schema(name: str) -> tuple[pa.DataFrameSchema, dict[str, str]]:
    """The pandera schema of a canonical table, and for every wide (several-column) rule
    the column its problems are reported on."""
    spec = TABLES[name]
    columns: dict[str, pa.Column] = {}
    for column in spec.columns:
        checks = []
        if column.values is not None:
            checks.append(pa.Check(_in_vocabulary(column.values), error=vocabulary_rule(column.values)))
        if column.value_range is not None:
            low, high = column.value_range
            checks.append(pa.Check.in_range(low, high, error=range_rule(low, high)))
        if column.name == "patient_id" and name == "patients":
            checks.append(pa.Check(_unique_ids, error=UNIQUE_ID_RULE))
        columns[column.name] = pa.Column(nullable=True, checks=checks, required=True)
    wide: list[pa.Check] = []
    reported_on: dict[str, str] = {}
    # ignore_na=False: the checks handle blanks themselves, and pandera's test for rows
    # that are blank throughout (never: "line" is always set) is slow on large tables.
    for earlier, later, rule, column in DATE_ORDER.get(name, ()):
        wide.append(pa.Check(_later_is_before(earlier, later), error=rule, ignore_na=False))
        reported_on[rule] = column
    if name == "assessments":
        for scale in SCALE_RANGES:
            wide.append(pa.Check(_score_in_range(scale), error=score_rule(scale), ignore_na=False))
            reported_on[score_rule(scale)] = "score"
    schema = pa.DataFrameSchema(columns, checks=wide, strict=False, coerce=False, name=name)
    return schema, reported_on


def schema_findings(name: str, typed: pd.DataFrame, raw: pd.DataFrame) -> list[Finding]:
    """Every failure of the table's schema; ``typed`` and ``raw`` are indexed by row
    position and the values reported are the cells as written in the export."""
    schema, reported_on = table_schema(name)
    try:
        schema.validate(typed, lazy=True, inplace=True)  # nothing is coerced: no copy needed
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    cases = cases[cases["index"].notna()]
    findings = set()
    for case in cases.itertuples(index=False):
        rule = str(case.check)
        column = reported_on.get(rule, case.column)
        row = int(case.index)
        value = str(raw[column].iloc[row]) if column in raw.columns else ""
        findings.add(Finding(name, row, column, value, rule))
    return sorted(findings)
