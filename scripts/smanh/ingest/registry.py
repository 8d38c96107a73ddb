"""Reading and validating a registry export into the canonical tables (README, "Your own export").

``read_registry(path)`` reads a canonical export — a folder of CSV files, an ``.xlsx``
workbook or a folder of Parquet files (:mod:`smanh.ingest.readers`) — or, with
``format="redcap"``, a REDCap export through its mapping (:mod:`smanh.ingest.redcap`), or, with
``format="omop"``, the SMA cohort of an OMOP CDM database (:mod:`smanh.ingest.omop`). It types
every cell, checks every rule (:mod:`smanh.ingest.schema` within a table,
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

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.config.date_formats import ISO_DATE_FORMAT, check_date_format
from smanh.errors import ConfigError, SmanhError
from smanh.ingest.export import RegistryExport
from smanh.ingest.export_format import REQUIRED_TABLES, TABLES
from smanh.ingest.parse import as_str, parse_table, text_cells
from smanh.ingest.problems import Finding, Problem, RegistryValidationError
from smanh.ingest.readers import (
    RawTable,
    SourceFile,
    empty_table,
    read_csv_bytes,
    read_parquet,
    read_xlsx,
    sha256,
)
from smanh.ingest.redcap import read_redcap
from smanh.ingest.relations import cutoff_findings, exclude_patients, relation_findings

__all__ = ["RegistryExport", "SourceFile", "read_registry", "ON_INVALID"]

ON_INVALID = ("error", "exclude")


def read_registry(
    path: str | Path | None = None,
    *,
    format: str = "canonical",  # noqa: A002 - the config key's name
    on_invalid: str = "error",
    redcap: dict | None = None,
    data_cutoff: dt.date | str | None = None,
    omop: dict | None = None,
    date_format: str = ISO_DATE_FORMAT,
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
    data_cutoff : the export's data cut-off (``registry.data_cutoff``): a date after it is
        impossible; default today (the run date).
    date_format : ``registry.date_format`` (:mod:`smanh.config.date_formats`); ISO dates
        are read under any format.
    """
    if on_invalid not in ON_INVALID:
        raise SmanhError(f"on_invalid must be one of: {', '.join(ON_INVALID)} (got {on_invalid!r})")
    check_date_format(date_format)
    tables, problems, sources = read_tables(path, format=format, redcap=redcap, omop=omop)
    return build_export(tables, problems, sources, on_invalid, cutoff_date(data_cutoff), date_format)


def read_tables(
    path: str | Path | None = None,
    *,
    format: str = "canonical",  # noqa: A002 - the config key's name
    redcap: dict | None = None,
    omop: dict | None = None,
) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """The export's tables as text cells, the problems of whole files and the files'
    provenance, before typing and validation (:func:`build_export`)."""
    if format == "canonical":
        if path is None:
            raise SmanhError("registry.path is required for the canonical format")
        return read_canonical_tables(Path(path))
    if format == "redcap":
        if not redcap:
            raise SmanhError("registry.redcap (export, dictionary, mapping) is required for the redcap format")
        return read_redcap(**redcap)
    if format == "omop":
        from smanh.ingest.omop import read_omop  # DuckDB / psycopg: only for this format

        if not omop:
            raise SmanhError("registry.omop (duckdb or postgres, schemas, mapping) is required for the omop format")
        return read_omop(**omop)
    raise SmanhError(f"unknown registry format {format!r} (one of: canonical, redcap, omop)")


def cutoff_date(value: dt.date | str | None) -> dt.date:
    """The data cut-off: the configured date, or today (the run date) without one."""
    if value is None or value == "":
        return dt.date.today()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"config key 'registry.data_cutoff': {value!r} is not a date YYYY-MM-DD") from None


# --------------------------------------------------------------------------- formats
def read_canonical_tables(path: Path) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """The raw tables of a canonical export: CSV folder, Parquet folder or workbook."""
    if path.is_file() and path.suffix.lower() == ".xlsx":
        tables, problems, sources = read_xlsx(path)
        if problems and not tables and not sources:
            return tables, problems, sources  # not a workbook at all
        sheet = lambda name: f"{path.name}[{name}]"  # noqa: E731
        found = {**tables, **{n: None for n in TABLES if any(p.file == sheet(n) for p in problems)}}
        problems += _missing_tables(found, sheet, "required sheet is missing")
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
            sources.append(
                SourceFile(name, file.name, sha256(data), len(table.data), table.encoding, table.encoding_note)
            )
    problems += _missing_tables(
        {**tables, **{n: None for n in TABLES if (path / f"{n}{suffix}").is_file()}},
        lambda name: f"{name}{suffix}",
        "required file is missing",
    )
    return tables, problems, sources


def _missing_tables(present, file_of, rule: str) -> list[Problem]:
    return [Problem(file_of(name), 0, "", "", rule) for name in REQUIRED_TABLES if name not in present]


# --------------------------------------------------------------------------- typing and rules
def build_export(
    raw_tables: dict[str, RawTable],
    file_problems: list[Problem],
    sources: list[SourceFile],
    on_invalid: str = "error",
    data_cutoff: dt.date | None = None,
    date_format: str = ISO_DATE_FORMAT,
) -> RegistryExport:
    """Type and validate raw tables; raise or exclude per ``on_invalid``; a date after
    ``data_cutoff`` (default today) is a problem; dates are read in ``date_format``."""
    from smanh.ingest.schema import schema_findings  # pandera: a 0.15 s import, needed only here

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
        frame, parse_findings, counts = parse_table(table, spec, date_format)
        typed[name] = frame
        findings += table.findings + parse_findings
        imputed.update({(name, column): n for column, n in counts.items()})
        texts[name] = text_cells(table, spec)
        findings += schema_findings(name, frame, texts[name])
    findings += relation_findings(typed, texts)
    findings += cutoff_findings(typed, texts, data_cutoff or dt.date.today())
    located = [raw[f.table].problem(f) for f in findings]
    completeness = _completeness(raw, texts)
    if problems or (findings and on_invalid == "error"):
        raise RegistryValidationError(problems + located)
    export = RegistryExport(
        **typed, sources=sources, imputed_dates=imputed, problems=sorted(set(located)), completeness=completeness,
        data_cutoff=data_cutoff or dt.date.today(),
    )
    if findings:
        exclude_patients(export, findings)
    return export


def _completeness(raw: dict[str, RawTable], texts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for name, spec in TABLES.items():
        data = raw[name].data
        for column in spec.columns:
            present = column.name in data.columns
            known = np.count_nonzero(as_str(texts[name][column.name]).to_numpy() != "") if present else 0
            rows.append((name, column.name, len(data), int(known)))
    return pd.DataFrame(rows, columns=["table", "field", "rows", "known"])
