"""The survival-model parts of the report per endpoint: tests across strata, the
sensitivity analysis, Cox, cumulative incidence, RMST and parametric fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smanh.report.display import ci, display_table, embed_figure, format_number, suppress_count
from smanh.report.ipcw import ipcw_comparison

SURVIVAL_REPORT_TABLES = (
    "km_tests", "km_summary_sensitivity", "cox", "cuminc", "rmst", "parametric",
    "km_summary", "km_curves", "km_curves_sensitivity", "km_summary_ipcw", "ipcw_model",
)


def _rows_of(frame: pd.DataFrame | None, endpoint: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    return frame[frame["endpoint"] == endpoint].drop(columns="endpoint")


def cuminc_at(curves: pd.DataFrame, ages) -> pd.DataFrame:
    """Cumulative incidence (step function) at ``ages`` per stratum and state, and
    1 − Kaplan–Meier of the event beside it, from ``cuminc.csv``; empty outside the
    curve's estimable range (``from_age`` to ``to_age``)."""
    rows = []
    for (by, stratum, state), curve in curves.groupby(["stratify_by", "stratum", "state"], sort=False):
        times = curve["time_years"].to_numpy()
        start, end = float(curve["from_age"].iloc[0]), float(curve["to_age"].iloc[0])
        columns = [("cif", state.replace("_", " "))]
        if state == "event":
            columns.append(("one_minus_km", "1 − Kaplan–Meier (competing censored)"))
        for column, label in columns:
            values = curve[column].to_numpy()
            shown = {}
            for age in ages:
                idx = np.searchsorted(times, age, side="right") - 1
                inside = start <= age <= end
                shown[f"at {age:g} y"] = values[idx] if inside and idx >= 0 else (0.0 if inside else float("nan"))
            rows.append({"stratify_by": by, "stratum": stratum, "from age": start, "estimate": label, **shown})
    return pd.DataFrame(rows)


def survival_context(
    tables: dict[str, pd.DataFrame], parametric_figures, cuminc_figures, config: dict, min_cell_count: int
) -> dict:
    """Per endpoint: display tables of the tests across strata, the sensitivity analysis,
    Cox (HR with CI and PH flag), cumulative incidence at the landmark ages, RMST and the
    parametric AIC table; and the parametric figure. Counts below ``min_cell_count`` are
    suppressed; every number is from ``results/tables/``."""
    analysis = config["analysis"]
    figures = {Path(f).stem.removeprefix("parametric_"): embed_figure(f) for f in parametric_figures}
    incidence = {Path(f).stem.removeprefix("cuminc_"): embed_figure(f) for f in cuminc_figures}
    context = {}
    for name in figures or list(_endpoint_names(tables)):
        out = {"parametric_figure": figures.get(name), "cuminc_figure": incidence.get(name)}
        tests = _rows_of(tables.get("km_tests"), name)
        out["tests"] = display_table(tests[["stratify_by", "strata", "n", "events", "chisq", "df", "p", "note"]],
                                     min_cell_count, 3) if len(tests) else None
        sens = _rows_of(tables.get("km_summary_sensitivity"), name)
        out["sensitivity"] = display_table(
            sens[["stratify_by", "stratum", "n", "events", "median_years", "median_lo", "median_hi"]],
            min_cell_count) if len(sens) else None
        out["ipcw"] = ipcw_comparison(tables, name, analysis, min_cell_count)
        cox = _rows_of(tables.get("cox"), name)
        if len(cox):
            shown = pd.DataFrame({
                "model": cox["model"], "term": cox["term"].fillna(""),
                "reference": cox["reference"].fillna(""),
                "n": [suppress_count(v, min_cell_count) for v in cox["n"]],
                "events": [suppress_count(v, min_cell_count) for v in cox["events"]],
                "HR (95% CI)": [ci(h, lo, hi) for h, lo, hi in zip(cox["hr"], cox["hr_lo"], cox["hr_hi"])],
                "p": [format_number(v, 3) for v in cox["p"]],
                "PH test p": [format_number(v, 3) for v in cox["ph_p"]],
                "PH": ["violated" if v is True or v == 1 or str(v) == "True" else ("" if pd.isna(v) else "ok")
                       for v in cox["ph_violated"]],
                "note": cox["note"].fillna(""),
            })
            out["cox"] = shown
        else:
            out["cox"] = None
        cuminc = _rows_of(tables.get("cuminc"), name)
        out["cuminc"] = (display_table(cuminc_at(cuminc, analysis["landmark_ages"]), min_cell_count, 3)
                         if len(cuminc) else None)
        rmst = _rows_of(tables.get("rmst"), name)
        if len(rmst):
            out["rmst"] = pd.DataFrame({
                "stratify_by": rmst["stratify_by"], "stratum": rmst["stratum"],
                "tau": [format_number(v, 0) for v in rmst["tau"]],
                "n": [suppress_count(v, min_cell_count) for v in rmst["n"]],
                "RMST (95% CI)": [ci(e, lo, hi) for e, lo, hi in zip(rmst["rmst"], rmst["lo"], rmst["hi"])],
                "difference vs reference (95% CI)": [
                    "" if pd.isna(r) else f"{ci(e, lo, hi)} vs {r}"
                    for e, lo, hi, r in zip(rmst["difference"], rmst["difference_lo"],
                                            rmst["difference_hi"], rmst["reference"])],
            })
        else:
            out["rmst"] = None
        parametric = _rows_of(tables.get("parametric"), name)
        out["parametric"] = display_table(
            parametric[["stratify_by", "stratum", "dist", "n", "events", "aic", "bic", "delta_aic",
                        "median_years", "note"]].fillna({"note": ""}),
            min_cell_count, 1) if len(parametric) else None
        context[name] = out
    return context


def _endpoint_names(tables: dict[str, pd.DataFrame]) -> list[str]:
    names: list[str] = []
    for frame in tables.values():
        if frame is not None and "endpoint" in frame:
            names += [n for n in dict.fromkeys(frame["endpoint"]) if n not in names]
    return names
