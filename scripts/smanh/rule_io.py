"""What every rule script does around its work: log to the rule's log file, and turn the
project's own errors into a clear message instead of a traceback."""

from __future__ import annotations

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
    """Run ``work`` with stderr going to ``log_path``; a ``SmanhError`` ends the job with
    its message (in the log and on the console) and exit status 1.

    With the environment variable ``SMANH_PROFILE`` set to a folder, ``work`` runs under
    cProfile and its statistics go to ``<folder>/<log name>.prof`` (benchmarks/README.md)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
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


def _profiled(work: Callable[[], None], folder: Path, log_path: Path) -> None:
    import cProfile

    folder.mkdir(parents=True, exist_ok=True)
    name = "_".join(log_path.with_suffix("").parts[-2:])  # e.g. survival_endpoint_death
    with cProfile.Profile() as profile:
        work()
    profile.dump_stats(folder / f"{name}.prof")


# Count columns of the contract's tables: written as whole numbers even where a missing
# value made the column float, so that every part of a gathered table (smanh.gather)
# writes them alike.
COUNT_COLUMNS = frozenset({"n", "k", "events", "at_risk", "total", "df", "strata"})


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Exact numbers (counts as whole numbers), empty fields for missing values (never
    'nan' or 'inf')."""
    import numpy as np

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame = frame.replace([math.inf, -math.inf], math.nan)
    for column in frame.columns:
        values = frame[column]
        if (
            (column in COUNT_COLUMNS or str(column).startswith("n_"))
            and values.dtype.kind == "f"
            and np.all(np.mod(values.dropna(), 1) == 0)
        ):
            frame[column] = values.astype("Int64")
    frame.to_csv(path, index=False, na_rep="", lineterminator="\n")


def read_csv(path: str | Path) -> pd.DataFrame:
    """A table written by ``write_csv``: empty fields are missing, nothing else is; numbers
    exactly as written (pandas' default parser can be off in the last bit)."""
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False, na_values=[""], float_precision="round_trip")


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
