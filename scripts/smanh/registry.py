"""Reading and validating a registry export into the canonical tables (``registry-format.md`` §1).

``read_registry(path)`` reads a canonical export — a folder of CSV files, an ``.xlsx``
workbook or a folder of Parquet files (:mod:`smanh.readers`) — or, with
``format="redcap"``, a REDCap export through its mapping (:mod:`smanh.redcap`), or, with
``format="omop"``, the SMA cohort of an OMOP CDM database (:mod:`smanh.ingest.omop`). It types
every cell, checks every rule (:mod:`smanh.schema` within a table,
:func:`relation_findings` across tables) and then, by ``on_invalid``:

* ``"error"`` (default): raises ``RegistryValidationError`` listing every problem found
  (file, line, column, value, rule) — never just the first;
* ``"exclude"``: drops every patient with a problem, each counted under its reason
  (``RegistryExport.excluded``), drops rows of unknown patients (orphans, counted in
  ``RegistryExport.dropped_rows``) and keeps the problems on ``RegistryExport.problems``.
  Problems of a whole file (missing file or column, unreadable file) always raise: they
  cannot be attributed to patients.

Examples
--------
>>> export = read_registry("data/sample")            # doctest: +SKIP
>>> export.patients.dtypes["birth_date"]              # doctest: +SKIP
dtype('<M8[ns]')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from smanh.errors import SmanhError
from smanh.export_format import REQUIRED_TABLES, TABLES, Table
from smanh.readers import (
    RawTable,
    SourceFile,
    empty_table,
    read_csv_bytes,
    read_parquet,
    read_xlsx,
    sha256,
)
from smanh.validation import Finding, Problem, RegistryValidationError

__all__ = ["RegistryExport", "SourceFile", "read_registry", "parse_dates", "ON_INVALID"]

FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
MONTH_DATE = re.compile(r"^\d{4}-\d{2}$", re.ASCII)
YEAR_DATE = re.compile(r"^\d{4}$", re.ASCII)
INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$", re.ASCII)
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
DECIMAL_COMMA = re.compile(r"^([+-]?\d*),(\d+)$", re.ASCII)
ON_INVALID = ("error", "exclude")
ORPHAN_RULE = "patient_id not in patients.csv"
CHILD_TABLES = ("events", "treatments", "assessments")
CHILD_DATES = {"events": ("date",), "treatments": ("start_date", "end_date"), "assessments": ("date",)}
TYPE_RULES = {
    "date": "must be a date YYYY-MM-DD (or partial YYYY-MM / YYYY)",
    "integer": "must be a whole number of at most 15 digits",
    "number": "must be a number",
}
BLANK_RULE = "required value is blank"


@dataclass
class RegistryExport:
    """The typed tables of one export, with provenance and what validation did.

    ``excluded``: one row per excluded patient row (``patient_id``, ``reason``);
    ``dropped_rows``: rows of unknown patients dropped, per table; ``problems``: every
    problem found (only non-empty with ``on_invalid="exclude"``); ``completeness``:
    per table and column the rows and the non-blank cells of the export as read.
    """

    patients: pd.DataFrame
    events: pd.DataFrame
    treatments: pd.DataFrame
    assessments: pd.DataFrame
    sources: list[SourceFile] = field(default_factory=list)
    # (table, column) -> number of partial dates imputed
    imputed_dates: dict[tuple[str, str], int] = field(default_factory=dict)
    excluded: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"patient_id": [], "reason": []}, dtype=object)
    )
    dropped_rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    completeness: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["table", "field", "rows", "known"])
    )

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    @property
    def n_in_export(self) -> int:
        """Patients (rows of the patients table) in the export, before exclusions."""
        return len(self.patients) + len(self.excluded)


def read_registry(
    path: str | Path | None = None,
    *,
    format: str = "canonical",  # noqa: A002 - the config key's name
    on_invalid: str = "error",
    redcap: dict | None = None,
    omop: dict | None = None,
) -> RegistryExport:
    """Read, type and validate an export.

    Parameters
    ----------
    path : folder of ``<table>.csv`` or ``<table>.parquet`` files, or an ``.xlsx``
        workbook (``format="canonical"``).
    format : ``"canonical"``, ``"redcap"`` or ``"omop"``.
    on_invalid : ``"error"`` or ``"exclude"`` (see the module docstring).
    redcap : for ``format="redcap"``: ``{"export": ..., "dictionary": ..., "mapping": ...}``.
    omop : for ``format="omop"``: the keyword arguments of
        :func:`smanh.ingest.omop.read_omop` (``duckdb`` or ``postgres``, schemas, mapping, needs).
    """
    if on_invalid not in ON_INVALID:
        raise SmanhError(f"on_invalid must be one of: {', '.join(ON_INVALID)} (got {on_invalid!r})")
    if format == "canonical":
        if path is None:
            raise SmanhError("registry.path is required for the canonical format")
        tables, problems, sources = read_canonical_tables(Path(path))
    elif format == "redcap":
        from smanh.redcap import read_redcap

        if not redcap:
            raise SmanhError("registry.redcap (export, dictionary, mapping) is required for the redcap format")
        tables, problems, sources = read_redcap(**redcap)
    elif format == "omop":
        from smanh.ingest.omop import read_omop

        if not omop:
            raise SmanhError("registry.omop (duckdb or postgres, schemas, mapping) is required for the omop format")
        tables, problems, sources = read_omop(**omop)
    else:
        raise SmanhError(f"unknown registry format {format!r} (one of: canonical, redcap, omop)")
    return build_export(tables, problems, sources, on_invalid)


# --------------------------------------------------------------------------- formats
def read_canonical_tables(path: Path) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """The raw tables of a canonical export: CSV folder, Parquet folder or workbook."""
    if path.is_file() and path.suffix.lower() == ".xlsx":
        tables, problems, sources = read_xlsx(path)
        if problems and not tables and not sources:
            return tables, problems, sources  # not a workbook at all
        problems += _missing_tables(tables, lambda name: f"{path.name}[{name}]", "required sheet is missing")
        return tables, problems, sources
    if not path.is_dir():
        raise SmanhError(
            f"registry export '{path}' does not exist or is not a folder or an .xlsx workbook"
        )
    csvs = {n for n in TABLES if (path / f"{n}.csv").is_file()}
    parquets = {n for n in TABLES if (path / f"{n}.parquet").is_file()}
    if csvs and parquets:
        raise SmanhError(f"registry export folder '{path}' holds both CSV and Parquet tables; keep one format")
    suffix = ".parquet" if parquets else ".csv"
    tables: dict[str, RawTable] = {}
    problems: list[Problem] = []
    sources: list[SourceFile] = []
    for name in TABLES:
        file = path / f"{name}{suffix}"
        if not file.is_file():
            continue
        data = file.read_bytes()
        if suffix == ".csv":
            table, file_problems = read_csv_bytes(data, file.name, name)
        else:
            table, file_problems = read_parquet(file, name)
        problems += file_problems
        if table is not None:
            tables[name] = table
            sources.append(SourceFile(name, file.name, sha256(data), len(table.data)))
    problems += _missing_tables(
        {**tables, **{n: None for n in TABLES if (path / f"{n}{suffix}").is_file()}},
        lambda name: f"{name}{suffix}",
        "required file is missing",
    )
    return tables, problems, sources


def _missing_tables(present, file_of, rule: str) -> list[Problem]:
    return [Problem(file_of(name), 0, "", "", rule) for name in REQUIRED_TABLES if name not in present]


# --------------------------------------------------------------------------- typing
def build_export(
    raw_tables: dict[str, RawTable],
    file_problems: list[Problem],
    sources: list[SourceFile],
    on_invalid: str = "error",
) -> RegistryExport:
    """Type and validate raw tables; raise or exclude per ``on_invalid``."""
    from smanh.schema import schema_findings  # pandera: a 0.15 s import, needed only here

    problems = list(file_problems)
    raw = {name: raw_tables.get(name) or empty_table(name) for name in TABLES}
    typed: dict[str, pd.DataFrame] = {}
    texts: dict[str, pd.DataFrame] = {}
    findings: list[Finding] = []
    imputed: dict[tuple[str, str], int] = {}
    for name, spec in TABLES.items():
        table = raw[name]
        missing = [c for c in spec.required if c not in table.data.columns]
        problems += [
            Problem(table.file, 1, table.column_names.get(c, c), "", "required column is missing") for c in missing
        ]
        if name == "patients" and name in raw_tables and not len(table.data) and not missing:
            problems.append(Problem(table.file, 0, "", "", "no patients: the table has a header but no rows"))
        frame, parse_findings, counts = parse_table(table, spec)
        typed[name] = frame
        findings += table.findings + parse_findings
        imputed.update({(name, column): n for column, n in counts.items()})
        texts[name] = _text(table, spec)
        findings += schema_findings(name, frame, texts[name])
    findings += relation_findings(typed, texts)
    located = [raw[f.table].problem(f) for f in findings]
    completeness = _completeness(raw, texts)
    if problems or (findings and on_invalid == "error"):
        raise RegistryValidationError(problems + located)
    export = RegistryExport(
        **typed, sources=sources, imputed_dates=imputed, problems=sorted(set(located)), completeness=completeness
    )
    if findings:
        _exclude(export, findings)
    return export


def _all_text(values: np.ndarray) -> bool:
    """Whether every cell is a str (no NaN or None): then fillna("") and astype(str)
    change nothing and are skipped (they are slow on millions of cells)."""
    return values.dtype == object and infer_dtype(values, skipna=False) in ("string", "empty")


def _filled(series: pd.Series) -> pd.Series:
    """``series.fillna("").astype(object)``, without copying text columns."""
    return series if _all_text(series.to_numpy()) else series.fillna("").astype(object)


def _as_str(series: pd.Series) -> pd.Series:
    """``series.astype(str)``, without copying text columns."""
    return series if _all_text(series.to_numpy()) else series.astype(str)


def _positional(data: pd.DataFrame) -> pd.DataFrame:
    """``data.reset_index(drop=True)``, without a copy when it is indexed 0, 1, ..."""
    index = data.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return data
    return data.reset_index(drop=True)


def _text(table: RawTable, spec: Table) -> pd.DataFrame:
    """The table's text cells with every canonical column (blank when absent)."""
    data = _positional(table.data)
    columns = {
        c.name: _filled(data[c.name]) if c.name in data.columns else pd.Series([""] * len(data), dtype=object)
        for c in spec.columns
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(len(data)), copy=False)


def parse_table(table: RawTable, spec: Table) -> tuple[pd.DataFrame, list[Finding], dict[str, int]]:
    """Typed columns (dates, numbers), the cells that cannot be typed, and the number of
    partial dates imputed per column. Unknown extra columns are kept as text."""
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
        parsed, bad, n_imputed = _parse_column(values, column.kind)
        if n_imputed:
            imputed[column.name] = n_imputed
        if column.kind in TYPE_RULES:
            findings += [
                Finding(spec.name, int(r), column.name, v, TYPE_RULES[column.kind])
                for r, v in zip(rows[bad], values[bad])
            ]
        typed[column.name] = parsed
    frame = pd.DataFrame(typed, index=pd.RangeIndex(len(data)), copy=False)
    frame.insert(0, "line", table.lines.astype(np.int64) if len(table.lines) == len(data) else rows + 2)
    return frame, findings, imputed


def _parse_column(values: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray, int]:
    """Typed values, a mask of unparseable cells, and the number of imputed dates."""
    values = values.reset_index(drop=True)
    if kind == "string":
        return values.astype(object), np.zeros(len(values), dtype=bool), 0
    if kind == "date":
        return parse_dates(values)
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


def parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray, int]:
    """ISO dates; partial ``YYYY-MM`` → the 15th, ``YYYY`` → 1 July (§1).

    Returns the dates (NaT for blank), a mask of unparseable cells and the number of
    partial dates imputed.
    """
    values = _as_str(values).reset_index(drop=True)
    # Exports repeat the same dates many times: parse each distinct text once.
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    dates, bad, partial = _parse_distinct_dates(pd.Series(distinct, dtype=object))
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


# --------------------------------------------------------------------------- relations
def relation_findings(typed: dict[str, pd.DataFrame], text: dict[str, pd.DataFrame]) -> list[Finding]:
    """Rules across tables: rows of unknown patients, dates before the patient's birth
    or after their death."""
    patients = typed["patients"]
    known = patients[patients["patient_id"] != ""].drop_duplicates("patient_id").set_index("patient_id")
    findings: list[Finding] = []
    for name in CHILD_TABLES:
        table = typed[name]
        if not len(table):
            continue
        ids = _as_str(table["patient_id"])
        # Each row's patient looked up once (a row of -1: not a known patient).
        patient = known.index.get_indexer(ids)
        given = ids.to_numpy() != ""
        orphan = given & (patient < 0)
        findings += [Finding(name, int(r), "patient_id", ids.iloc[r], ORPHAN_RULE) for r in np.flatnonzero(orphan)]
        linked = ~orphan & given
        birth = _lookup(known["birth_date"], patient)
        death = _lookup(known["death_date"], patient)
        for column in CHILD_DATES[name]:
            dates = table[column].to_numpy()
            for mask, rule in (
                (dates < birth, "date before the patient's birth"),
                (dates > death, "date after the patient's death"),
            ):
                hit = mask & linked
                findings += [
                    Finding(name, int(r), column, text[name][column].iloc[r], rule) for r in np.flatnonzero(hit)
                ]
    return findings


def _lookup(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``values`` at ``rows`` (datetime64), NaT where the row is -1."""
    if not len(values):
        return np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[ns]")
    found = values.to_numpy(dtype="datetime64[ns]")[np.maximum(rows, 0)]
    found[rows < 0] = np.datetime64("NaT")
    return found


# --------------------------------------------------------------------------- exclusion
def exclusion_reason(finding: Finding) -> str:
    """How a patient excluded for this finding is counted in the cohort flow."""
    rule = "value not in the vocabulary" if finding.rule.startswith("must be one of") else finding.rule
    rule = re.sub(r"^row has \d+ fields, the header has \d+$", "row has the wrong number of fields", rule)
    where = f"{finding.table}.{finding.column}" if finding.column else finding.table
    return f"invalid: {where}: {rule}"


def _exclude(export: RegistryExport, findings: list[Finding]) -> None:
    """Drop patients with problems (each under its first reason) and orphan rows."""
    patients = export.patients
    ids = patients["patient_id"].astype(str)
    known = set(ids[ids != ""])
    reasons: dict[int, str] = {}  # patient row -> reason
    by_id: dict[str, str] = {}
    orphan_rows: dict[str, set[int]] = {name: set() for name in CHILD_TABLES}
    order = {name: i for i, name in enumerate(TABLES)}
    for finding in sorted(findings, key=lambda f: (order[f.table], f.row, f.column, f.rule)):
        if finding.table == "patients":
            reasons.setdefault(finding.row, exclusion_reason(finding))
            continue
        patient_id = str(export.table(finding.table)["patient_id"].iloc[finding.row])
        if patient_id not in known:
            orphan_rows[finding.table].add(finding.row)
        else:
            by_id.setdefault(patient_id, exclusion_reason(finding))
    for row, patient_id in enumerate(ids):
        if row not in reasons and patient_id in by_id:
            reasons[row] = by_id[patient_id]
    excluded_rows = sorted(reasons)
    excluded_ids = set(ids.iloc[excluded_rows])
    export.excluded = pd.DataFrame(
        {"patient_id": ids.iloc[excluded_rows].tolist(), "reason": [reasons[r] for r in excluded_rows]}, dtype=object
    )
    export.patients = patients.drop(index=patients.index[excluded_rows]).reset_index(drop=True)
    for name in CHILD_TABLES:
        table = export.table(name)
        orphans = np.zeros(len(table), dtype=bool)
        orphans[sorted(orphan_rows[name])] = True
        orphans |= ~table["patient_id"].astype(str).isin(known).to_numpy()
        of_excluded = table["patient_id"].astype(str).isin(excluded_ids).to_numpy() & ~orphans
        export.dropped_rows[name] = int(orphans.sum())
        setattr(export, name, table[~orphans & ~of_excluded].reset_index(drop=True))


def _completeness(raw: dict[str, RawTable], texts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for name, spec in TABLES.items():
        data = raw[name].data
        for column in spec.columns:
            present = column.name in data.columns
            known = np.count_nonzero(_as_str(texts[name][column.name]).to_numpy() != "") if present else 0
            rows.append((name, column.name, len(data), int(known)))
    return pd.DataFrame(rows, columns=["table", "field", "rows", "known"])
