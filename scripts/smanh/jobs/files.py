"""The files the rules write and read: exact CSV tables, typed Parquet, JSON.

pandas, numpy and pyarrow are imported inside the functions that need them: the gather
and report jobs import this module and some of them never touch a table."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from smanh.errors import SmanhError

if TYPE_CHECKING:
    import pandas as pd


def write_csv(frame: pd.DataFrame, path: str | Path | io.BufferedIOBase) -> None:
    """Exact numbers, each in its shortest form that reads back to the same double (whole
    numbers without a decimal point, so counts read as counts: ``12``, ``0.5``, ``1e-07``
    is ``1e-7``); empty fields for missing values (never 'nan' or 'inf'); text quoted only
    where it must be (comma, quote or line break), as the csv module does.

    Formatted column by column by pyarrow: at registry scale the curve tables have millions
    of numbers, and pandas' ``to_csv`` spent seconds on them (benchmarks/README.md)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = [",".join(_quoted_text(str(column)) for column in frame.columns).encode() + b"\n"]
    if len(frame):
        fields = [_csv_field(frame[column]) for column in frame.columns]
        rows = pc.binary_join_element_wise(
            *fields, ",", null_handling="replace", null_replacement=""
        )
        rows = pc.binary_join_element_wise(rows, "", "\n").cast(pa.large_string())
        offsets = memoryview(rows.buffers()[1]).cast("q")  # int64 row offsets into the data
        lines.append(rows.buffers()[2][offsets[rows.offset] : offsets[rows.offset + len(rows)]])
    if isinstance(path, io.IOBase):
        path.writelines(lines)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.writelines(lines)


def _csv_field(values: pd.Series):
    """One column as a pyarrow string array, null where the field is empty."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return pa.array(np.where(values.to_numpy(dtype=bool), "True", "False"))
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = pa.array(values, from_pandas=True)  # NaN and pd.NA as null
        if pa.types.is_floating(numbers.type):
            numbers = pc.if_else(pc.is_finite(numbers), numbers, None)  # no 'inf' in a table
        return pc.cast(numbers, pa.string())
    try:  # text columns: converted by pyarrow directly
        text = pa.array(values.astype(object), from_pandas=True, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # other objects (True, 2.5, ...) as str() gives them
        missing = values.isna().to_numpy()
        text = pa.array([None if m else str(v) for v, m in zip(values, missing)], pa.string())
    special = '[",\r\n]'
    if not pc.any(pc.match_substring_regex(text.unique(), special)).as_py():
        return text  # the common case, told from the distinct values alone
    must_quote = pc.match_substring_regex(text, special)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(must_quote, quoted, text)


def _quoted_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in '",\r\n') else text


def read_csv(path: str | Path | io.BufferedIOBase) -> pd.DataFrame:
    """A table written by ``write_csv``: empty fields are missing, nothing else is; numbers
    exactly as written (pandas' default parser can be off in the last bit). Parsed by
    pyarrow (exact, and several times faster than the C parser's exact mode); missing text
    as NaN, as the C parser gives it (tests/jobs/test_files.py)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path, engine="pyarrow", keep_default_na=False, na_values=[""])
    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].where(frame[column].notna(), np.nan)
    return frame


def write_parquet(frame: pd.DataFrame, path: str | Path, row_groups_by: str | None = None) -> None:
    """Typed Parquet. With ``row_groups_by``, one row group per value of that column (rows
    grouped by value in order of first appearance, in their order within): a job that reads
    one value (``filters=[(column, "==", value)]``) then skips the others' row groups by
    their statistics instead of decoding the whole table (7 endpoints, 6 scales)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from smanh.cohort.strata import grouped_rows  # deferred: pandas, which gather jobs never load

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if row_groups_by is None or frame.empty:
        frame.to_parquet(path, index=False)
        return
    _, rows, bounds = grouped_rows(frame[row_groups_by])
    table = pa.Table.from_pandas(frame.iloc[rows], preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:
        for start, stop in zip(bounds[:-1], bounds[1:]):
            writer.write_table(table.slice(start, stop - start))


def write_json(data, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(json_safe(data), handle, indent=2, sort_keys=False, allow_nan=False)
        handle.write("\n")


def json_safe(value):
    """NaN and infinities as null; numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as :func:`read_csv` reads it back after :func:`write_csv`: figures are
    drawn from the tables as written, so that they show exactly what the files hold."""
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    buffer.seek(0)
    return read_csv(buffer)


def concat_csv(parts, out: str | Path) -> None:
    """Write the rows of every CSV file in ``parts`` under their common header to ``out``:
    their text joined, not parsed and re-written (at registry scale that took seconds)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = None
    with open(out, "wb") as target:
        for part in parts:
            with open(part, "rb") as source:
                first = source.readline()
                if header is None:
                    header = first
                    target.write(first)
                elif first != header:
                    raise SmanhError(
                        f"{part}: its header {first.decode().strip()!r} differs from "
                        f"{header.decode().strip()!r} of the other parts of {out.name}"
                    )
                shutil.copyfileobj(source, target)


def write_tables(tables: dict[str, pd.DataFrame], outputs) -> None:
    """Each table to the output of its name (a rule's ``snakemake.output``)."""
    for name, table in tables.items():
        write_csv(table, outputs[name])
