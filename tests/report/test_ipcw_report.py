"""The report's IPCW comparison (smanh.report.ipcw): values from the tables, released."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import FIXTURES
from smanh.report.display import ci
from smanh.report.ipcw import ipcw_comparison, ordinal
from smanh.survival.ipcw import IpcwOptions
from smanh.survival.ipcw_tables import ipcw_tables
from smanh.survival.km_tables import km_tables
from smanh.survival.model_tables import rmst_table

TEXT = {c: str for c in ("patient_id", "sma_type_group", "smn2_group", "sex", "site")}
ANALYSIS = {"censor_at_treatment": True, "landmark_ages": [1.0], "rmst_horizons": [2.0],
            "ipcw": {"interval_months": 3, "truncate_percentiles": [1, 99]}}


def _tables():
    intervals = pd.read_csv(FIXTURES / "ipcw" / "simulated_intervals.csv", dtype=TEXT, keep_default_na=False,
                            na_values={"score_HFMSE": [""], "score_CHOP_INTEND": [""]})
    patients = intervals.drop_duplicates("patient_id").assign(endpoint="death", excluded_reason="")
    summary, curves = km_tables(patients, ["all"], [1.0], min_at_risk=10)
    tables = {"km_summary": summary, "km_curves": curves, "rmst": rmst_table(patients, ["all"], [2.0], min_at_risk=10)}
    tables.update(ipcw_tables("death", intervals, IpcwOptions(), ["all"], [1.0], [2.0], min_at_risk=10))
    return tables


def test_side_by_side_values_come_from_the_tables():
    tables = _tables()
    shown = ipcw_comparison(tables, "death", ANALYSIS, 5)
    table = shown["table"].set_index("estimate")
    ipcw = tables["km_summary_ipcw"].iloc[0]
    assert table.loc["S(1 y) (95% CI)", "IPCW"] == ci(ipcw["s_1y"], ipcw["s_1y_lo"], ipcw["s_1y_hi"])
    curve = tables["km_curves"]
    i = np.searchsorted(curve["time_years"], 1.0, side="right") - 1
    natural = tables["km_summary"].iloc[0]
    assert table.loc["S(1 y) (95% CI)", "natural history"] == ci(natural["s_1y"], curve["lo"].iloc[i], curve["hi"].iloc[i])
    rmst = tables["rmst"].iloc[0]
    assert table.loc["RMST to 2 y (95% CI)", "natural history"] == ci(rmst["rmst"], rmst["lo"], rmst["hi"])
    assert table.loc["RMST to 2 y (95% CI)", "all follow-up"] == "—"  # no sensitivity tables given
    assert "person-intervals" in shown["weights"] and "truncated at" in shown["weights"]
    assert shown["truncate"] == "1st and 99th"


def test_estimates_of_fewer_than_t_events_are_not_shown():
    tables = _tables()
    events = int(tables["km_summary"]["events"].iloc[0])
    shown = ipcw_comparison(tables, "death", ANALYSIS, events + 1)["table"]
    assert list(shown["estimate"]) == ["patients (events)"]


def test_ordinal():
    assert [ordinal(v) for v in (1, 2, 3, 11, 22, 99, 2.5)] == ["1st", "2nd", "3rd", "11th", "22nd", "99th", "2.5th"]
