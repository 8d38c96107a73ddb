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
from smanh.disclosure import show_count, show_group
from smanh.flow_diagram import strobe_flow_svg
from smanh.endpoints import EXCLUSION_REASONS, endpoint

COUNT_COLUMNS = ("n", "events", "at_risk")


def suppress_count(value, min_cell_count: int) -> str:
    """A count as shown in the report: ``<min`` below the threshold."""
    return show_count(value, min_cell_count)


def format_number(value, digits: int = 2) -> str:
    """Estimates to ``digits`` decimals; not reached / not estimable as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def display_table(
    frame: pd.DataFrame, min_cell_count: int, digits: int = 2, groups: list[str] | None = None
) -> pd.DataFrame:
    """The table with counts suppressed and estimates rounded, all as text.

    ``groups``: columns whose rows' counts add up to a total shown too (strata of one
    stratification, steps of one endpoint); within each, complementary suppression.
    """
    shown = frame.copy().astype(object)
    for column in frame.columns:
        if column in COUNT_COLUMNS:
            shown[column] = _counts_shown(frame, column, min_cell_count, groups)
        elif pd.api.types.is_float_dtype(frame[column]):
            shown[column] = [format_number(v, digits) for v in frame[column]]
    return shown


def _counts_shown(frame: pd.DataFrame, column: str, min_cell_count: int, groups) -> list[str]:
    if not groups:
        return [show_count(v, min_cell_count) for v in frame[column]]
    shown = pd.Series("", index=frame.index, dtype=object)
    for _, rows in frame.groupby(groups, sort=False):
        shown[rows.index] = show_group(list(rows[column]), min_cell_count)
    return list(shown)


def embed_figure(path: str | Path) -> str:
    """A figure's SVG as a data URI for an ``<img>``: vector in the report and its PDF, and
    in a document of its own (inline, the figures' element ids could clash)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/svg+xml;base64,{data}"


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
    tables: dict[str, pd.DataFrame],
    figures: dict[str, list[str | Path]],
    min_cell_count: int,
    progression: dict | None = None,
) -> str:
    """Render the HTML report from the run's tables (``results/tables/``), summary and
    figures. ``figures``: ``km``, ``parametric`` (one per endpoint) and ``cox_forest``."""
    template_path = Path(template_path)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path.parent),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template(template_path.name)
    km_summary = tables["km_summary"]
    km_by_endpoint = {
        name: display_table(rows.drop(columns="endpoint"), min_cell_count, groups=["stratify_by"])
        for name, rows in km_summary.groupby("endpoint", sort=False)
    }
    config = summary["config"]
    return template.render(
        title=title,
        summary=summary,
        min_cell_count=min_cell_count,
        methods=methods_context(config),
        key_results=key_results(km_summary, tables.get("lmm_slopes"), min_cell_count),
        cohort_flow=display_table(tables["cohort_flow"], min_cell_count, groups=["endpoint"]),
        flow_diagram=strobe_flow_svg(tables["cohort_flow"], min_cell_count),
        table1=table1_display(tables["table1"], min_cell_count),
        data_quality=display_sections(tables["data_quality"], min_cell_count),
        km_by_endpoint=km_by_endpoint,
        figures={Path(f).stem.removeprefix("km_"): embed_figure(f) for f in figures["km"]},
        cox_forest=embed_figure(figures["cox_forest"]),
        survival=survival_context(
            {name: tables.get(name) for name in SURVIVAL_REPORT_TABLES},
            figures["parametric"], config, min_cell_count,
        ),
        comparison=comparison_display(tables["published_comparison"]),
        warnings=warnings(tables, summary, min_cell_count),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
        progression=progression or {},
    )


def key_results(km_summary: pd.DataFrame, lmm_slopes: pd.DataFrame | None, min_cell_count: int) -> dict:
    """The summary's sentences: per endpoint the overall median, per scale the slopes."""
    overall = km_summary[km_summary["stratify_by"] == "all"]
    endpoints = [
        {
            "endpoint": r.endpoint.replace("_", " "),
            "n": show_count(r.n, min_cell_count),
            "events": show_count(r.events, min_cell_count),
            "median": _ci(r.median_years, r.median_lo, r.median_hi),
        }
        for r in overall.itertuples()
    ]
    slopes = []
    if lmm_slopes is not None and len(lmm_slopes):
        for r in lmm_slopes.dropna(subset=["slope_per_year"]).itertuples():
            slopes.append({"scale": r.scale, "stratum": f"{r.stratify_by.replace('_', ' ')} {r.stratum}",
                           "slope": _ci(r.slope_per_year, r.lo, r.hi)})
    return {"endpoints": endpoints, "slopes": slopes}


TABLE1_LABELS = {
    "patients": "Patients", "sex": "Sex", "smn2_copies": "SMN2 copies",
    "age_at_onset": "Age at onset, years", "age_at_diagnosis": "Age at diagnosis, years",
    "age_at_enrolment": "Age at enrolment, years", "follow_up_years": "Follow-up, years",
    "person_years": "Person-years of follow-up", "treated": "Treated (disease-modifying)",
    "age_at_first_treatment": "Age at first treatment, years", "died": "Died",
}


def table1_display(table1: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Table 1 as shown: n (%) or median [Q1–Q3] (n known) per SMA type group column;
    levels of one characteristic add up to the column's patients, so small cells get
    complementary suppression."""
    groups = list(dict.fromkeys(table1["sma_type"]))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for (characteristic, group), rows in table1.groupby(["characteristic", "sma_type"], sort=False):
        counted = rows["level"] != "median_iqr"
        shown = show_group(list(rows["n"]), min_cell_count) if counted.all() and characteristic in (
            "sex", "smn2_copies") else [show_count(n, min_cell_count) for n in rows["n"]]
        for r, n_shown in zip(rows.itertuples(), shown):
            cells.setdefault((characteristic, r.level), {})[group] = _table1_cell(r, n_shown)
    rows = []
    for (characteristic, level), values in cells.items():
        label = TABLE1_LABELS.get(characteristic, characteristic)
        if level not in ("all", "median_iqr", "sum", "yes"):
            label = f"{label}: {level.replace('_', ' ')}"
        rows.append({"characteristic": label, **{f"type {g}" if g != "all" else "all": values.get(g, "") for g in groups}})
    return pd.DataFrame(rows)


def _table1_cell(r, n_shown: str) -> str:
    if r.level == "median_iqr":
        if pd.isna(r.median):
            return "—"
        return f"{r.median:.2f} [{r.q1:.2f}–{r.q3:.2f}]"
    if r.characteristic == "person_years":
        return f"{r.median:,.1f}"
    if r.characteristic == "patients" or n_shown.startswith(("<", "≈")):
        return n_shown
    return f"{n_shown} ({r.percent:.1f}%)"


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """Published point beside our estimate with its CI."""
    return pd.DataFrame({
        "source": comparison["source"],
        "quantity": [_quantity(r) for r in comparison.itertuples()],
        "SMA type": comparison["sma_type"],
        "published": [format_number(v, 2) for v in comparison["published"]],
        "this registry (95% CI)": [
            "—" if pd.isna(e) else (_ci(e, lo, hi) if not pd.isna(lo) else format_number(e, 2))
            for e, lo, hi in zip(comparison["estimate"], comparison["lo"], comparison["hi"])
        ],
        "note": comparison["note"].fillna(""),
    })


def _quantity(r) -> str:
    what = r.endpoint_or_scale.replace("_", " ")
    if r.measure == "survival":
        return f"free of {what} {r.time_years:.2f} y after {r.time_origin}"
    if r.measure == "slope":
        return f"{what} slope, {r.unit}"
    return f"{what} 12-month change, {'mean' if r.measure.endswith('mean') else 'SD'}"


def warnings(tables: dict[str, pd.DataFrame], summary: dict, min_cell_count: int) -> list[str]:
    """Where assumptions fail or estimates are fragile, in words, from the tables."""
    found: list[str] = []
    km = tables["km_summary"]
    min_size = summary["config"]["analysis"].get("min_stratum_size", 1)
    few = km[km["n"] < min_size]
    if len(few):
        found.append(
            f"{len(few)} endpoint × stratum combinations have fewer than {min_size} patients: "
            "their counts are reported, their curves are not estimated.")
    no_events = km[km["events"] == 0]
    if len(no_events):
        found.append(f"{len(no_events)} endpoint × stratum combinations have no events.")
    cox = tables.get("cox")
    if cox is not None and len(cox):
        violated = cox[cox["ph_violated"].astype(str).isin(["True", "1", "1.0"])]
        for (name, model), rows in violated.groupby(["endpoint", "model"], sort=False):
            found.append(
                f"Cox model {model} for {name.replace('_', ' ')}: proportional hazards rejected "
                f"(global test p = {format_number(rows['ph_global_p'].iloc[0], 3)}); its hazard ratios "
                "are averages over age.")
        failed = cox[cox["hr"].isna() & cox["note"].notna()]
        for r in failed.drop_duplicates(["endpoint", "model"]).itertuples():
            found.append(f"Cox model {r.model} for {r.endpoint.replace('_', ' ')}: {r.note}.")
    variance = tables.get("lmm_variance_components")
    if variance is not None and len(variance):
        for r in variance.itertuples():
            status = str(getattr(r, "status", ""))
            if status == "random_intercept_only" or str(getattr(r, "singular", "")) in ("True", "1", "1.0"):
                what = "random intercept only" if status == "random_intercept_only" else "singular fit"
                found.append(f"Mixed model of {r.scale} ({r.stratify_by} {r.stratum}): {what}.")
    imputed = summary["registry"].get("imputed_dates") or []
    if imputed:
        parts = ", ".join(f"{i['table']}.{i['column']} {show_count(i['n'], min_cell_count)}" for i in imputed)
        found.append(f"Partial dates were imputed (YYYY-MM → 15th, YYYY → 1 July): {parts}.")
    return found


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
    figures = {Path(f).stem.removeprefix("parametric_"): embed_figure(f) for f in parametric_figures}
    context = {}
    for name in figures or list(_endpoint_names(tables)):
        out = {"parametric_figure": figures.get(name)}
        tests = _rows_of(tables.get("km_tests"), name)
        out["tests"] = display_table(tests[["stratify_by", "strata", "n", "events", "chisq", "df", "p", "note"]],
                                     min_cell_count, 3) if len(tests) else None
        sens = _rows_of(tables.get("km_summary_sensitivity"), name)
        out["sensitivity"] = display_table(
            sens[["stratify_by", "stratum", "n", "events", "median_years", "median_lo", "median_hi"]],
            min_cell_count) if len(sens) else None
        cox = _rows_of(tables.get("cox"), name)
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
        cuminc = _rows_of(tables.get("cuminc"), name)
        out["cuminc"] = (display_table(cuminc_at(cuminc, analysis["landmark_ages"]), min_cell_count, 3)
                         if len(cuminc) else None)
        rmst = _rows_of(tables.get("rmst"), name)
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
