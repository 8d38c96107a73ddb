"""Everything the ``progression_scale`` rule computes for one scale: the natural-history
assessments, the mixed models per stratum, the 12-month change, floor and ceiling counts,
and the figures drawn from those tables as written."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from smanh.config.scales import change_threshold, scale_options
from smanh.figures.progression import change_histogram, spaghetti_figure
from smanh.jobs.files import as_written
from smanh.progression.change import baseline_age_bands, change_pairs, change_table
from smanh.progression.floor_ceiling import floor_ceiling
from smanh.progression.models import ProgressionOptions, analyse_scale
from smanh.progression.selection import natural_history_assessments, strata_of


@dataclass
class ScaleResult:
    """One scale's tables (``results/tables/``), its natural-history assessments and
    12-month pairs (intermediate files: they keep ``patient_id``) and its figures."""

    tables: dict[str, pd.DataFrame]
    assessments: pd.DataFrame
    pairs: pd.DataFrame
    figures: dict[str, Figure]


def progression_scale(
    patients: pd.DataFrame,
    treatments: pd.DataFrame,
    assessments: pd.DataFrame,
    scale: str,
    progression: dict,
    confidence_level: float = 0.95,
    birth_eras=None,
    *,
    figures: bool = True,
    min_cell_count: int = 5,
    individual_level_figures: bool = False,
) -> ScaleResult:
    """Everything the ``progression_scale`` rule writes for one scale: the tables of
    :data:`~smanh.config.tables.PROGRESSION_TABLES`, the natural-history assessments
    (per-patient trajectories) and the 12-month change pairs (both keep ``patient_id``:
    intermediate files only) and, with ``figures``, the percentile-band figure (per-patient
    lines too with ``individual_level_figures``) and the 12-month change histogram, both
    with nothing drawn from fewer than ``min_cell_count`` patients, the model curves from
    the tables as written."""
    model = scale_options(progression)[scale]
    stratify_by = list(dict.fromkeys(progression["stratify_by"]))
    options = ProgressionOptions(
        stratify_by=stratify_by,
        min_patients=int(progression["min_patients"]),
        confidence_level=confidence_level,
        trajectory_step=float(progression["trajectory_step"]),
        birth_eras=tuple(birth_eras) if birth_eras else None,
        floor_ceiling_share=float(progression.get("floor_ceiling_share", 0.15)),
    )
    data = natural_history_assessments(patients, treatments, assessments, scale, birth_eras)
    tables = analyse_scale(data, model, options)
    tables["scale_floor_ceiling"] = floor_ceiling(
        data, scale, list(dict.fromkeys(["all", *stratify_by])), options.birth_eras
    )
    change = progression["change"]
    pairs = change_pairs(
        data.drop(columns=["scale", "date"]),
        float(change["window_months"]),
        float(change["tolerance_months"]),
    )
    strata = [(by, *strata_of(pairs, by, options.birth_eras)) for by in stratify_by]
    if change.get("age_bands"):
        strata.append(("baseline_age_band", *baseline_age_bands(pairs, change["age_bands"])))
    threshold, source = change_threshold(progression, scale)
    tables["change_12m"] = change_table(
        pairs, scale, strata,
        threshold=threshold, threshold_source=source,
        confidence_level=confidence_level,
        method=change["proportion_ci"],
        min_patients=options.min_patients,
    )
    result = ScaleResult(tables, data, pairs, {})
    if figures:
        result.figures = _figures(result, scale, progression, birth_eras, min_cell_count,
                                  individual_level_figures)
    return result


def _figures(result: ScaleResult, scale: str, progression: dict, birth_eras, min_cell_count: int,
             individual_level: bool) -> dict[str, Figure]:
    stratify_by = list(progression["stratify_by"])
    spaghetti = spaghetti_figure(
        result.assessments, as_written(result.tables["lmm_trajectories"]), scale,
        stratify_by=stratify_by, max_patients=progression["spaghetti_patients"],
        seed=progression["seed"], birth_eras=birth_eras, min_cell_count=min_cell_count,
        individual_level=individual_level,
    )
    change = as_written(result.tables["change_12m"])
    threshold = change_threshold(progression, scale)[0]
    histogram = change_histogram(
        result.pairs, change, scale, stratify_by=stratify_by, threshold=threshold,
        birth_eras=birth_eras, min_cell_count=min_cell_count,
    )
    return {"spaghetti": spaghetti, "change": histogram}
