"""Registries unlike the sample, and the whole workflow run on one in process.

:func:`registries` is a hypothesis strategy of small valid canonical exports across the shapes
real registries have and the sample has not: any subset of event types, scales, SMA types
and SMN2 values (all unknown included), 1 to 60 patients, optional columns absent, no
treatments or every patient treated at enrolment, no deaths, all-censored and all-event
strata, ties and same-day records. :func:`run_in_process` calls, in the order of the rules,
every function the rule scripts call (``scripts/rules/*.py``), on files in a folder, and
returns what the rules would have written: it is the workflow without Snakemake.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from hypothesis import strategies as st

from conftest import REPOSITORY, TABLE_COLUMNS
from smanh.cohort.build import build_cohort
from smanh.cohort.dataset import read_endpoint_rows, write_analysis_dataset
from smanh.cohort.intervals import person_intervals, read_endpoint_intervals, write_intervals
from smanh.config.endpoints import endpoint_names
from smanh.config.scales import SCALES, scale_options
from smanh.config.tables import PROGRESSION_TABLES, SURVIVAL_TABLES
from smanh.config.validation import validate_config
from smanh.disclosure.release import release
from smanh.figures.common import save_figures
from smanh.figures.forest import forest_figure
from smanh.ingest.canonical import ingest, load_canonical, store_export, validation_exclusions
from smanh.ingest.data_quality import data_quality
from smanh.ingest.export_format import EVENTS, SMA_TYPES, TREATMENTS
from smanh.ingest.reference import load_reference
from smanh.jobs.files import read_csv, write_csv, write_json, write_tables
from smanh.progression.scale import progression_scale
from smanh.report.html import render_report
from smanh.report.provenance import run_summary
from smanh.report.published import comparison_table
from smanh.report.share import write_share
from smanh.survival.endpoint import SurvivalOptions, survival_endpoint

REFERENCE = REPOSITORY / "data" / "reference" / "published_natural_history.csv"
TEMPLATE = REPOSITORY / "workflow" / "report" / "report.html.j2"
OPTIONAL_PATIENT_COLUMNS = ("sex", "smn2_copies", "onset_date", "diagnosis_date", "death_date", "site")
FIRST_DAY = dt.date(1960, 1, 1)
CUT = dt.date(2025, 6, 30)


def _iso(day: dt.date) -> str:
    return day.isoformat()


@st.composite
def registries(draw, max_patients: int = 60) -> dict[str, pd.DataFrame]:
    """A small valid canonical export: ``{table: text frame}``."""
    n = draw(st.integers(1, max_patients))
    types = draw(st.lists(st.sampled_from(SMA_TYPES), min_size=1, max_size=4, unique=True))
    copies = draw(st.lists(st.sampled_from(["", "1", "2", "3", "4", "5"]), min_size=1, max_size=3, unique=True))
    event_kinds = draw(st.lists(st.sampled_from(EVENTS), max_size=len(EVENTS), unique=True))
    scales = draw(st.lists(st.sampled_from(list(SCALES)), max_size=3, unique=True))
    treatment_mode = draw(st.sampled_from(["none", "some", "all_at_enrolment"]))
    deaths = draw(st.sampled_from(["none", "some", "all"]))
    absent = draw(st.lists(st.sampled_from(OPTIONAL_PATIENT_COLUMNS), unique=True))
    # few distinct days: ties in entry and exit ages, same-day records
    coarse = draw(st.booleans())
    span = (CUT - FIRST_DAY).days

    def day(low: dt.date, high: dt.date) -> dt.date:
        if high <= low:
            return low
        steps = (high - low).days
        offset = draw(st.integers(0, steps))
        if coarse:
            offset = offset // 365 * 365
        return low + dt.timedelta(days=offset)

    patients, events, treatments, assessments = [], [], [], []
    for i in range(n):
        pid = f"S{i:03d}"
        birth = FIRST_DAY + dt.timedelta(days=draw(st.integers(0, span - 400)))
        enrol = day(birth, CUT - dt.timedelta(days=1))
        last = day(enrol, CUT)
        died = deaths == "all" or (deaths == "some" and draw(st.booleans()))
        death = day(last, CUT) if died else None
        end = death or last
        onset = day(birth, enrol) if draw(st.booleans()) else None
        diagnosis = day(onset or birth, enrol) if draw(st.booleans()) else None
        patients.append({
            "patient_id": pid, "sex": draw(st.sampled_from(["F", "M", "U", ""])),
            "birth_date": _iso(birth), "sma_type": draw(st.sampled_from(types)),
            "smn2_copies": draw(st.sampled_from(copies)),
            "onset_date": _iso(onset) if onset else "", "diagnosis_date": _iso(diagnosis) if diagnosis else "",
            "enrolment_date": _iso(enrol), "last_contact_date": _iso(last),
            "death_date": _iso(death) if death else "", "site": draw(st.sampled_from(["DE", "FR", ""])),
        })
        for kind in event_kinds:
            if draw(st.booleans()):
                events.append({"patient_id": pid, "event": kind, "date": _iso(day(birth, end))})
        if treatment_mode == "all_at_enrolment" or (treatment_mode == "some" and draw(st.booleans())):
            start = enrol if treatment_mode == "all_at_enrolment" else day(birth, end)
            treatments.append({"patient_id": pid, "treatment": draw(st.sampled_from(TREATMENTS)),
                               "start_date": _iso(start), "end_date": ""})
        for scale in scales:
            low, high = SCALES[scale].valid_range
            for _ in range(draw(st.integers(0, 4))):
                score = draw(st.integers(int(low), int(high if high is not None else 600)))
                assessments.append({"patient_id": pid, "date": _iso(day(enrol, end)),
                                    "scale": scale, "score": str(score)})
    tables = {
        "patients": pd.DataFrame(patients, columns=TABLE_COLUMNS["patients"]).drop(columns=list(absent)),
        "events": pd.DataFrame(events, columns=TABLE_COLUMNS["events"]),
        "treatments": pd.DataFrame(treatments, columns=TABLE_COLUMNS["treatments"]),
        "assessments": pd.DataFrame(assessments, columns=TABLE_COLUMNS["assessments"]),
    }
    return tables


@st.composite
def configs(draw, tables: dict[str, pd.DataFrame]) -> dict:
    """A study config for ``tables``: a few endpoints (built in, or defined with another
    time origin and a competing event), stratifications, scales (some the export may not
    record) and thresholds; small, so that a hypothesis example runs in about a second."""
    endpoints = draw(st.lists(st.sampled_from([
        "death_or_permanent_ventilation", "death", "permanent_ventilation", "loss_of_independent_sitting",
        "loss_of_independent_walking", "feeding_tube", "scoliosis_surgery",
        {"name": "niv_from_onset", "events": ["niv_start"], "time_origin": "onset", "competing": ["death"]},
    ]), min_size=1, max_size=3, unique_by=lambda e: str(e)))
    recorded = sorted(set(tables["assessments"]["scale"]))
    scales = draw(st.lists(st.sampled_from(recorded + ["HFMSE"]), max_size=2, unique=True))
    return {
        "analysis": {
            "endpoints": endpoints,
            "stratify_by": draw(st.lists(st.sampled_from(["all", "sma_type", "smn2_copies", "sex", "birth_era"]),
                                         min_size=1, max_size=3, unique=True)),
            "min_stratum_size": draw(st.sampled_from([1, 3, 10])),
            "censor_at_treatment": draw(st.booleans()),
            "sensitivity_analysis": draw(st.booleans()),
            "parametric": {"distributions": draw(st.lists(st.sampled_from(["weibull", "lognormal", "gengamma"]),
                                                          min_size=1, max_size=2, unique=True)),
                           "stratify_by": ["all", "sma_type"]},
        },
        "progression": {"scales": scales, "min_patients": draw(st.sampled_from([2, 10])),
                        "stratify_by": draw(st.sampled_from([["sma_type"], ["all", "smn2_copies"]]))},
    }


def write_registry(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


class Outputs(dict):
    """A rule's named outputs, as ``snakemake.output`` offers them (``outputs.name``)."""

    def __getattr__(self, name):
        return self[name]


def run_in_process(registry: Path, out: Path, config: dict | None = None, draw_figures: bool = True) -> dict:
    """Every rule's work on the export in ``registry``, as ``scripts/rules/*.py`` do it;
    files under ``out``. Returns the gathered tables and the report's HTML."""
    config = validate_config({"registry": {"format": "canonical", "path": str(registry)}, **(config or {})})
    canonical = Outputs({t: out / "canonical" / f"{t}.parquet" for t in TABLE_COLUMNS},
                        exclusions=out / "canonical" / "exclusions.csv", sources=out / "canonical" / "sources.json")
    # ingest
    export, location = ingest(config["registry"], {}, out / "problems.csv")
    store_export(export, config["registry"], location, canonical)
    tables = {"data_quality": data_quality(export)}
    # analysis_dataset
    analysis = config["analysis"]
    n_in_export, excluded = validation_exclusions(canonical.exclusions, canonical.sources)
    cohort = build_cohort(load_canonical(canonical), analysis["endpoints"], analysis["censor_at_treatment"],
                          analysis["sensitivity_analysis"], n_in_export, excluded,
                          config["registry"].get("vital_status_date"))
    write_analysis_dataset(cohort.dataset, out / "dataset.parquet")
    if cohort.sensitivity is not None:
        write_analysis_dataset(cohort.sensitivity, out / "sensitivity.parquet")
    tables.update(cohort.tables)
    # ipcw_intervals
    natural = cohort.dataset if analysis["censor_at_treatment"] else cohort.sensitivity
    has_intervals = analysis["ipcw"]["enabled"] and natural is not None
    if has_intervals:
        stored = load_canonical(canonical)
        write_intervals(person_intervals(natural, stored.patients, stored.assessments, analysis["endpoints"],
                                         analysis["ipcw"]["interval_months"] / 12.0,
                                         list(analysis["ipcw"]["motor_scales"])), out / "ipcw_intervals.parquet")
    # survival_endpoint, per endpoint
    figures = {"km_figures": [], "parametric_figures": [], "cuminc_figures": [], "spaghetti_figures": [],
               "change_figures": []}
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in (*SURVIVAL_TABLES, *PROGRESSION_TABLES)}
    reference = load_reference(REFERENCE)
    for name in endpoint_names(analysis["endpoints"]):
        result = survival_endpoint(
            name, read_endpoint_rows(out / "dataset.parquet", name),
            read_endpoint_rows(out / "sensitivity.parquet", name) if cohort.sensitivity is not None else None,
            SurvivalOptions.from_config(analysis), reference, config["report"]["min_cell_count"],
            config["report"]["individual_level_figures"],
            read_endpoint_intervals(out / "ipcw_intervals.parquet", name) if has_intervals else None,
        )
        _collect(result.tables, parts, out / "survival" / name)
        figures["km_figures"].append(_draw(result.figures["km"], out / f"km_{name}", draw_figures))
        figures["parametric_figures"].append(_draw(result.figures["parametric"], out / f"parametric_{name}", draw_figures))
        figures["cuminc_figures"].append(_draw(result.figures["cuminc"], out / f"cuminc_{name}", draw_figures))
    # progression_scale, per scale
    stored = load_canonical(canonical)
    scales = list(scale_options(config["progression"]))
    for scale in scales:
        result = progression_scale(
            stored.patients, stored.treatments, stored.assessments[stored.assessments["scale"] == scale],
            scale, config["progression"], confidence_level=analysis["confidence_level"],
            birth_eras=list(analysis["birth_eras"]), min_cell_count=config["report"]["min_cell_count"],
            individual_level_figures=config["report"]["individual_level_figures"],
        )
        _collect(result.tables, parts, out / "progression" / scale)
        figures["spaghetti_figures"].append(_draw(result.figures["spaghetti"], out / f"progression_{scale}", draw_figures))
        figures["change_figures"].append(_draw(result.figures["change"], out / f"change_12m_{scale}", draw_figures))
    # gather_* (as the gathered files read back)
    for name, frames in parts.items():
        if name in SURVIVAL_TABLES or scales:
            tables[name] = pd.concat(frames, ignore_index=True) if frames else None
    # published_comparison, cox_forest, summary_json, report
    optional = {name: tables[name] for name in ("lmm_slopes", "change_12m") if scales}
    tables["published_comparison"] = _as_read(comparison_table(reference, tables["km_curves"], **optional),
                                              out / "published_comparison.csv")
    with open(canonical.sources, encoding="utf-8") as handle:
        summary = run_summary(json.load(handle), config, tables["cohort_flow"], tables["km_summary"],
                              stored.patients)
    write_json(summary, out / "summary.json")
    with open(out / "summary.json", encoding="utf-8") as handle:
        summary = json.load(handle)
    shown = {name: _as_read(table, out / "tables" / f"{name}.csv") for name, table in tables.items()
             if name != "published_comparison"}
    shown["published_comparison"] = tables["published_comparison"]
    released = release({name: table for name, table in shown.items() if table is not None},
                       config["report"]["min_cell_count"])
    summary["released"] = {"files": write_share(released, out / "share", config["report"]["min_cell_count"])}
    figures["cox_forest"] = _draw(forest_figure(read_csv(out / "share" / "cox.csv")), out / "cox_forest", draw_figures)
    html = render_report(TEMPLATE, title="shape", summary=summary, tables=shown, figures=figures,
                         min_cell_count=config["report"]["min_cell_count"])
    return {"tables": shown, "html": html, "released": released}


def _collect(tables: dict[str, pd.DataFrame], parts: dict, folder: Path) -> None:
    write_tables(tables, Outputs({name: folder / f"{name}.csv" for name in tables}))
    for name in tables:
        parts[name].append(read_csv(folder / f"{name}.csv"))


def _as_read(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    write_csv(table, path)
    return read_csv(path)


def _draw(figure, stem: Path, draw: bool) -> str:
    """The figure's SVG path; drawn to a cheap PNG too, so that drawing errors surface."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    svg = stem.with_suffix(".svg")
    if draw:
        save_figures({"f": figure}, Outputs(f_png=stem.with_suffix(".png"), f_svg=svg))
    else:
        figure.savefig(svg)
    return str(svg)
