"""Reading and validating a canonical registry export (``registry-format.md`` §1).

``read_registry(path)`` returns typed tables or raises ``RegistryValidationError``
listing every problem found (file, line, column, value, rule) — never just the first.

Examples
--------
>>> export = read_registry("data/sample")            # doctest: +SKIP
>>> export.patients.dtypes["birth_date"]              # doctest: +SKIP
dtype('<M8[ns]')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.errors import SmanhError
from smanh.export_format import REQUIRED_TABLES, SCALE_RANGES, TABLES, Table
from smanh.validation import Problem, RegistryValidationError

FULL_DATE = r"^\d{4}-\d{2}-\d{2}$"
MONTH_DATE = r"^\d{4}-\d{2}$"
YEAR_DATE = r"^\d{4}$"
FIRST_DATA_LINE = 2  # the header is line 1


@dataclass
class SourceFile:
    """Provenance of one export file."""

    table: str
    name: str
    sha256: str
    rows: int


@dataclass
class RegistryExport:
    """The typed tables of one export, with provenance and imputation counts."""

    patients: pd.DataFrame
    events: pd.DataFrame
    treatments: pd.DataFrame
    assessments: pd.DataFrame
    sources: list[SourceFile] = field(default_factory=list)
    # (table, column) -> number of partial dates imputed
    imputed_dates: dict[tuple[str, str], int] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def read_registry(path: str | Path) -> RegistryExport:
    """Read a canonical export folder of CSV files, parse and validate it."""
    folder = Path(path)
    if not folder.is_dir():
        raise SmanhError(f"registry export folder '{folder}' does not exist or is not a folder")
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    sources: list[SourceFile] = []
    imputed: dict[tuple[str, str], int] = {}
    for name, spec in TABLES.items():
        file = folder / f"{name}.csv"
        if not file.exists():
            if name in REQUIRED_TABLES:
                problems.append(Problem(file.name, 0, "", "", "required file is missing"))
            tables[name] = _empty_table(spec)
            continue
        raw, file_problems = _read_csv_text(file)
        problems += file_problems
        if raw is None:
            tables[name] = _empty_table(spec)
            continue
        sources.append(SourceFile(name, file.name, _sha256(file), len(raw)))
        typed, column_problems, counts = _parse_table(raw, spec, file.name)
        problems += column_problems
        imputed.update({(name, column): n for column, n in counts.items()})
        tables[name] = typed
    problems += _check_relations(tables)
    if problems:
        raise RegistryValidationError(problems)
    return RegistryExport(**tables, sources=sources, imputed_dates=imputed)


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _read_csv_text(file: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """All cells as stripped strings ('' = blank), or the problems that prevent reading."""
    text_bytes = file.read_bytes()
    try:
        text = text_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = text_bytes[: err.start].count(b"\n") + 1
        return None, [Problem(file.name, line, "", "", "file is not valid UTF-8 text")]
    if not text.strip():
        return None, [Problem(file.name, 0, "", "", "file is empty (no header row)")]
    try:
        from io import StringIO

        raw = pd.read_csv(
            StringIO(text), dtype=str, keep_default_na=False, na_filter=False
        )
    except (pd.errors.ParserError, ValueError) as err:
        return None, [Problem(file.name, 0, "", "", f"not a readable CSV file: {err}")]
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.apply(lambda col: col.str.strip()), []


def _empty_table(spec: Table) -> pd.DataFrame:
    return _parse_table(
        pd.DataFrame({c.name: pd.Series(dtype=str) for c in spec.columns}), spec, ""
    )[0]


def _parse_table(
    raw: pd.DataFrame, spec: Table, file: str
) -> tuple[pd.DataFrame, list[Problem], dict[str, int]]:
    problems: list[Problem] = []
    missing = [c for c in spec.required if c not in raw.columns]
    problems += [Problem(file, 1, c, "", "required column is missing") for c in missing]
    typed = raw.copy()
    imputed: dict[str, int] = {}
    lines = np.arange(len(raw)) + FIRST_DATA_LINE
    for column in spec.columns:
        if column.name not in raw.columns:
            typed[column.name] = _blank_column(column.kind, len(raw))
            continue
        values = raw[column.name]
        if column.required:
            blank = values == ""
            problems += [
                Problem(file, int(line), column.name, "", "required value is blank")
                for line in lines[blank.to_numpy()]
            ]
        parsed, bad, n_imputed = _parse_column(values, column.kind)
        if n_imputed:
            imputed[column.name] = n_imputed
        rule = _type_rule(column.kind)
        problems += [
            Problem(file, int(line), column.name, v, rule)
            for line, v in zip(lines[bad], values[bad])
        ]
        if column.values is not None:
            unknown = (values != "") & ~values.isin(column.values)
            allowed = ", ".join(column.values)
            problems += [
                Problem(file, int(line), column.name, v, f"must be one of: {allowed}")
                for line, v in zip(lines[unknown.to_numpy()], values[unknown])
            ]
        if column.value_range is not None:
            low, high = column.value_range
            out = (parsed < low) | (parsed > high)
            out = out.fillna(False).to_numpy(dtype=bool)
            problems += [
                Problem(file, int(line), column.name, v, f"must be between {low} and {high}")
                for line, v in zip(lines[out], values[out])
            ]
        typed[column.name] = parsed
    typed.insert(0, "line", lines)
    return typed, problems, imputed


def _blank_column(kind: str, n: int) -> pd.Series:
    return _parse_column(pd.Series([""] * n, dtype=str), kind)[0]


def _type_rule(kind: str) -> str:
    return {
        "date": "must be a date YYYY-MM-DD (or partial YYYY-MM / YYYY)",
        "integer": "must be a whole number",
        "number": "must be a number",
        "string": "",
    }[kind]


def _parse_column(values: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray, int]:
    """Typed values, a mask of unparseable cells, and the number of imputed dates."""
    if kind == "string":
        return values.astype(object), np.zeros(len(values), dtype=bool), 0
    if kind == "date":
        return parse_dates(values)
    numbers = pd.to_numeric(values.where(values != ""), errors="coerce")
    bad = (values != "") & numbers.isna()
    if kind == "integer":
        fractional = numbers.notna() & (numbers != np.floor(numbers))
        bad |= fractional
        numbers = numbers.where(~fractional)
        return numbers.astype("Int64"), bad.to_numpy(), 0
    return numbers.astype(float), bad.to_numpy(), 0


def parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray, int]:
    """ISO dates; partial ``YYYY-MM`` → the 15th, ``YYYY`` → 1 July (§1).

    Returns the dates (NaT for blank), a mask of unparseable cells and the number of
    partial dates imputed.
    """
    month = values.str.match(MONTH_DATE)
    year = values.str.match(YEAR_DATE)
    completed = values.mask(month, values + "-15").mask(year, values + "-07-01")
    full = completed.str.match(FULL_DATE)
    dates = pd.to_datetime(completed.where(full), format="%Y-%m-%d", errors="coerce")
    bad = ((values != "") & dates.isna()).to_numpy()
    return dates.astype("datetime64[ns]"), bad, int((month | year).sum())


def _check_relations(tables: dict[str, pd.DataFrame]) -> list[Problem]:
    """Rules across rows and tables: unique patients, orphans, date logic, score ranges."""
    problems: list[Problem] = []
    patients = tables["patients"]
    duplicated = patients["patient_id"].duplicated(keep=False) & (patients["patient_id"] != "")
    problems += [
        Problem("patients.csv", int(r.line), "patient_id", r.patient_id, "patient_id is not unique")
        for r in patients[duplicated].itertuples()
    ]
    problems += _date_order(
        patients,
        "patients.csv",
        [
            ("birth_date", "onset_date", "onset before birth"),
            ("onset_date", "diagnosis_date", "diagnosis before onset"),
            ("birth_date", "diagnosis_date", "diagnosis before birth"),
            ("birth_date", "enrolment_date", "enrolment before birth"),
            ("enrolment_date", "last_contact_date", "enrolment after last contact"),
            ("birth_date", "death_date", "death before birth"),
            ("last_contact_date", "death_date", "last contact after death"),
            ("enrolment_date", "death_date", "enrolment after death"),
        ],
    )
    known = patients.drop_duplicates("patient_id").set_index("patient_id")
    for name, date_columns in (
        ("events", ["date"]),
        ("treatments", ["start_date", "end_date"]),
        ("assessments", ["date"]),
    ):
        problems += _check_child(tables[name], name, date_columns, known)
    problems += _score_ranges(tables["assessments"])
    problems += _date_order(
        tables["treatments"], "treatments.csv", [("start_date", "end_date", "treatment ends before it starts")]
    )
    return problems


def _date_order(table: pd.DataFrame, file: str, rules) -> list[Problem]:
    problems = []
    for earlier, later, rule in rules:
        broken = table[earlier].notna() & table[later].notna() & (table[later] < table[earlier])
        problems += [
            Problem(file, int(line), later, _iso(value), rule)
            for line, value in zip(table.loc[broken, "line"], table.loc[broken, later])
        ]
    return problems


def _check_child(
    table: pd.DataFrame, name: str, date_columns: list[str], patients: pd.DataFrame
) -> list[Problem]:
    file = f"{name}.csv"
    ids = table["patient_id"]
    orphan = (ids != "") & ~ids.isin(patients.index)
    problems = [
        Problem(file, int(line), "patient_id", pid, "patient_id not in patients.csv")
        for line, pid in zip(table.loc[orphan, "line"], ids[orphan])
    ]
    linked = table[~orphan & (ids != "")]
    birth = linked["patient_id"].map(patients["birth_date"])
    death = linked["patient_id"].map(patients["death_date"])
    for column in date_columns:
        dates = linked[column]
        for mask, rule in (
            (dates < birth, "date before the patient's birth"),
            (dates > death, "date after the patient's death"),
        ):
            mask = mask.fillna(False).to_numpy(dtype=bool)
            problems += [
                Problem(file, int(line), column, _iso(value), rule)
                for line, value in zip(linked["line"][mask], dates[mask])
            ]
    return problems


def _score_ranges(assessments: pd.DataFrame) -> list[Problem]:
    problems = []
    for scale, (low, high) in SCALE_RANGES.items():
        rows = assessments[assessments["scale"] == scale]
        out = rows["score"] < low
        if high is not None:
            out |= rows["score"] > high
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        problems += [
            Problem("assessments.csv", int(line), "score", _number(v), f"{scale} score must be {limit}")
            for line, v in zip(rows.loc[out, "line"], rows.loc[out, "score"])
        ]
    return problems


def _iso(value) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _number(value) -> str:
    return f"{value:g}"
