"""Person-intervals of the natural-history follow-up, for the inverse-probability-of-
censoring-weighted (IPCW) sensitivity analysis (README, "Analysis definitions";
:mod:`smanh.survival.ipcw` fits the models and the weighted curves).

Each analysed patient's natural-history follow-up ``(entry, exit]`` of an endpoint (censored
at the first treatment) is split at the multiples of ``width`` years of the endpoint's time
scale into rows ``(start, stop]``. A row carries ``status`` = 1 if the endpoint event ends it,
``treated`` = 1 if the first treatment ends it (the follow-up's exit reason is
``treatment``), and the covariates of the treatment model at its ``start``: age (years
since birth), calendar year (decimal), and for each of the motor scales the latest score
recorded at or before ``start`` (last observation carried forward; NaN before the first).
The patient's own columns (strata, entry, exit, event) repeat on each row.

Examples
--------
>>> split_points(0.1, 0.6, 0.25).tolist()
[0.1, 0.25, 0.5, 0.6]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.config.endpoints import TIME_ORIGINS, endpoint
from smanh.config.units import DAYS_PER_YEAR

PATIENT_COLUMNS = ["patient_id", "sma_type_group", "smn2_group", "sex", "site", "birth_year",
                   "entry_age", "exit_age", "event"]
INTERVAL_COLUMNS = ["endpoint", *PATIENT_COLUMNS, "start", "stop", "status", "treated", "age",
                    "calendar_year"]


def score_column(scale: str) -> str:
    return f"score_{scale}"


def split_points(entry: float, exit_: float, width: float) -> np.ndarray:
    """``entry``, the multiples of ``width`` strictly between, ``exit``."""
    inner = np.arange(np.floor(entry / width) + 1, np.ceil(exit_ / width)) * width
    return np.concatenate([[entry], inner[(inner > entry) & (inner < exit_)], [exit_]])


def person_intervals(
    dataset: pd.DataFrame,
    patients: pd.DataFrame,
    assessments: pd.DataFrame,
    endpoint_specs: list,
    width: float,
    scales: list[str],
) -> pd.DataFrame:
    """Person-interval rows of every endpoint of ``dataset`` (natural-history mode: full
    analysis-dataset rows, ``patient_id`` and ``exit_reason`` included). ``patients`` and
    ``assessments`` are the canonical tables; ``width`` in years."""
    parts = list(endpoint_intervals(dataset, patients, assessments, endpoint_specs, width, scales))
    if not parts:
        columns = INTERVAL_COLUMNS + [score_column(s) for s in scales]
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in columns})
    return pd.concat(parts, ignore_index=True)


def endpoint_intervals(dataset, patients, assessments, endpoint_specs, width, scales) -> Iterator[pd.DataFrame]:
    """:func:`person_intervals`, one endpoint at a time (endpoints without analysed patients
    give nothing)."""
    specs = {spec.name: spec for spec in (endpoint(s) for s in endpoint_specs)}
    people = patients.set_index("patient_id")
    birth = people["birth_date"].astype("datetime64[ns]")
    scores = _scores_in_days(assessments, birth, scales)
    columns = INTERVAL_COLUMNS + [score_column(s) for s in scales]
    for name, rows in dataset[dataset["excluded_reason"] == ""].groupby("endpoint", sort=False):
        origin_column = TIME_ORIGINS[specs[name].time_origin] if name in specs else "birth_date"
        origin = people[origin_column].astype("datetime64[ns]")
        origin_days = ((origin - birth).dt.days).reindex(rows["patient_id"]).to_numpy(float)
        part = _split(name, rows, origin_days, birth.reindex(rows["patient_id"]), width, scores, scales)
        yield part[columns]


def _dtype(column: str) -> str:
    if column in ("endpoint", "patient_id", "sma_type_group", "smn2_group", "sex", "site"):
        return "object"
    return "int64" if column in ("event", "status", "treated") else "float64"


def _split(name, rows, origin_days, birth, width, scores, scales) -> pd.DataFrame:
    entry = rows["entry_age"].to_numpy(float)
    exit_ = rows["exit_age"].to_numpy(float)
    first = np.floor(entry / width) + 1  # first grid index strictly after entry
    last = np.ceil(exit_ / width) - 1  # last grid index strictly before exit
    inner = np.maximum(last - first + 1, 0).astype(int)
    count = inner + 1
    patient = np.repeat(np.arange(len(rows)), count)
    position = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    grid = (first[patient] + position) * width  # the boundary that ends each row but the last
    is_last = position == count[patient] - 1
    is_first = position == 0
    stop = np.where(is_last, exit_[patient], grid)
    start = np.where(is_first, entry[patient], (first[patient] + position - 1) * width)
    out = pd.DataFrame({"endpoint": np.full(len(patient), name, dtype=object)})
    for column in PATIENT_COLUMNS:
        out[column] = rows[column].to_numpy()[patient]
    out["start"], out["stop"] = start, stop
    out["status"] = (is_last & (rows["event"].to_numpy()[patient] == 1)).astype(int)
    treated = (rows["exit_reason"].to_numpy() == "treatment") & (rows["event"].to_numpy() == 0)
    out["treated"] = (is_last & treated[patient]).astype(int)
    age_days = origin_days[patient] + start * DAYS_PER_YEAR  # days since birth at start
    out["age"] = age_days / DAYS_PER_YEAR
    born = birth.to_numpy()
    year = pd.DatetimeIndex(born).year.to_numpy(float)
    day = pd.DatetimeIndex(born).dayofyear.to_numpy(float)
    out["calendar_year"] = (year + (day - 1) / DAYS_PER_YEAR)[patient] + out["age"].to_numpy()
    out["_day"] = np.floor(age_days + 1e-6)
    for scale in scales:
        out[score_column(scale)] = _carried_forward(out, scores.get(scale))
    return out.drop(columns="_day")


def _scores_in_days(assessments: pd.DataFrame, birth: pd.Series, scales: list[str]) -> dict[str, pd.DataFrame]:
    """Per scale: ``patient_id``, ``_day`` (days since birth), ``score``, sorted by day."""
    out = {}
    if assessments is None or assessments.empty or not scales:
        return out
    dates = assessments["date"].astype("datetime64[ns]")
    days = (dates - birth.reindex(assessments["patient_id"]).to_numpy()).dt.days
    frame = pd.DataFrame({"patient_id": assessments["patient_id"].to_numpy(), "scale": assessments["scale"],
                          "_day": days.to_numpy(float), "score": pd.to_numeric(assessments["score"], errors="coerce")})
    frame = frame.dropna(subset=["_day", "score"])
    for scale in scales:
        # the last score of a day when several were recorded that day
        rows = frame[frame["scale"] == scale].drop(columns="scale").sort_values(["_day"], kind="stable")
        out[scale] = rows.drop_duplicates(["patient_id", "_day"], keep="last").reset_index(drop=True)
    return out


def _carried_forward(rows: pd.DataFrame, scores: pd.DataFrame | None) -> np.ndarray:
    """The latest score at or before each row's ``_day`` (NaN before the first)."""
    if scores is None or scores.empty or rows.empty:
        return np.full(len(rows), np.nan)
    left = pd.DataFrame({"patient_id": rows["patient_id"].astype(str).to_numpy(),
                         "_day": rows["_day"].to_numpy(float), "_row": np.arange(len(rows))})
    right = scores.assign(patient_id=scores["patient_id"].astype(str))
    merged = pd.merge_asof(left.sort_values("_day", kind="stable"), right, on="_day", by="patient_id",
                           direction="backward", allow_exact_matches=True)
    out = np.full(len(rows), np.nan)
    out[merged["_row"].to_numpy()] = merged["score"].to_numpy(float)
    return out


def write_intervals(parts: Iterable[pd.DataFrame] | pd.DataFrame, path) -> None:
    """As Parquet, a row group per endpoint (each survival job reads only its own), written
    one endpoint at a time: at registry scale the intervals of every endpoint together would
    not fit in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(parts, pd.DataFrame):
        parts = [parts] if parts.empty else [rows for _, rows in parts.groupby("endpoint", sort=False)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for part in parts:
            table = pa.Table.from_pandas(part, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no endpoint with analysed patients
        pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in INTERVAL_COLUMNS}).to_parquet(path, index=False)


def read_endpoint_intervals(path, endpoint_name: str) -> pd.DataFrame:
    """One endpoint's rows of a file written by :func:`write_intervals`."""
    table = pd.read_parquet(path, filters=[("endpoint", "==", endpoint_name)])
    return table[table["endpoint"] == endpoint_name].reset_index(drop=True)
