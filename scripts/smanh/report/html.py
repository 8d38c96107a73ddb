"""The self-contained reviewer report: one HTML file, figures embedded, counts suppressed.

Every number shown comes from ``results/tables/`` or ``results/summary.json``; counts
below ``min_cell_count`` are shown as ``<N``. No patient identifier or date is passed to
the template.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd
import yaml

from smanh.cohort.dataset import EXCLUSION_REASONS
from smanh.config.endpoints import endpoint
from smanh.config.scales import scale_options
from smanh.disclosure import show_count
from smanh.report.data_quality import display_sections
from smanh.report.display import (
    ci,
    comparison_display,
    display_table,
    embed_figure,
    format_number,
    table1_display,
)
from smanh.report.empty_parts import empty_endpoints, empty_scales
from smanh.report.external_control import external_control_context, external_control_warnings
from smanh.report.flow_diagram import strobe_flow_svg
from smanh.report.progression import PROGRESSION_REPORT_TABLES, progression_context
from smanh.report.survival import SURVIVAL_REPORT_TABLES, survival_context

# The report rule's figure inputs (SVG): one per endpoint (Kaplan–Meier, parametric), one
# per scale (spaghetti, change), the forest plot of the Cox models, and the external control's.
FIGURE_INPUTS = ("km_figures", "parametric_figures", "cuminc_figures", "cox_forest", "spaghetti_figures",
                 "change_figures", "external_control_figures")

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
        "min_stratum_size": analysis["min_stratum_size"],
        "min_at_risk": analysis["min_at_risk"],
        "vital_status_date": config["registry"].get("vital_status_date"),
        "ph_alpha": analysis["ph_alpha"],
    }


def render_report(
    template_path: str | Path,
    *,
    title: str,
    summary: dict,
    tables: dict[str, pd.DataFrame],
    figures: dict[str, list[str | Path]],
    min_cell_count: int,
) -> str:
    """Render the HTML report from the run's tables (``results/tables/``), summary and
    figures, keyed as :data:`FIGURE_INPUTS` (the scales' figures only with scales)."""
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
    empty = {
        "endpoints": empty_endpoints(config["analysis"]["endpoints"], tables["data_quality"], km_summary),
        "scales": empty_scales(list(scale_options(config["progression"])), tables["data_quality"],
                               tables.get("lmm_slopes")),
    }
    return template.render(
        empty=empty,
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
        figures={Path(f).stem.removeprefix("km_"): embed_figure(f) for f in figures["km_figures"]},
        cox_forest=embed_figure(figures["cox_forest"]),
        survival=survival_context(
            {name: tables.get(name) for name in SURVIVAL_REPORT_TABLES},
            figures["parametric_figures"], figures["cuminc_figures"], config, min_cell_count,
        ),
        comparison=comparison_display(tables["published_comparison"]),
        warnings=warnings(tables, summary, min_cell_count, empty),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
        progression=progression_context(
            {name: tables[name] for name in PROGRESSION_REPORT_TABLES if name in tables},
            figures.get("spaghetti_figures", []), figures.get("change_figures", []), min_cell_count,
        ),
        external_control=external_control_context(tables, figures.get("external_control_figures", []),
                                                  min_cell_count),
    )


def records_after_last_contact(data_quality: pd.DataFrame) -> int:
    """Patients with any record dated after their last contact (``data_quality.csv``)."""
    return _quality_value(data_quality, "after_last_contact", "all", "", "patients")


def _quality_value(data_quality: pd.DataFrame, section: str, table: str, field: str, statistic: str = "patients") -> int:
    rows = data_quality[(data_quality["section"] == section) & (data_quality["table"] == table)
                        & (data_quality["field"].fillna("") == field) & (data_quality["statistic"] == statistic)]
    return int(float(rows["value"].iloc[0])) if len(rows) else 0


def key_results(km_summary: pd.DataFrame, lmm_slopes: pd.DataFrame | None, min_cell_count: int) -> dict:
    """The summary's sentences: per endpoint the overall median, per scale the slopes."""
    overall = km_summary[km_summary["stratify_by"] == "all"]
    endpoints = [
        {
            "endpoint": r.endpoint.replace("_", " "),
            "n": show_count(r.n, min_cell_count),
            "events": show_count(r.events, min_cell_count),
            "median": ci(r.median_years, r.median_lo, r.median_hi),
        }
        for r in overall.itertuples()
    ]
    slopes = []
    if lmm_slopes is not None and len(lmm_slopes):
        for r in lmm_slopes.dropna(subset=["slope_per_year"]).itertuples():
            slopes.append({"scale": r.scale, "stratum": f"{r.stratify_by.replace('_', ' ')} {r.stratum}",
                           "slope": ci(r.slope_per_year, r.lo, r.hi)})
    return {"endpoints": endpoints, "slopes": slopes}


def warnings(tables: dict[str, pd.DataFrame], summary: dict, min_cell_count: int, empty: dict) -> list[str]:
    """Where the export cannot support a configured part, where assumptions fail or
    estimates are fragile: in words, from the tables."""
    found = [f"Endpoint {name.replace('_', ' ')}: {why}." for name, why in empty["endpoints"].items()]
    found += [f"Scale {name}: {why}." for name, why in empty["scales"].items()]
    deaths_late = _quality_value(tables["data_quality"], "recorded", "patients", "death_after_last_contact")
    if deaths_late and not summary["config"]["registry"].get("vital_status_date"):
        found.append(
            f"{show_count(deaths_late, min_cell_count)} deaths are dated after the patient's last contact: death "
            "endpoints censor those patients at last contact (set registry.vital_status_date where deaths are "
            "ascertained completely, e.g. by linkage).")
    late = records_after_last_contact(tables["data_quality"])
    if late:
        found.append(
            f"{show_count(late, min_cell_count)} patients have records dated after their last contact: follow-up "
            "ends at last contact, so those records do not enter the survival analyses (see Methods).")
    km = tables["km_summary"]
    min_size = summary["config"]["analysis"]["min_stratum_size"]
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
    found += external_control_warnings(tables, min_cell_count)
    imputed = summary["registry"].get("imputed_dates") or []
    if imputed:
        parts = ", ".join(f"{i['table']}.{i['column']} {show_count(i['n'], min_cell_count)}" for i in imputed)
        found.append(f"Partial dates were imputed (YYYY-MM → 15th, YYYY → 1 July): {parts}.")
    return found
