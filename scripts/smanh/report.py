"""The self-contained reviewer report: one HTML file, figures embedded, counts suppressed.

Every number shown comes from ``results/tables/`` or ``results/summary.json``; counts
below ``min_cell_count`` are shown as ``<N``. No patient identifier or date is passed to
the template.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from smanh.data_quality import display_sections
from smanh.flow_diagram import strobe_flow_svg
from smanh.endpoints import EXCLUSION_REASONS, endpoint

COUNT_COLUMNS = ("n", "events", "at_risk")


def suppress_count(value, min_cell_count: int) -> str:
    """A count as shown in the report: ``<min`` below the threshold."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = int(value)
    return f"<{min_cell_count}" if value < min_cell_count else f"{value:,}"


def format_number(value, digits: int = 2) -> str:
    """Estimates to ``digits`` decimals; not reached / not estimable as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def display_table(frame: pd.DataFrame, min_cell_count: int, digits: int = 2) -> pd.DataFrame:
    """The table with counts suppressed and estimates rounded, all as text."""
    shown = frame.copy().astype(object)
    for column in frame.columns:
        if column in COUNT_COLUMNS:
            shown[column] = [suppress_count(v, min_cell_count) for v in frame[column]]
        elif pd.api.types.is_float_dtype(frame[column]):
            shown[column] = [format_number(v, digits) for v in frame[column]]
    return shown


def embed_png(path: str | Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def methods_context(config: dict) -> dict:
    analysis = config["analysis"]
    return {
        "endpoints": [
            {"name": spec.name, "description": spec.description + (
                f" (time since {spec.time_origin})" if spec.time_origin != "birth" else "")}
            for spec in map(endpoint, analysis["endpoints"])
        ],
        "censor_at_treatment": analysis["censor_at_treatment"],
        "landmark_ages": analysis["landmark_ages"],
        "confidence_level": analysis["confidence_level"],
        "stratify_by": analysis["stratify_by"],
        "exclusion_reasons": EXCLUSION_REASONS,
        "min_stratum_size": analysis.get("min_stratum_size", 1),
        "ph_alpha": analysis.get("ph_alpha", 0.05),
    }


def render_report(
    template_path: str | Path,
    *,
    title: str,
    summary: dict,
    cohort_flow: pd.DataFrame,
    km_summary: pd.DataFrame,
    figures: list[str | Path],
    min_cell_count: int,
    data_quality: pd.DataFrame | None = None,
    survival: dict[str, pd.DataFrame] | None = None,
    parametric_figures: list[str | Path] | None = None,
    progression: dict | None = None,
) -> str:
    """Render the HTML report from the run's tables, summary and figures."""
    template_path = Path(template_path)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path.parent),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template(template_path.name)
    km_by_endpoint = {
        name: display_table(rows.drop(columns="endpoint"), min_cell_count)
        for name, rows in km_summary.groupby("endpoint", sort=False)
    }
    return template.render(
        title=title,
        summary=summary,
        min_cell_count=min_cell_count,
        methods=methods_context(summary["config"]),
        cohort_flow=display_table(cohort_flow, min_cell_count),
        flow_diagram=strobe_flow_svg(cohort_flow, min_cell_count),
        data_quality=display_sections(data_quality, min_cell_count) if data_quality is not None else [],
        km_by_endpoint=km_by_endpoint,
        figures={Path(f).stem.removeprefix("km_"): embed_png(f) for f in figures},
        survival=survival_context(
            survival or {}, parametric_figures or [], summary["config"], min_cell_count
        ),
        config_yaml=yaml.safe_dump(summary["config"], sort_keys=False),
        progression=progression or {},
    )


# --------------------------------------------------------------------------- survival models
SURVIVAL_REPORT_TABLES = (
    "km_tests", "km_summary_sensitivity", "cox", "cuminc", "rmst", "parametric",
)


def _rows_of(frame: pd.DataFrame | None, endpoint: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    return frame[frame["endpoint"] == endpoint].drop(columns="endpoint")


def _ci(estimate, lo, hi, digits: int = 2) -> str:
    if estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return "—"
    return f"{format_number(estimate, digits)} ({format_number(lo, digits)} to {format_number(hi, digits)})"


def cuminc_at(curves: pd.DataFrame, ages) -> pd.DataFrame:
    """Cumulative incidence (step function) at ``ages`` per stratum and state, from
    ``cuminc.csv``; empty beyond the last time of the curve."""
    rows = []
    for (by, stratum, state), curve in curves.groupby(["stratify_by", "stratum", "state"], sort=False):
        times, cif = curve["time_years"].to_numpy(), curve["cif"].to_numpy()
        values = {}
        for age in ages:
            idx = np.searchsorted(times, age, side="right") - 1
            values[f"at {age:g} y"] = (
                float("nan") if age > times[-1] else (cif[idx] if idx >= 0 else 0.0)
            )
        rows.append({"stratify_by": by, "stratum": stratum, "state": state, **values})
    return pd.DataFrame(rows)


def survival_context(
    tables: dict[str, pd.DataFrame], parametric_figures, config: dict, min_cell_count: int
) -> dict:
    """Per endpoint: display tables of the tests across strata, the sensitivity analysis,
    Cox (HR with CI and PH flag), cumulative incidence at the landmark ages, RMST and the
    parametric AIC table; and the parametric figure. Counts below ``min_cell_count`` are
    suppressed; every number is from ``results/tables/``."""
    analysis = config["analysis"]
    figures = {Path(f).stem.removeprefix("parametric_"): embed_png(f) for f in parametric_figures}
    context = {}
    for endpoint in figures or [name for name in _endpoint_names(tables)]:
        out = {"parametric_figure": figures.get(endpoint)}
        tests = _rows_of(tables.get("km_tests"), endpoint)
        out["tests"] = display_table(tests[["stratify_by", "strata", "n", "events", "chisq", "df", "p", "note"]],
                                     min_cell_count, 3) if len(tests) else None
        sens = _rows_of(tables.get("km_summary_sensitivity"), endpoint)
        out["sensitivity"] = display_table(
            sens[["stratify_by", "stratum", "n", "events", "median_years", "median_lo", "median_hi"]],
            min_cell_count) if len(sens) else None
        cox = _rows_of(tables.get("cox"), endpoint)
        if len(cox):
            shown = pd.DataFrame({
                "model": cox["model"], "term": cox["term"].fillna(""),
                "reference": cox["reference"].fillna(""),
                "n": [suppress_count(v, min_cell_count) for v in cox["n"]],
                "events": [suppress_count(v, min_cell_count) for v in cox["events"]],
                "HR (95% CI)": [_ci(h, lo, hi) for h, lo, hi in zip(cox["hr"], cox["hr_lo"], cox["hr_hi"])],
                "p": [format_number(v, 3) for v in cox["p"]],
                "PH test p": [format_number(v, 3) for v in cox["ph_p"]],
                "PH": ["violated" if v is True or v == 1 or str(v) == "True" else ("" if pd.isna(v) else "ok")
                       for v in cox["ph_violated"]],
                "note": cox["note"].fillna(""),
            })
            out["cox"] = shown
        else:
            out["cox"] = None
        cuminc = _rows_of(tables.get("cuminc"), endpoint)
        out["cuminc"] = (display_table(cuminc_at(cuminc, analysis["landmark_ages"]), min_cell_count, 3)
                         if len(cuminc) else None)
        rmst = _rows_of(tables.get("rmst"), endpoint)
        if len(rmst):
            out["rmst"] = pd.DataFrame({
                "stratify_by": rmst["stratify_by"], "stratum": rmst["stratum"],
                "tau": [format_number(v, 0) for v in rmst["tau"]],
                "n": [suppress_count(v, min_cell_count) for v in rmst["n"]],
                "RMST (95% CI)": [_ci(e, lo, hi) for e, lo, hi in zip(rmst["rmst"], rmst["lo"], rmst["hi"])],
                "difference vs reference (95% CI)": [
                    "" if pd.isna(r) else f"{_ci(e, lo, hi)} vs {r}"
                    for e, lo, hi, r in zip(rmst["difference"], rmst["difference_lo"],
                                            rmst["difference_hi"], rmst["reference"])],
            })
        else:
            out["rmst"] = None
        parametric = _rows_of(tables.get("parametric"), endpoint)
        out["parametric"] = display_table(
            parametric[["stratify_by", "stratum", "dist", "n", "events", "aic", "bic", "delta_aic",
                        "median_years", "note"]].fillna({"note": ""}),
            min_cell_count, 1) if len(parametric) else None
        context[endpoint] = out
    return context


def _endpoint_names(tables: dict[str, pd.DataFrame]) -> list[str]:
    names: list[str] = []
    for frame in tables.values():
        if frame is not None and "endpoint" in frame:
            names += [n for n in dict.fromkeys(frame["endpoint"]) if n not in names]
    return names
