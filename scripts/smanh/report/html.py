"""The self-contained reviewer report: one HTML file, figures embedded, counts suppressed.

Every number shown comes from ``results/tables/`` or ``results/summary.json`` under the
disclosure rules of ``results/share/`` (counts below ``min_cell_count`` as ``<N``, estimates
of strata with fewer than N events not shown), and each table names the released CSV it is
in. No patient identifier or date is passed to the template. The first page holds the key
estimates; long tables stay in ``results/share/`` (the report names them).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from smanh.cohort.dataset import EXCLUSION_REASONS
from smanh.config.endpoints import DEATH, endpoint
from smanh.config.scales import scale_options
from smanh.disclosure import plain_text, show_count
from smanh.disclosure.release import release
from smanh.report.data_quality import display_sections
from smanh.report.display import (
    ci,
    comparison_display,
    display_table,
    embed_figure,
    format_number,
    level_label,
    table1_display,
    tabulate,
)
from smanh.report.empty_parts import empty_endpoints, empty_scales
from smanh.report.external_control import external_control_context
from smanh.report.flow_diagram import strobe_flow_svg
from smanh.report.front_page import facts, key_medians, key_slopes
from smanh.report.limitations import data_limitations, quality_value, warnings
from smanh.report.progression import PROGRESSION_REPORT_TABLES, natural_history_rates, progression_context
from smanh.report.strobe import strobe_checklist
from smanh.report.survival import SURVIVAL_REPORT_TABLES, survival_context

# The report rule's figure inputs (SVG): one per endpoint (Kaplan–Meier, parametric), one
# per scale (spaghetti, change), the forest plot of the Cox models, and the external control's.
FIGURE_INPUTS = ("km_figures", "parametric_figures", "cuminc_figures", "cox_forest", "spaghetti_figures",
                 "change_figures", "external_control_figures")

TIME_ORIGIN_WORDS = {"birth": "birth", "onset": "symptom onset (patients.onset_date)",
                     "diagnosis": "diagnosis (patients.diagnosis_date)"}


def _kind_words(kind: str) -> str:
    return "death (patients.death_date)" if kind == DEATH else f"<code>{kind}</code> event"


def endpoint_definition(spec) -> dict:
    """An endpoint's operational definition, from the configuration's vocabulary
    (:mod:`smanh.config.endpoints`): the event, the population, time zero, competing events."""
    event = " or ".join(_kind_words(k) for k in spec.events)
    return {
        "name": spec.name.replace("_", " "),
        "description": spec.description,
        "event": ("first of " if len(spec.events) > 1 else "first ") + event,
        "population": (f"patients with a <code>{spec.population}</code> event before any treatment, from that age"
                       if spec.population else "all patients"),
        "origin": TIME_ORIGIN_WORDS.get(spec.time_origin, spec.time_origin),
        "competing": ", ".join(_kind_words(k) for k in spec.competing) or "none",
    }


def methods_context(config: dict) -> dict:
    analysis = config["analysis"]
    return {
        "endpoints": [endpoint_definition(spec) for spec in map(endpoint, analysis["endpoints"])],
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


KM_ESTIMATES = ("median_years", "median_lo", "median_hi")


def released_estimates(km_summary: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """``km_summary`` with the estimates and notes as released (:func:`release`): none for a
    stratum with fewer than T events; counts stay exact (the display suppresses them)."""
    released = release({"km_summary": km_summary}, min_cell_count)["km_summary"]
    shown = km_summary.copy()
    for column in km_summary.columns:
        if column in KM_ESTIMATES or column.startswith("s_"):
            shown[column] = pd.to_numeric(released[column], errors="coerce").to_numpy(float)
    shown["note"] = released["note"].to_numpy()
    return shown


def km_display(rows: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """One endpoint's Kaplan–Meier summary as the report shows it: per stratum n, events,
    the estimable range, the median age (CI) and the landmark survival, one short note."""
    counts = display_table(rows[["stratify_by", "stratum", "n", "events"]], min_cell_count, groups=["stratify_by"])
    landmarks = [c for c in rows.columns if c.startswith("s_")]
    shown = pd.DataFrame({
        "stratification": [str(b).replace("_", " ") for b in rows["stratify_by"]],
        "stratum": [level_label(v) for v in rows["stratum"]],
        "n": counts["n"].to_numpy(), "events": counts["events"].to_numpy(),
        "range, y": ["—" if pd.isna(a) else f"{a:.1f}–{b:.1f}" for a, b in zip(rows["from_age"], rows["to_age"])],
        "median, y (95% CI)": [ci(e, lo, hi, 1) for e, lo, hi in
                               zip(rows["median_years"], rows["median_lo"], rows["median_hi"])],
    })
    for column in landmarks:
        shown[f"S({column[2:-1]} y)"] = [format_number(v, 2) for v in rows[column]]
    shown["note"] = rows["note"].to_numpy()
    return shown


def not_recorded_table(empty: dict) -> pd.DataFrame:
    """Endpoints and scales the export does not record (or cannot support), one line each."""
    rows = [{"part": "endpoint", "name": name.replace("_", " "), "why": why} for name, why in empty["endpoints"].items()]
    rows += [{"part": "scale", "name": name, "why": why} for name, why in empty["scales"].items()]
    return pd.DataFrame(rows, columns=["part", "name", "why"])


def render_report(
    template_path: str | Path,
    *,
    title: str,
    summary: dict,
    tables: dict[str, pd.DataFrame],
    figures: dict[str, list[str | Path]],
    min_cell_count: int,
) -> str:
    """Render the HTML report from the run's tables (``results/tables/``, shown under the
    disclosure rules of ``results/share/``), summary and figures, keyed as
    :data:`FIGURE_INPUTS` (the scales' figures only with scales)."""
    template_path = Path(template_path)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path.parent),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.globals["tabulate"] = partial(tabulate, min_cell_count=min_cell_count)
    environment.globals["show_count"] = partial(show_count, min_cell_count=min_cell_count)
    template = environment.get_template(template_path.name)
    km_summary = released_estimates(tables["km_summary"], min_cell_count)
    config = summary["config"]
    empty = {
        "endpoints": empty_endpoints(config["analysis"]["endpoints"], tables["data_quality"], tables["km_summary"]),
        "scales": empty_scales(list(scale_options(config["progression"])), tables["data_quality"],
                               tables.get("lmm_slopes")),
    }
    km_by_endpoint = {
        name: km_display(rows.reset_index(drop=True), min_cell_count)
        for name, rows in km_summary.groupby("endpoint", sort=False) if name not in empty["endpoints"]
    }
    survival = survival_context(
        {name: tables.get(name) for name in SURVIVAL_REPORT_TABLES},
        figures["parametric_figures"], figures["cuminc_figures"], config, min_cell_count,
    )
    return template.render(
        empty=empty,
        not_recorded=not_recorded_table(empty),
        title=title,
        summary=summary,
        min_cell_count=min_cell_count,
        front=facts(summary, tables["cohort_flow"], min_cell_count),
        key_medians=key_medians(km_summary, min_cell_count, empty["endpoints"]),
        key_slopes=key_slopes(_enough_patients(natural_history_rates(tables.get("lmm_slopes")), min_cell_count),
                              empty["scales"]),
        methods=methods_context(config),
        flow_diagram=strobe_flow_svg(tables["cohort_flow"], min_cell_count),
        table1=table1_display(tables["table1"], min_cell_count),
        data_quality=display_sections(tables["data_quality"], min_cell_count),
        km_by_endpoint=km_by_endpoint,
        figures={Path(f).stem.removeprefix("km_"): embed_figure(f) for f in figures["km_figures"]},
        cox_forest=embed_figure(figures["cox_forest"]),
        survival={name: part for name, part in survival.items() if name not in empty["endpoints"]},
        comparison=comparison_display(tables["published_comparison"]),
        limitations=[plain_text(w, min_cell_count) for w in data_limitations(tables, summary, min_cell_count, empty)],
        warnings=[plain_text(w, min_cell_count) for w in warnings(tables, summary, min_cell_count, empty)],
        strobe=strobe_checklist(),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
        progression=progression_context(
            {name: tables[name] for name in PROGRESSION_REPORT_TABLES if name in tables},
            figures.get("spaghetti_figures", []), figures.get("change_figures", []), min_cell_count,
        ),
        external_control=_primary_only(external_control_context(
            tables, figures.get("external_control_figures", []), min_cell_count)),
    )


SENSITIVITY_MODELS = ("without baseline score",)


def _primary_only(context: dict | None) -> dict | None:
    """The external control's effects and motor outcome of the primary model (and the
    unadjusted comparison) in the report; the model without the baseline score stays in
    ``external_control_effects.csv`` / ``external_control_motor.csv``."""
    if not context:
        return context

    def keep(frame):
        if frame is None or "model" not in frame:
            return frame
        return frame[~frame["model"].isin(SENSITIVITY_MODELS)].reset_index(drop=True)

    context["effects"] = {name: keep(frame) for name, frame in context["effects"].items()}
    context["motor"] = keep(context["motor"])
    return context


def _enough_patients(lmm_slopes: pd.DataFrame | None, min_cell_count: int) -> pd.DataFrame | None:
    if lmm_slopes is None:
        return None
    return lmm_slopes[pd.to_numeric(lmm_slopes["n_patients"], errors="coerce") >= min_cell_count]


def records_after_last_contact(data_quality: pd.DataFrame) -> int:
    """Patients with any record dated after their last contact (``data_quality.csv``)."""
    return quality_value(data_quality, "after_last_contact", "all", "", "patients")
