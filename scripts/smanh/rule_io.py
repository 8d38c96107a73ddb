"""What every rule script does around its work: log to the rule's log file, and turn the
project's own errors into a clear message instead of a traceback."""

from __future__ import annotations

import gc
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smanh.errors import SmanhError

if TYPE_CHECKING:  # pandas is imported where tables are read or written (not by gather jobs)
    import pandas as pd


def run_rule(work: Callable[[], None], log_path: str | Path) -> None:
    """Run ``work`` with stderr going to ``log_path``, then end the job's process (exit
    status 0; see :func:`_exit_now`); a ``SmanhError`` ends it with its message (in the
    log and on the console) and exit status 1. Call it last in a rule script.

    With the environment variable ``SMANH_PROFILE`` set to a folder, ``work`` runs under
    cProfile and its statistics go to ``<folder>/<log name>.prof`` (benchmarks/README.md)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    # The rule scripts import with the cyclic collector off (a tenth of a second per job).
    # The imported modules are then frozen out of its reach: each full collection during
    # the work would otherwise walk them all again.
    gc.freeze()
    gc.enable()
    console = sys.stderr
    with open(log_path, "w", encoding="utf-8") as log:
        sys.stderr = log
        try:
            if os.environ.get("SMANH_PROFILE"):
                _profiled(work, Path(os.environ["SMANH_PROFILE"]), Path(log_path))
            else:
                work()
        except SmanhError as err:
            message = f"ERROR: {err}\n"
            log.write(message)
            console.write(message)
            sys.stderr = console
            raise SystemExit(1) from None
        finally:
            sys.stderr = console
    _exit_now()


def _exit_now() -> None:
    """End the job without tearing the interpreter down: freeing every table, figure and
    module one object at a time took about 0.6 s per job at registry scale, for nothing a
    finished job needs. Every file is closed by now; the console streams are flushed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _profiled(work: Callable[[], None], folder: Path, log_path: Path) -> None:
    import cProfile

    folder.mkdir(parents=True, exist_ok=True)
    name = "_".join(log_path.with_suffix("").parts[-2:])  # e.g. survival_endpoint_death
    with cProfile.Profile() as profile:
        work()
    profile.dump_stats(folder / f"{name}.prof")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Exact numbers, each in its shortest form that reads back to the same double (whole
    numbers without a decimal point, so counts read as counts: ``12``, ``0.5``, ``1e-07``
    is ``1e-7``); empty fields for missing values (never 'nan' or 'inf'); text quoted only
    where it must be (comma, quote or line break), as the csv module does.

    Formatted column by column by pyarrow: at registry scale the curve tables have millions
    of numbers, and pandas' ``to_csv`` spent seconds on them (benchmarks/README.md)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(_quoted_text(str(column)) for column in frame.columns).encode() + b"\n"]
    if len(frame):
        fields = [_csv_field(frame[column]) for column in frame.columns]
        rows = pc.binary_join_element_wise(
            *fields, ",", null_handling="replace", null_replacement=""
        )
        rows = pc.binary_join_element_wise(rows, "", "\n").cast(pa.large_string())
        offsets = memoryview(rows.buffers()[1]).cast("q")  # int64 row offsets into the data
        lines.append(rows.buffers()[2][offsets[rows.offset] : offsets[rows.offset + len(rows)]])
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


def read_csv(path: str | Path) -> pd.DataFrame:
    """A table written by ``write_csv``: empty fields are missing, nothing else is; numbers
    exactly as written (pandas' default parser can be off in the last bit). Parsed by
    pyarrow (exact, and several times faster than the C parser's exact mode); missing text
    as NaN, as the C parser gives it (tests/test_rule_io.py)."""
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

    from smanh.strata import grouped_rows

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
