"""Reading export files into tables of text cells, whatever the file format.

Every reader returns :class:`RawTable` objects — all cells as stripped strings, ``""`` =
blank — plus the problems that concern a whole file (:class:`~smanh.validation.Problem`
with line 0 or 1). Problems of single rows (a row with too many fields, ...) are kept on
the table as :class:`~smanh.validation.Finding` so that a patient can be excluded for
them. Nothing here raises on bad content: typing and rules are applied afterwards
(:mod:`smanh.registry`, :mod:`smanh.schema`).

Formats of the canonical export (``registry-format.md`` §1):

* a folder of CSV files ``<table>.csv`` — UTF-8 (with or without BOM) or Latin-1, comma
  or semicolon separated (detected from the header row), decimal comma accepted;
* one ``.xlsx`` workbook with one sheet per table — date cells and Excel date serials in
  date columns become ISO dates;
* a folder of Parquet files ``<table>.parquet``.

``line`` is the line (CSV) or row (spreadsheet, Parquet) as a user finds it: the header
is line 1, so the first record is line 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.export_format import TABLES
from smanh.validation import Finding, Problem

HEADER_LINE = 1
FIRST_DATA_LINE = 2
DELIMITERS = {",": "comma", ";": "semicolon"}
UNSUPPORTED_DELIMITERS = {"\t": "tab", "|": "'|'"}
EXCEL_EPOCH = dt.date(1899, 12, 30)
# Integers in this range in a date column of a workbook are years (YYYY), not serials.
YEAR_RANGE = (1800, 2200)
MAX_EXCEL_SERIAL = 2958465  # 9999-12-31


@dataclass
class SourceFile:
    """Provenance of one export file."""

    table: str
    name: str
    sha256: str
    rows: int


@dataclass
class RawTable:
    """One table as text cells, with where every cell came from.

    ``file`` names the source in problems; ``lines`` holds the line of every row;
    ``column_names`` maps canonical column names to the names in the source (REDCap
    fields); ``cell_lines`` and ``cell_columns`` override them cell by cell (a REDCap
    record's fields spread over events, one REDCap field per scale).
    """

    name: str
    file: str
    data: pd.DataFrame
    lines: np.ndarray
    column_names: dict[str, str] = field(default_factory=dict)
    cell_lines: dict[str, np.ndarray] = field(default_factory=dict)
    cell_columns: dict[str, np.ndarray] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ""

    def problem(self, finding: Finding) -> Problem:
        """The finding located in the source: file, line, column as the user sees them."""
        lines = self.cell_lines.get(finding.column, self.lines)
        line = int(lines[finding.row]) if 0 <= finding.row < len(lines) else 0
        column = self.column_names.get(finding.column, finding.column)
        if finding.column in self.cell_columns and 0 <= finding.row < len(self.cell_columns[finding.column]):
            column = str(self.cell_columns[finding.column][finding.row])
        return Problem(self.file, line, column, finding.value, finding.rule)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def empty_table(name: str, file: str = "") -> RawTable:
    columns = [c.name for c in TABLES[name].columns] if name in TABLES else []
    data = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return RawTable(name, file or f"{name}.csv", data, np.zeros(0, dtype=np.int64))


# --------------------------------------------------------------------------- CSV
def decode_text(data: bytes, file: str) -> tuple[str | None, str, list[Problem]]:
    """UTF-8 (BOM or not), else Latin-1 (which decodes any byte); UTF-16 and binary
    files are problems."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, "", [Problem(file, 0, "", "", "file is UTF-16 text; save it as UTF-8")]
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, encoding, [Problem(file, line, "", "", "file contains NUL bytes (not a text file)")]
    return text, encoding, []


def detect_delimiter(header: str) -> tuple[str | None, str]:
    """The delimiter of the header line: comma or semicolon, whichever is more frequent
    outside quotes; ``(None, name)`` for a tab- or pipe-separated header."""
    outside, quoted = [], False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    counts = {d: outside.count(d) for d in (*DELIMITERS, *UNSUPPORTED_DELIMITERS)}
    if counts[";"] > counts[","]:
        return ";", ""
    if counts[","]:
        return ",", ""
    for delimiter, name in UNSUPPORTED_DELIMITERS.items():
        if counts[delimiter]:
            return None, name
    return ",", ""


def read_csv_bytes(data: bytes, file: str, name: str = "") -> tuple[RawTable | None, list[Problem]]:
    """A CSV file's cells as strings, or the problems that prevent reading it."""
    text, encoding, problems = decode_text(data, file)
    if text is None:
        return None, problems
    if not text.strip():
        return None, [Problem(file, 0, "", "", "file is empty (no header row)")]
    first_line = text.lstrip("\r\n").splitlines()[0] if text.strip() else ""
    delimiter, found = detect_delimiter(first_line)
    if delimiter is None:
        return None, [
            Problem(file, HEADER_LINE, "", "", f"columns must be separated by commas or semicolons, found {found}")
        ]
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                records.append((start, [cell.strip() for cell in row]))
            start = reader.line_num + 1
    except csv.Error as err:
        return None, [Problem(file, start, "", "", f"not a readable CSV file: {err}")]
    if not records:
        return None, [Problem(file, 0, "", "", "file is empty (no header row)")]
    header_line, header = records[0]
    return _table_from_records(name, file, header_line, header, records[1:], encoding, delimiter)


def _table_from_records(
    name: str,
    file: str,
    header_line: int,
    header: list[str],
    records: list[tuple[int, list[str]]],
    encoding: str = "",
    delimiter: str = "",
) -> tuple[RawTable | None, list[Problem]]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            problems.append(Problem(file, header_line, column, "", "column appears more than once in the header"))
        seen.add(column)
    if problems:
        return None, problems
    width = len(header)
    findings: list[Finding] = []
    rows = []
    for position, (_, cells) in enumerate(records):
        if len(cells) > width and not any(cells[width:]):
            cells = cells[:width]
        if len(cells) != width:
            findings.append(
                Finding(name, position, "", str(len(cells)), f"row has {len(cells)} fields, the header has {width}")
            )
            cells = (cells + [""] * width)[:width]
        rows.append(cells)
    keep = [i for i, column in enumerate(header) if column]
    columns = [header[i] for i in keep]
    frame = pd.DataFrame([[r[i] for i in keep] for r in rows], columns=columns, dtype=object)
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    lines = np.array([line for line, _ in records], dtype=np.int64)
    table = RawTable(name, file, frame, lines, findings=findings, encoding=encoding, delimiter=delimiter)
    return table, []


# --------------------------------------------------------------------------- cells
def cell_text(value, date_column: bool = False) -> str:
    """A spreadsheet or Parquet cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return "" if pd.isna(value) else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else pd.Timestamp(value).strftime("%Y-%m-%d")
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return _date_serial(int(value)) if date_column else str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return str(value)
        if value.is_integer():
            return _date_serial(int(value)) if date_column else str(int(value))
        return f"{value:.15g}"
    return str(value).strip()


def _date_serial(number: int) -> str:
    """An Excel date serial as an ISO date; years (1800–2200) stay years."""
    if YEAR_RANGE[0] <= number <= YEAR_RANGE[1] or not 1 <= number <= MAX_EXCEL_SERIAL:
        return str(number)
    return (EXCEL_EPOCH + dt.timedelta(days=number)).isoformat()


def _date_columns(name: str) -> set[str]:
    return {c.name for c in TABLES[name].columns if c.kind == "date"} if name in TABLES else set()


# --------------------------------------------------------------------------- xlsx
def read_xlsx(path: Path) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """One sheet per table of a workbook; a missing sheet is a missing table."""
    import openpyxl  # imported here: only workbook exports need it

    data = path.read_bytes()
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, IndexError) as err:
        return {}, [Problem(path.name, 0, "", "", f"not a readable .xlsx workbook: {type(err).__name__}")], []
    except Exception as err:  # openpyxl raises its own exception types for broken workbooks
        return {}, [Problem(path.name, 0, "", "", f"not a readable .xlsx workbook: {type(err).__name__}")], []
    tables: dict[str, RawTable] = {}
    problems: list[Problem] = []
    sources: list[SourceFile] = []
    sheets = {s.strip(): s for s in workbook.sheetnames}
    for name in TABLES:
        if name not in sheets:
            continue
        file = f"{path.name}[{name}]"
        dates = _date_columns(name)
        records: list[tuple[int, list[str]]] = []
        header: list[str] | None = None
        for number, row in enumerate(workbook[sheets[name]].iter_rows(values_only=True), start=1):
            if header is None:
                if any(v is not None and str(v).strip() for v in row):
                    header = [cell_text(v) for v in row]
                    header_line = number
                continue
            cells = [cell_text(v, i < len(header) and header[i] in dates) for i, v in enumerate(row)]
            if any(cells):
                records.append((number, cells))
        if header is None:
            problems.append(Problem(file, 0, "", "", "sheet is empty (no header row)"))
            continue
        table, table_problems = _table_from_records(name, file, header_line, header, records)
        problems += table_problems
        if table is not None:
            tables[name] = table
            sources.append(SourceFile(name, file, sha256(data), len(table.data)))
    workbook.close()
    return tables, problems, sources


# --------------------------------------------------------------------------- Parquet
def read_parquet(path: Path, name: str) -> tuple[RawTable | None, list[Problem]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError, OverflowError, TypeError) as err:
        return None, [Problem(path.name, 0, "", "", f"not a readable Parquet file: {type(err).__name__}")]
    columns = [str(c).strip() for c in frame.columns]
    if len(set(columns)) != len(columns):
        return None, [Problem(path.name, HEADER_LINE, "", "", "column names are not unique")]
    text = pd.DataFrame(
        {
            column: [cell_text(v) for v in frame[original]]
            for column, original in zip(columns, frame.columns)
        },
        dtype=object,
    )
    if not len(frame):
        text = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    lines = np.arange(len(frame), dtype=np.int64) + FIRST_DATA_LINE
    return RawTable(name, path.name, text, lines), []
