"""All survival tables and figures of one endpoint: what one Snakemake job per endpoint
computes.

:func:`analyse_endpoint` takes the endpoint's rows of the analysis dataset (primary
analysis) and of the sensitivity dataset (the other treatment-censoring mode) and
returns every table, keyed by the name of its file under ``results/tables/``;
:func:`survival_endpoint` adds the figures, drawn from the tables as written. The result
depends only on its inputs: no randomness, fixed row order, so two runs write
byte-identical files.

Examples
--------
>>> options = SurvivalOptions.from_config(config["analysis"])  # doctest: +SKIP
>>> tables = analyse_endpoint(rows, None, options)              # doctest: +SKIP
>>> sorted(tables)                                               # doctest: +SKIP
['cox', 'cuminc', 'km_at_risk', 'km_curves', ...]
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from smanh.disclosure.release import release
from smanh.figures.survival import cuminc_figure, km_figure, parametric_figure
from smanh.ingest.reference import survival_points
from smanh.jobs.files import as_written
from smanh.survival.ipcw import IpcwOptions
from smanh.survival.ipcw_tables import ipcw_tables
from smanh.survival.km_tables import at_risk_table, km_tables, stratum_tests
from smanh.survival.model_tables import cox_table, cuminc_table, parametric_tables, rmst_table

NATURAL_HISTORY = "natural_history"
ALL_FOLLOW_UP = "all_follow_up"


@dataclass(frozen=True)
class SurvivalOptions:
    """Study choices of the survival analyses: the ``analysis`` section of the validated
    config (its defaults are the schema's, stated there only)."""

    stratify_by: tuple[str, ...]
    landmark_ages: tuple[float, ...]
    at_risk_ages: tuple[float, ...]
    confidence_level: float
    min_stratum_size: int
    min_at_risk: int
    birth_eras: tuple[int, ...]
    censor_at_treatment: bool
    cox_models: tuple[dict, ...]
    ph_alpha: float
    rmst_horizons: tuple[float, ...]
    parametric_distributions: tuple[str, ...]
    parametric_stratify_by: tuple[str, ...]
    extrapolate_to: float
    ipcw: IpcwOptions = IpcwOptions()

    @classmethod
    def from_config(cls, analysis: dict) -> SurvivalOptions:
        """From the validated ``analysis`` section (every key present)."""
        parametric = analysis["parametric"]
        return cls(
            stratify_by=tuple(analysis["stratify_by"]),
            landmark_ages=tuple(analysis["landmark_ages"]),
            at_risk_ages=tuple(analysis["at_risk_ages"]),
            confidence_level=analysis["confidence_level"],
            min_stratum_size=analysis["min_stratum_size"],
            min_at_risk=analysis["min_at_risk"],
            birth_eras=tuple(analysis["birth_eras"]),
            censor_at_treatment=analysis["censor_at_treatment"],
            cox_models=tuple(analysis["cox_models"]),
            ph_alpha=analysis["ph_alpha"],
            rmst_horizons=tuple(analysis["rmst_horizons"]),
            parametric_distributions=tuple(parametric["distributions"]),
            parametric_stratify_by=tuple(parametric["stratify_by"]),
            extrapolate_to=parametric["extrapolate_to"],
            ipcw=IpcwOptions.from_config(analysis["ipcw"]),
        )


@dataclass
class EndpointResult:
    """One endpoint's tables (keyed by their file names) and figures."""

    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure]


def survival_endpoint(
    endpoint: str,
    dataset: pd.DataFrame,
    sensitivity: pd.DataFrame | None,
    options: SurvivalOptions,
    reference: pd.DataFrame,
    min_cell_count: int,
    individual_level_figures: bool = False,
    intervals: pd.DataFrame | None = None,
) -> EndpointResult:
    """The ``survival_endpoint`` rule's work: :func:`analyse_endpoint`, then the
    Kaplan–Meier figure (numbers at risk, published points of ``reference``), the
    parametric and the cumulative-incidence figures, drawn from the tables as released
    (:func:`smanh.disclosure.release.release`: curves on a monthly grid, only for strata
    with ``min_cell_count`` events, while as many are at risk) — or, with
    ``individual_level_figures``, from the exact tables as written."""
    tables = analyse_endpoint(dataset, sensitivity, options, intervals, endpoint)
    drawn = {name: as_written(tables[name])
             for name in ("km_summary", "km_curves", "km_at_risk", "parametric", "parametric_curves", "cuminc")}
    if not individual_level_figures:
        drawn.update(release(drawn, min_cell_count))
    km = km_figure(
        drawn["km_curves"], endpoint, at_risk=drawn["km_at_risk"],
        published=survival_points(reference, endpoint), min_cell_count=min_cell_count,
        confidence_level=options.confidence_level,
    )
    parametric = parametric_figure(
        drawn["km_curves"], drawn["parametric_curves"], drawn["parametric"], endpoint
    )
    cuminc = cuminc_figure(drawn["cuminc"], endpoint)
    return EndpointResult(tables, {"km": km, "parametric": parametric, "cuminc": cuminc})


def analyse_endpoint(
    dataset: pd.DataFrame,
    sensitivity: pd.DataFrame | None,
    options: SurvivalOptions,
    intervals: pd.DataFrame | None = None,
    endpoint: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Every survival table of the endpoint(s) in ``dataset``.

    Parameters
    ----------
    dataset : analysis-dataset rows of the primary analysis (``censor_at_treatment``).
    sensitivity : rows of the same endpoint with the other treatment-censoring mode, or
        None for no sensitivity analysis (its tables are then empty).
    options : SurvivalOptions
    intervals : person-intervals of the endpoint's natural-history follow-up
        (:mod:`smanh.cohort.intervals`) for the IPCW sensitivity analysis, or None (its
        tables then have a row that says why).
    endpoint : the endpoint's name (default: the first of ``dataset``).
    """
    o = options
    common = {"min_stratum_size": o.min_stratum_size, "birth_eras": o.birth_eras}
    ranged = {**common, "min_at_risk": o.min_at_risk}
    by = list(o.stratify_by)
    summary, curves = km_tables(dataset, by, list(o.landmark_ages), o.confidence_level, **ranged)
    tables = {"km_summary": summary, "km_curves": curves}
    tables["km_at_risk"] = at_risk_table(dataset, by, list(o.at_risk_ages), o.birth_eras)
    tables["km_tests"] = stratum_tests(dataset, by, **common)
    mode = ALL_FOLLOW_UP if o.censor_at_treatment else NATURAL_HISTORY
    if sensitivity is not None:
        s_summary, s_curves = km_tables(
            sensitivity, by, list(o.landmark_ages), o.confidence_level, **ranged
        )
    else:
        s_summary, s_curves = summary.iloc[:0], curves.iloc[:0]
    tables["km_summary_sensitivity"] = s_summary.assign(analysis=mode)
    tables["km_curves_sensitivity"] = s_curves.assign(analysis=mode)
    name = endpoint if endpoint is not None else (str(dataset["endpoint"].iloc[0]) if len(dataset) else "")
    tables.update(ipcw_tables(
        name, intervals, o.ipcw, by, list(o.landmark_ages), list(o.rmst_horizons), o.confidence_level,
        unavailable=ipcw_unavailable(o, sensitivity is not None), **ranged,
    ))
    tables["cox"] = cox_table(
        dataset, [dict(m) for m in o.cox_models], ph_alpha=o.ph_alpha,
        confidence_level=o.confidence_level, **common,
    )
    tables["cuminc"] = cuminc_table(dataset, by, confidence_level=o.confidence_level, **ranged)
    tables["rmst"] = rmst_table(
        dataset, by, list(o.rmst_horizons), confidence_level=o.confidence_level, **ranged
    )
    tables["parametric"], tables["parametric_curves"] = parametric_tables(
        dataset, list(o.parametric_stratify_by), list(o.parametric_distributions),
        o.extrapolate_to, confidence_level=o.confidence_level, **ranged,
    )
    return tables


def ipcw_unavailable(options: SurvivalOptions, has_sensitivity: bool) -> str | None:
    """Why there are no person-intervals to weight (None: there are, if anyone is at risk)."""
    if not options.ipcw.enabled:
        return "IPCW sensitivity analysis off (analysis.ipcw.enabled: false)"
    if not options.censor_at_treatment and not has_sensitivity:
        return ("no natural-history follow-up to weight (analysis.censor_at_treatment and "
                "analysis.sensitivity_analysis both false)")
    return None
