"""Reading export files into tables of text cells, whatever the file format.

Every reader returns :class:`RawTable` objects — all cells as stripped strings, ``""`` =
blank — plus the problems that concern a whole file (:class:`~smanh.ingest.problems.Problem`
with line 0 or 1). Problems of single rows (a row with too many fields, ...) are kept on
the table as :class:`~smanh.ingest.problems.Finding` so that a patient can be excluded for
them. Nothing here raises on bad content: typing and rules are applied afterwards
(:mod:`smanh.ingest.registry`, :mod:`smanh.ingest.schema`).

Formats of the canonical export (README, "Your own export"):

* a folder of CSV files ``<table>.csv`` — UTF-8 (with or without BOM), else Windows-1252
  (the decision is noted per file: :attr:`RawTable.encoding_note`), comma or semicolon
  separated (detected from the header row), decimal comma accepted;
* one ``.xlsx`` workbook with one sheet per table — date cells and Excel date serials in
  date columns become ISO dates, in the workbook's date system (1900 or 1904);
* a folder of Parquet files ``<table>.parquet``.

``line`` is the line (CSV) or row (spreadsheet, Parquet) as a user finds it: the header
is line 1, so the first record is line 2.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.ingest.export_format import REQUIRED_TABLES, TABLES
from smanh.ingest.problems import Finding, Problem

HEADER_LINE = 1
FIRST_DATA_LINE = 2
DELIMITERS = {",": "comma", ";": "semicolon"}
UNSUPPORTED_DELIMITERS = {"\t": "tab", "|": "'|'"}
# Day 0 of Excel's 1900 date system (serial 60 is the 29 February 1900 that never was, so
# from 1 March 1900 on, serial n is this date + n days); 1904 workbooks count from 1904-01-01.
EXCEL_EPOCH = dt.date(1899, 12, 30)
EXCEL_EPOCH_1904 = dt.date(1904, 1, 1)
WINDOWS_1252 = "windows-1252"
# Integers in this range in a date column of a workbook are years (YYYY), not serials.
YEAR_RANGE = (1800, 2200)
# Where str.splitlines() ends a line.
LINE_BOUNDARY = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass
class SourceFile:
    """Provenance of one export file: its table, name, SHA-256 and rows; for text files
    the encoding it was read in and, when that was not UTF-8, why (``note``)."""

    table: str
    name: str
    sha256: str
    rows: int
    encoding: str = ""
    note: str = ""


@dataclass
class RawTable:
    """One table as text cells, with where every cell came from.

    ``file`` names the source in problems; ``lines`` holds the line of every row;
    ``column_names`` maps canonical column names to the names in the source (REDCap
    fields); ``cell_lines`` and ``cell_columns`` override them cell by cell (a REDCap
    record's fields spread over events, one REDCap field per scale). Rows read from a
    database (:mod:`smanh.ingest.omop`) hold row ids in ``lines``, named by ``key``
    (``measurement_id``); ``cell_files`` and ``cell_keys`` override ``file`` and ``key``
    cell by cell (a patient's cells come from several OMOP tables).
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
    key: str = ""
    cell_files: dict[str, np.ndarray] = field(default_factory=dict)
    cell_keys: dict[str, np.ndarray] = field(default_factory=dict)
    encoding_note: str = ""

    def problem(self, finding: Finding) -> Problem:
        """The finding located in the source: file, line, column as the user sees them."""
        lines = self.cell_lines.get(finding.column, self.lines)
        line = int(lines[finding.row]) if 0 <= finding.row < len(lines) else 0
        column = self._cell(self.cell_columns, finding, self.column_names.get(finding.column, finding.column))
        file = self._cell(self.cell_files, finding, self.file)
        key = self._cell(self.cell_keys, finding, self.key)
        return Problem(file, line, column, finding.value, finding.rule, key)

    @staticmethod
    def _cell(cells: dict[str, np.ndarray], finding: Finding, default: str) -> str:
        values = cells.get(finding.column)
        return str(values[finding.row]) if values is not None and 0 <= finding.row < len(values) else default


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def empty_table(name: str, file: str = "") -> RawTable:
    columns = [c.name for c in TABLES[name].columns] if name in TABLES else []
    data = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return RawTable(name, file or f"{name}.csv", data, np.zeros(0, dtype=np.int64))


# --------------------------------------------------------------------------- CSV
def _as_latin1(error: UnicodeDecodeError) -> tuple[str, int]:
    return error.object[error.start : error.end].decode("latin-1"), error.end


# Python's cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined; as in the WHATWG
# encoding standard (what browsers do with windows-1252), they become the Latin-1 control
# characters of the same code, so every byte decodes.
codecs.register_error("smanh-windows-1252", _as_latin1)


def decode_text(data: bytes, file: str) -> tuple[str | None, str, list[Problem]]:
    """UTF-8 (BOM or not), else Windows-1252 (which decodes any byte; for the bytes it
    shares with Latin-1 the two agree, and 0x80-0x9F are the letters and signs Windows
    puts there: € ‚ „ … š œ ž Ÿ ...); UTF-16 and binary files are problems."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, "", [Problem(file, 0, "", "", "file is UTF-16 text; save it as UTF-8")]
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("cp1252", errors="smanh-windows-1252"), WINDOWS_1252
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, encoding, [Problem(file, line, "", "", "file contains NUL bytes (not a text file)")]
    return text, encoding, []


def encoding_note(data: bytes, file: str, encoding: str) -> str:
    """Why a file was not read as UTF-8 — the first byte that is not UTF-8 and its line —
    for the ingest log and ``sources.json``; ``""`` for a UTF-8 file."""
    if encoding != WINDOWS_1252:
        return ""
    try:
        data.decode("utf-8-sig")
        return ""
    except UnicodeDecodeError as error:
        start = error.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
    line = data.count(b"\n", 0, start) + 1
    return (
        f"{file}: not UTF-8 (byte 0x{data[start]:02X} on line {line} is not valid UTF-8); "
        f"decoded as Windows-1252"
    )


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


def read_csv_bytes(
    data: bytes, file: str, name: str = "", *, fast: bool = True
) -> tuple[RawTable | None, list[Problem]]:
    """A CSV file's cells as strings, or the problems that prevent reading it.

    ``fast=False`` always takes the exact :mod:`csv` path; the fast path
    (:func:`_read_simple`) gives the same result for the files it accepts.
    """
    text, encoding, problems = decode_text(data, file)
    if text is None:
        return None, problems
    if not text or text.isspace():
        return None, [Problem(file, 0, "", "", "file is empty (no header row)")]
    table, problems = _read_text(data, text, encoding, file, name, fast)
    if table is not None:
        table.encoding_note = encoding_note(data, file, encoding)
    return table, problems


def _read_text(
    data: bytes, text: str, encoding: str, file: str, name: str, fast: bool
) -> tuple[RawTable | None, list[Problem]]:
    # The first line as str.splitlines() ends it, without splitting the whole text.
    first_line = text.lstrip("\r\n")
    end = LINE_BOUNDARY.search(first_line)
    delimiter, found = detect_delimiter(first_line[: end.start()] if end else first_line)
    if delimiter is None:
        return None, [
            Problem(file, HEADER_LINE, "", "", f"columns must be separated by commas or semicolons, found {found}")
        ]
    if fast:
        result = _read_simple(data, text, encoding, file, name, delimiter)
        if result is not None:
            return result
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


def _read_simple(
    data: bytes, text: str, encoding: str, file: str, name: str, delimiter: str
) -> tuple[RawTable | None, list[Problem]] | None:
    """The common case read column-wise with pyarrow: quotes at most around whole cells
    holding no quote, delimiter or line break (:func:`_unquoted`), so every physical line
    is one record and cells are split at every delimiter. Returns None (use the csv
    path) for anything else.

    Line numbers, blank rows, stripping and rows of the wrong width are worked out from
    the bytes with numpy; only lines with a cell to strip or the wrong number of fields
    are split in Python, exactly as the csv path does.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    # pyarrow drops a leading BOM, the csv module keeps it as text.
    if text.startswith("\ufeff"):
        return None
    if encoding == "utf-8":  # data is valid UTF-8: use it as is, without the BOM
        raw = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    else:
        raw = text.encode("utf-8")
    if '"' in text:
        raw = _unquoted(raw, delimiter)
        if not raw:
            return None
    starts, ends, counts, to_strip = _scan_lines(raw, delimiter)
    lengths = ends - starts
    # Longer lines could hold a field over the csv module's limit (an error there).
    if not len(lengths) or lengths.max() >= csv.field_size_limit():
        return None
    fields = np.where(lengths > 0, counts + 1, 0)
    # Without a cell to strip, a line is blank when it holds nothing but delimiters.
    blank = (lengths == 0) | (~to_strip & (lengths == counts))

    def cells(line: int) -> list[str]:
        return [c.strip() for c in raw[starts[line] : ends[line]].decode("utf-8").split(delimiter)]

    header_line = -1
    for line in np.flatnonzero(~blank):
        header = cells(line)
        if any(header):
            header_line = int(line)
            break
        blank[line] = True
    if header_line < 0:
        return None, [Problem(file, 0, "", "", "file is empty (no header row)")]
    problems = _header_problems(file, header_line + 1, header)
    if problems:
        return None, problems
    width = len(header)
    keep = [i for i, column in enumerate(header) if column]
    columns = [header[i] for i in keep]
    body = np.arange(header_line + 1, len(starts))
    body = body[lengths[body] > 0]
    if not len(body):
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return RawTable(name, file, frame, np.zeros(0, dtype=np.int64), encoding=encoding, delimiter=delimiter), []
    regular = fields[body] == width
    offset = int(starts[body[0]])
    if raw.startswith(codecs.BOM_UTF8, offset):  # pyarrow would drop it
        return None
    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(raw)[offset:])),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=lambda row: "skip",  # rows of the wrong width: split below
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException:  # e.g. a line longer than pyarrow's block
        return None
    if table.num_rows != int(regular.sum()):  # not the rows counted here: play safe
        return None
    # Lines split in Python: a cell to strip, or the wrong number of fields.
    in_python = ~regular | to_strip[body]
    python_rows: dict[int, list[str]] = {}
    for position in np.flatnonzero(in_python):
        line_cells = cells(body[position])
        if any(line_cells):
            python_rows[int(position)] = line_cells
        else:
            blank[body[position]] = True
    records = np.flatnonzero(~blank[body])
    lines = body[records] + 1
    arrow_row = (np.cumsum(regular) - 1)[records]
    findings: list[Finding] = []
    frame_rows = {}
    for position, row in sorted(python_rows.items()):
        index = int(np.searchsorted(records, position))
        frame_rows[index] = _fitted_row(name, index, row, width, findings)
    from_arrow = table.select([f"c{i}" for i in keep]).to_pandas(split_blocks=True) if table.num_rows else None
    data_columns = {}
    in_order = len(records) == table.num_rows and not frame_rows
    for j, (i, column) in enumerate(zip(keep, columns)):
        if from_arrow is None:
            values = np.full(len(records), "", dtype=object)
        elif in_order:
            values = from_arrow.iloc[:, j].to_numpy()
        else:
            values = from_arrow.iloc[:, j].to_numpy().take(np.maximum(arrow_row, 0))
        for index, row in frame_rows.items():
            values[index] = row[i]
        data_columns[column] = values
    frame = pd.DataFrame(data_columns, columns=columns, copy=False)
    return RawTable(
        name, file, frame, lines.astype(np.int64), findings=findings, encoding=encoding, delimiter=delimiter
    ), []


# Bytes scanned at a time: the temporary arrays stay small (memory reused, in cache).
SCAN_CHUNK = 1 << 22


def _chunks(raw: bytes):
    """(begin, stop) of consecutive pieces of ``raw``, each ending after a \\n (a line
    break) or at the end: lines never straddle two pieces."""
    begin, size = 0, len(raw)
    while begin < size:
        stop = raw.find(b"\n", begin + SCAN_CHUNK) + 1 or size
        yield begin, stop
        begin = stop


def _scan_lines(raw: bytes, delimiter: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per physical line: start, end (before the line break), number of delimiters,
    and whether some cell may change with str.strip()."""
    parts = []
    for begin, stop in _chunks(raw):
        starts, ends, counts, to_strip = _scan_piece(np.frombuffer(raw, np.uint8, stop - begin, begin), delimiter)
        parts.append((starts + begin, ends + begin, counts, to_strip))
    return tuple(np.concatenate(column) for column in zip(*parts))


def _scan_piece(buf: np.ndarray, delimiter: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    size = len(buf)
    # Line breaks as the csv module (and pyarrow) see them: \r\n, \n, or a lone \r.
    breaks = np.flatnonzero(buf == 10)
    after = breaks + 1
    returns = np.flatnonzero(buf == 13)
    if len(returns):
        breaks = breaks[(breaks == 0) | (buf[np.maximum(breaks - 1, 0)] != 13)]  # \n not after \r
        after = breaks + 1
        crlf = (returns + 1 < size) & (buf[np.minimum(returns + 1, size - 1)] == 10)
        breaks, after = np.concatenate((returns, breaks)), np.concatenate((returns + 1 + crlf, after))
        order = np.argsort(breaks, kind="stable")
        breaks, after = breaks[order], after[order]
    starts = np.concatenate(([0], after))
    ends = np.concatenate((breaks, [size]))
    if starts[-1] == size:  # the piece ends with a line break: no further line
        starts, ends = starts[:-1], ends[:-1]
    delimiters = np.flatnonzero(buf == ord(delimiter))
    counts = np.diff(np.searchsorted(delimiters, ends), prepend=0)
    # Lines where some cell starts or ends with a character str.strip() may remove:
    # ASCII whitespace (line breaks aside) or any non-ASCII byte (U+00A0, U+2003, ...).
    candidates = np.flatnonzero((buf <= 32) | (buf >= 128))
    candidates = candidates[(buf[candidates] != 10) & (buf[candidates] != 13)]
    separator = np.zeros(256, dtype=bool)
    separator[[10, 13, ord(delimiter)]] = True
    edge = (candidates == 0) | separator[buf[np.maximum(candidates - 1, 0)]]
    edge |= (candidates == size - 1) | separator[buf[np.minimum(candidates + 1, size - 1)]]
    to_strip = np.zeros(len(starts), dtype=bool)
    to_strip[np.searchsorted(starts, candidates[edge], side="right") - 1] = True
    return starts, ends, counts, to_strip


def _unquoted(raw: bytes, delimiter: str) -> bytes | None:
    """The text without its quotes if every quoted cell is ``"..."`` holding no quote,
    delimiter or line break (the csv module then reads the cell as the text between the
    quotes); None otherwise."""
    # A line of "" between \r and \n would become part of a \r\n line break.
    if raw.find(b'\r""\n') >= 0:
        return None
    pieces = []
    for begin, stop in _chunks(raw):
        piece = _unquoted_piece(np.frombuffer(raw, np.uint8, stop - begin, begin), delimiter)
        if piece is None:
            return None
        pieces.append(piece)
    return b"".join(pieces)


def _unquoted_piece(buf: np.ndarray, delimiter: str) -> bytes | None:
    quote = buf == ord('"')
    separator = (buf == ord(delimiter)) | (buf == 10) | (buf == 13)
    # A piece starts after a line break and ends with one (or at the end of the text).
    opens = quote & np.concatenate(([True], separator[:-1]))
    closes = quote & np.concatenate((separator[1:], [True]))
    if (quote & (opens == closes)).any():  # a quote inside a cell, or a cell of one quote
        return None
    # Open quotes so far minus closed ones: must stay 0 or 1, and be 0 at every
    # delimiter or line break and at the end (each step is ±1, so int8 cannot wrap
    # around unnoticed).
    depth = np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int8)
    if (depth.view(np.uint8) > 1).any() or (separator & depth.view(bool)).any() or depth[-1]:
        return None
    return buf[~quote].tobytes()


def _fitted_row(name: str, index: int, cells: list[str], width: int, findings: list[Finding]) -> list[str]:
    """``cells`` cut or padded to the header's width; a finding where a row's width differs
    (beyond empty trailing cells), as both reading paths report it."""
    if len(cells) > width and not any(cells[width:]):
        cells = cells[:width]
    if len(cells) != width:
        findings.append(
            Finding(name, index, "", str(len(cells)), f"row has {len(cells)} fields, the header has {width}")
        )
        cells = (cells + [""] * width)[:width]
    return cells


def _header_problems(file: str, header_line: int, header: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            problems.append(Problem(file, header_line, column, "", "column appears more than once in the header"))
        seen.add(column)
    return problems


def _table_from_records(
    name: str,
    file: str,
    header_line: int,
    header: list[str],
    records: list[tuple[int, list[str]]],
    encoding: str = "",
    delimiter: str = "",
) -> tuple[RawTable | None, list[Problem]]:
    problems = _header_problems(file, header_line, header)
    if problems:
        return None, problems
    width = len(header)
    findings: list[Finding] = []
    rows = []
    for position, (_, cells) in enumerate(records):
        rows.append(_fitted_row(name, position, cells, width, findings))
    keep = [i for i, column in enumerate(header) if column]
    columns = [header[i] for i in keep]
    frame = pd.DataFrame([[r[i] for i in keep] for r in rows], columns=columns, dtype=object)
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    lines = np.array([line for line, _ in records], dtype=np.int64)
    table = RawTable(name, file, frame, lines, findings=findings, encoding=encoding, delimiter=delimiter)
    return table, []


# --------------------------------------------------------------------------- cells
def cell_text(value, date_column: bool = False, epoch: dt.date = EXCEL_EPOCH) -> str:
    """A spreadsheet or Parquet cell as the text a CSV export would hold; a whole number
    in a date column is a date serial counted from ``epoch`` (the workbook's date system)."""
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
        return _date_serial(int(value), epoch) if date_column else str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return str(value)
        if value.is_integer():
            return _date_serial(int(value), epoch) if date_column else str(int(value))
        return f"{value:.15g}"
    return str(value).strip()


def _date_serial(number: int, epoch: dt.date = EXCEL_EPOCH) -> str:
    """An Excel date serial as an ISO date; years (1800–2200) stay years, and so do
    numbers beyond 9999-12-31 (the value is then reported as it is)."""
    if YEAR_RANGE[0] <= number <= YEAR_RANGE[1] or not 1 <= number <= (dt.date.max - epoch).days:
        return str(number)
    return (epoch + dt.timedelta(days=number)).isoformat()


def _date_columns(name: str) -> set[str]:
    return {c.name for c in TABLES[name].columns if c.kind == "date"} if name in TABLES else set()


# --------------------------------------------------------------------------- xlsx
def read_xlsx(path: Path) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """One sheet per table of a workbook; a missing sheet is a missing table."""
    import openpyxl  # imported here: only workbook exports need it
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

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
    # Date cells come back as dates in either system (openpyxl reads the workbook's flag);
    # plain numbers in date columns are converted here, from the workbook's own day 0.
    in_1904 = workbook.epoch == CALENDAR_MAC_1904
    epoch = EXCEL_EPOCH_1904 if in_1904 else EXCEL_EPOCH
    note = f"{path.name}: workbook in the 1904 date system; date serials counted from 1904-01-01" if in_1904 else ""
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
            cells = [cell_text(v, i < len(header) and header[i] in dates, epoch) for i, v in enumerate(row)]
            if any(cells):
                records.append((number, cells))
        if header is None and name in REQUIRED_TABLES:
            problems.append(Problem(file, 0, "", "", "sheet is empty (no header row)"))
            continue
        if header is None:  # an optional table left blank: no rows of it, not a broken export
            tables[name] = empty_table(name, file)
            sources.append(SourceFile(name, file, sha256(data), 0))
            continue
        table, table_problems = _table_from_records(name, file, header_line, header, records)
        problems += table_problems
        if table is not None:
            tables[name] = table
            sources.append(SourceFile(name, file, sha256(data), len(table.data), note=note))
            note = ""  # one workbook: said once, with its first sheet
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
