"""The report's progression parts: the summary quotes only natural-history rates of
modelled strata that are not flagged; the slope table puts the time scales side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.report.progression import _slope_table, summary_slopes


def _slopes() -> pd.DataFrame:
    rows = []
    for stratum, outside, floor, slope in [("1", False, False, -1.5), ("2", True, False, -0.5),
                                           ("3", False, True, -0.4), ("4", False, False, np.nan)]:
        for time_scale, rate in [("age", False), ("baseline_age_and_time", True)]:
            rows.append({"scale": "HFMSE", "stratify_by": "sma_type", "stratum": stratum,
                         "time_scale": time_scale, "natural_history_rate": rate,
                         "n_patients": 40 if stratum != "4" else 6, "n_assessments": 200,
                         "slope_per_year": slope + (0.1 if rate else 0), "lo": slope - 1,
                         "hi": slope + 1, "range_from": 2.0, "range_to": 9.0,
                         "outside_scale": outside, "floor_ceiling_flag": floor,
                         "note": "flag" if outside or floor else ""})
    return pd.DataFrame(rows)


def test_the_summary_leads_only_with_unflagged_natural_history_rates():
    quoted = summary_slopes(_slopes())
    assert [(q["stratum"], q["kind"]) for q in quoted] == [("sma type 1", "per year of follow-up")]
    assert quoted[0]["slope"].startswith("-1.40")
    # read back from CSV, the flags are text
    as_read = _slopes().astype({"natural_history_rate": str, "outside_scale": str,
                                "floor_ceiling_flag": str})
    assert summary_slopes(as_read) == quoted


def test_slopes_of_both_time_scales_side_by_side():
    table = _slope_table(_slopes(), {}, False, 5)
    assert len(table) == 4  # one row per stratum
    rate = [c for c in table.columns if "natural-history rate" in c]
    assert rate == ["longitudinal slope per year of follow-up (95% CI) — natural-history rate"]
    assert table.loc[0, "age slope per year (95% CI)"].startswith("-1.50")
    assert table.loc[0, rate[0]].startswith("-1.40")
    assert table.loc[3, "patients"] == "6" and table.loc[3, rate[0]] == "—"
