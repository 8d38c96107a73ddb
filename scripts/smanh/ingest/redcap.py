"""REDCap adapter: a flat REDCap CSV export + its data dictionary → the canonical tables.

What it reads
-------------
* the **export**: REDCap's flat CSV ("CSV raw data" or "CSV labels" with raw variable
  names as headers), longitudinal (``redcap_event_name``) with repeating instruments
  (``redcap_repeat_instrument`` / ``redcap_repeat_instance``) and checkbox columns
  ``<field>___<code>``; the same encodings and delimiters as canonical CSV files;
* the **data dictionary** (REDCap's CSV, columns ``Variable / Field Name``,
  ``Field Type`` and ``Choices, Calculations, OR Slider Labels``): turns choice codes
  into labels, so raw and label exports give the same tables;
* the **mapping** (YAML, e.g. ``config/redcap_mapping.yaml``, schema
  ``workflow/schemas/redcap_mapping.schema.yaml``): for every canonical table a list of
  *sources* — rows of an event (and a repeating instrument), whose fields become
  canonical columns; ``values`` maps choice labels to canonical values; ``checkbox``
  sources give one row per ticked option; ``unpivot`` gives one row per filled field
  (one field per scale → one assessment row per scale).

Every canonical cell remembers its export line and REDCap field, so validation problems
name the export file, its line and the REDCap field (:class:`smanh.ingest.readers.RawTable`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from smanh.config.validation import SCHEMAS, validate_with_schema
from smanh.errors import ConfigError, SmanhError
from smanh.ingest.export_format import TABLES
from smanh.ingest.problems import Problem
from smanh.ingest.readers import RawTable, SourceFile, read_csv_bytes, sha256

MAPPING_SCHEMA = SCHEMAS / "redcap_mapping.schema.yaml"
EVENT, INSTRUMENT, INSTANCE = "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"
FIELD_NAME = "Variable / Field Name"
FIELD_TYPE = "Field Type"
CHOICES = "Choices, Calculations, OR Slider Labels"
DICTIONARY_REQUIRED = (FIELD_NAME, FIELD_TYPE, CHOICES)
CHOICE_TYPES = ("radio", "dropdown", "checkbox")
FIXED_CHOICES = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}
CHECKED, UNCHECKED = ("1", "Checked"), ("0", "Unchecked", "")


def read_redcap(
    export: str | Path, dictionary: str | Path, mapping: str | Path
) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """The canonical raw tables of a REDCap export, problems of whole files, provenance."""
    paths = {"export": Path(export), "dictionary": Path(dictionary), "mapping": Path(mapping)}
    for role, path in paths.items():
        if not path.is_file():
            raise SmanhError(f"registry.redcap.{role}: file '{path}' does not exist")
    spec = load_mapping(paths["mapping"])
    data = {role: path.read_bytes() for role, path in paths.items()}
    sources = [SourceFile(f"redcap_{role}", paths[role].name, sha256(data[role]), 0) for role in paths]
    fields, problems = read_dictionary(data["dictionary"], paths["dictionary"].name)
    if problems:
        return {}, problems, sources
    check_mapping(spec, fields, paths["mapping"].name)
    table, problems = read_csv_bytes(data["export"], paths["export"].name, "redcap")
    if table is None:
        return {}, problems, sources
    sources[0].rows = len(table.data)
    sources[0].encoding, sources[0].note = table.encoding, table.encoding_note
    problems += _export_columns_missing(spec, table, fields)
    if problems:
        return {}, problems, sources
    labels, problems = _labelled(table, fields)
    tables = {
        name: _build_table(name, sources_spec, table, labels, spec["record_id"])
        for name, sources_spec in spec["tables"].items()
    }
    problems += [table.problem(f) for f in table.findings]  # rows with the wrong number of fields
    return tables, problems, sources


# --------------------------------------------------------------------------- mapping
def load_mapping(path: Path) -> dict:
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"REDCap mapping '{path.name}' is not valid YAML: {err}") from None
    try:
        return validate_with_schema(mapping, MAPPING_SCHEMA)
    except ConfigError as err:
        raise ConfigError(f"REDCap mapping '{path.name}': {err}") from None


def check_mapping(spec: dict, fields: dict[str, tuple[str, dict]], name: str) -> None:
    """Every field the mapping names is in the data dictionary; required canonical
    columns are mapped."""
    errors = []
    if spec["record_id"] not in fields:
        errors.append(f"record_id: field '{spec['record_id']}' is not in the data dictionary")
    for table, sources in spec["tables"].items():
        mapped: set[str] = set()
        known_columns = {c.name for c in TABLES[table].columns}
        for i, source in enumerate(sources):
            where = f"tables.{table}[{i}]"
            for column in _source_columns(source):
                mapped.add(column)
                if column not in known_columns:
                    errors.append(f"{where}: '{column}' is not a column of the canonical {table} table")
            for column, field in _source_fields(source):
                if field not in fields:
                    errors.append(f"{where}.{column}: field '{field}' is not in the data dictionary")
            if "checkbox" in source:
                kind, choices = fields.get(source["checkbox"], ("", {}))
                if kind != "checkbox":
                    errors.append(f"{where}.checkbox: '{source['checkbox']}' is not a checkbox field")
                for code in source["options"]:
                    if kind == "checkbox" and code not in choices:
                        errors.append(f"{where}.options: '{code}' is not a choice of '{source['checkbox']}'")
        missing = [c for c in TABLES[table].required if c not in mapped]
        errors += [f"tables.{table}: required column '{c}' is not mapped" for c in missing]
    if errors:
        lines = "\n".join(f"  - {e}" for e in errors)
        raise ConfigError(f"REDCap mapping '{name}' does not fit the data dictionary:\n{lines}")


def _source_fields(source: dict) -> list[tuple[str, str]]:
    """(canonical column, REDCap field) of every field a source reads."""
    pairs = list(source["columns"].items())
    for option in source.get("options", {}).values():
        pairs += list(option.get("columns", {}).items())
    if "unpivot" in source:
        pairs += [(source["unpivot"]["value_column"], f) for f in source["unpivot"]["fields"].values()]
    return pairs


def _source_columns(source: dict) -> set[str]:
    """The canonical columns a source fills."""
    columns = set(source["columns"])
    for option in source.get("options", {}).values():
        columns |= set(option.get("columns", {})) | set(option.get("constants", {}))
    if "unpivot" in source:
        columns |= {source["unpivot"]["value_column"], source["unpivot"]["name_column"]}
    return columns


# --------------------------------------------------------------------------- dictionary
def read_dictionary(data: bytes, file: str) -> tuple[dict[str, tuple[str, dict]], list[Problem]]:
    """Field name → (field type, {code: label}) from a REDCap data dictionary."""
    table, problems = read_csv_bytes(data, file, "dictionary")
    if table is None:
        return {}, problems
    missing = [c for c in DICTIONARY_REQUIRED if c not in table.data.columns]
    if missing:
        return {}, [Problem(file, 1, c, "", "required column is missing") for c in missing]
    fields: dict[str, tuple[str, dict]] = {}
    for line, name, kind, choices in zip(
        table.lines, table.data[FIELD_NAME], table.data[FIELD_TYPE], table.data[CHOICES]
    ):
        kind = kind.strip().lower()
        codes: dict[str, str] = dict(FIXED_CHOICES.get(kind, {}))
        if kind in CHOICE_TYPES:
            for choice in (c for c in choices.split("|") if c.strip()):
                code, _, label = choice.partition(",")
                if not _:
                    problems.append(Problem(file, int(line), CHOICES, choice.strip(), "choice must be 'code, label'"))
                    continue
                codes[code.strip()] = label.strip()
        if name:
            fields[name] = (kind, codes)
    return fields, problems


# --------------------------------------------------------------------------- export
def _export_columns_missing(spec: dict, table: RawTable, fields: dict) -> list[Problem]:
    columns = set(table.data.columns)
    needed = {spec["record_id"]}
    for sources in spec["tables"].values():
        for source in sources:
            if "event" in source:
                needed.add(EVENT)
            if "instrument" in source:
                needed |= {INSTRUMENT, INSTANCE}
            needed |= {f for _, f in _source_fields(source)}
            if "checkbox" in source:
                needed |= {f"{source['checkbox']}___{code}" for code in source["options"]}
    return [
        Problem(table.file, 1, c, "", "column of the REDCap mapping is missing from the export")
        for c in sorted(needed - columns)
    ]


def _labelled(table: RawTable, fields: dict) -> tuple[pd.DataFrame, list[Problem]]:
    """Choice fields as labels (raw codes converted, labels kept); unknown codes are
    kept as they are and validated as canonical values later."""
    labels = table.data.copy()
    problems: list[Problem] = []
    for column in table.data.columns:
        field, _, code = column.partition("___")
        kind, choices = fields.get(field, ("", {}))
        values = table.data[column].astype(str)
        if kind == "checkbox" and code:
            ticked = values.isin(CHECKED)
            bad = ~ticked & ~values.isin(UNCHECKED)
            problems += [
                Problem(table.file, int(line), column, v, "checkbox value must be 1, 0, Checked or Unchecked")
                for line, v in zip(table.lines[bad.to_numpy()], values[bad])
            ]
            labels[column] = np.where(ticked, "1", "0")
        elif choices and not code:
            labels[column] = values.map(lambda v, c=choices: c.get(v, v))
    return labels, problems


def _rows_of(source: dict, data: pd.DataFrame) -> np.ndarray:
    """Positions of the export rows a source reads."""
    keep = np.ones(len(data), dtype=bool)
    if "event" in source:
        events = source["event"] if isinstance(source["event"], list) else [source["event"]]
        keep &= data[EVENT].isin(events).to_numpy()
    if "instrument" in source:
        keep &= (data[INSTRUMENT] == source["instrument"]).to_numpy()
    elif INSTRUMENT in data.columns:
        keep &= (data[INSTRUMENT] == "").to_numpy()
    return np.flatnonzero(keep)


class _Rows:
    """Canonical rows being built, each cell with its export line and REDCap field."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.cells: list[dict] = []
        self.lines: list[int] = []

    def add(self, line: int, cells: dict[str, tuple[str, str, int]]):
        self.cells.append(cells)
        self.lines.append(line)


def _value(source: dict, column: str, field: str, labels: dict[str, np.ndarray], row: int) -> str:
    value = str(labels[field][row])
    mapped = source.get("values", {}).get(column, {})
    return mapped.get(value, value)


def _build_table(name: str, sources: list[dict], table: RawTable, frame: pd.DataFrame, record_id: str) -> RawTable:
    columns = [c.name for c in TABLES[name].columns]
    labels = {c: frame[c].astype(str).to_numpy() for c in frame.columns}
    rows = _Rows(columns)
    lines = table.lines
    index_of: dict[str, int] = {}
    for position, source in enumerate(sources):
        for row in _rows_of(source, frame):
            line = int(lines[row])
            base = {c: (_value(source, c, f, labels, row), f, line) for c, f in source["columns"].items()}
            if name == "patients" and position > 0:
                patient_id = base.get("patient_id", ("", "", 0))[0]
                if patient_id in index_of:
                    rows.cells[index_of[patient_id]].update({k: v for k, v in base.items() if k != "patient_id"})
                    continue
            if "checkbox" in source:
                for code, option in source["options"].items():
                    if labels[f"{source['checkbox']}___{code}"][row] != "1":
                        continue
                    cells = dict(base)
                    cells.update({c: (v, "", line) for c, v in option.get("constants", {}).items()})
                    cells.update(
                        {c: (_value(source, c, f, labels, row), f, line) for c, f in option.get("columns", {}).items()}
                    )
                    rows.add(line, cells)
            elif "unpivot" in source:
                unpivot = source["unpivot"]
                for scale, field in unpivot["fields"].items():
                    value = labels[field][row]
                    if value == "":
                        continue
                    cells = dict(base)
                    cells[unpivot["name_column"]] = (scale, "", line)
                    cells[unpivot["value_column"]] = (value, field, line)
                    rows.add(line, cells)
            else:
                if name != "patients" and all(v == "" for c, (v, _, _) in base.items() if c != "patient_id"):
                    continue  # an empty instance
                rows.add(line, base)
                if name == "patients":
                    index_of.setdefault(base.get("patient_id", ("", "", 0))[0], len(rows.cells) - 1)
    n = len(rows.cells)
    data = pd.DataFrame({c: [cells.get(c, ("", "", 0))[0] for cells in rows.cells] for c in columns}, dtype=object)
    row_lines = np.array(rows.lines, dtype=np.int64)
    cell_lines = {
        c: np.array([cells.get(c, ("", "", line))[2] for cells, line in zip(rows.cells, rows.lines)], dtype=np.int64)
        for c in columns
    }
    cell_columns = {
        c: np.array([cells.get(c, ("", "", 0))[1] or _fallback(c, record_id) for cells in rows.cells], dtype=object)
        for c in columns
    }
    if not n:
        data = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return RawTable(name, table.file, data, row_lines, cell_lines=cell_lines, cell_columns=cell_columns)


def _fallback(column: str, record_id: str) -> str:
    return record_id if column == "patient_id" else column
