"""``results/share/``: what may leave the secure environment — every table as released by
:func:`smanh.disclosure.release.release`, the same tables in one workbook with a sheet that
explains them, a manifest with the SHA-256 of every file, and the report."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import pandas as pd

from smanh.disclosure.release import count_columns
from smanh.jobs.files import write_csv, write_json
from smanh.report.columns import describe

README_SHEET = "README"
EXPLANATION = [
    "These tables are the shareable copy of the workflow's results: counts are shown under the report's",
    "disclosure rules, so they may leave the secure environment; the exact tables stay in results/tables/.",
    "0: none. <{T}: between 1 and {below} (report.min_cell_count = {T}). ≈N: rounded to ten, where the exact",
    "count would let a reader recover a small one by subtraction (complementary suppression).",
    "Curves are read at every month of age within their estimable range, for strata with at least {T} events,",
    "while at least {T} patients are at risk; estimates of strata with fewer than {T} events are not released.",
    "In these files a shown count is a number (2009), a hidden or rounded one text (<{T}, ≈1800).",
    "Below: every column of every sheet. Each table in full: README of the workflow, section Outputs.",
]


def write_share(released: dict[str, pd.DataFrame], folder: str | Path, min_cell_count: int) -> dict:
    """Write every released table as ``<name>.csv`` and all of them into ``tables.xlsx``;
    returns the manifest (file -> SHA-256), also written as ``manifest.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    released = {name: machine_readable(name, table) for name, table in released.items()}
    for name, table in released.items():
        path = folder / f"{name}.csv"
        write_csv(table, path)
        manifest[path.name] = sha256_of(path)
    workbook = folder / "tables.xlsx"
    write_workbook(released, workbook, min_cell_count)
    manifest[workbook.name] = sha256_of(workbook)
    write_json({"min_cell_count": min_cell_count, "files": manifest}, folder / "manifest.json")
    return manifest


def write_workbook(released: dict[str, pd.DataFrame], path: Path, min_cell_count: int) -> None:
    """One sheet per table (Excel's 31-character sheet names), and a README sheet first."""
    from openpyxl import Workbook  # only this rule writes workbooks

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = README_SHEET
    for line in EXPLANATION:
        sheet.append([line.format(T=min_cell_count, below=min_cell_count - 1)])
    sheet.append([])
    sheet.append(["sheet", "table", "column", "meaning"])
    for name, table in released.items():
        for column in table.columns:
            sheet.append([name[:31], f"{name}.csv", str(column), describe(str(column)) or ""])
    for name, table in released.items():
        data = workbook.create_sheet(name[:31])
        data.append(list(map(str, table.columns)))
        for row in table.itertuples(index=False):
            data.append([None if _missing(v) else v for v in row])
    # fixed timestamps, in the document and in the zip entries: the same tables give the same bytes
    workbook.properties.created = workbook.properties.modified = pd.Timestamp("2000-01-01").to_pydatetime()
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":  # openpyxl stamps the saving time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            target.writestr(fixed, data)


def machine_readable(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """Shown counts as numbers (the report writes 2,009; a spreadsheet must be able to sum
    them), hidden and rounded ones as text without separators (``<5``, ``≈1800``)."""
    columns = count_columns(table)
    if name == "data_quality":
        columns = ["value"]
    if not columns:
        return table
    table = table.copy()
    for column in columns:
        table[column] = [_count(cell) for cell in table[column]]
    return table


def _count(cell):
    if not isinstance(cell, str):
        return cell
    text = cell.replace(",", "")
    return int(text) if text.isdigit() else text


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
