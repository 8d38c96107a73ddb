"""All survival tables of one endpoint: what one Snakemake job per endpoint computes.

:func:`analyse_endpoint` takes the endpoint's rows of the analysis dataset (primary
analysis) and of the sensitivity dataset (the other treatment-censoring mode) and
returns every table, keyed by the name of its file under ``results/tables/``. The
result depends only on its inputs: no randomness, fixed row order, so two runs write
byte-identical files.

Examples
--------
>>> options = SurvivalOptions.from_config({"stratify_by": ["all"]})  # doctest: +SKIP
>>> tables = analyse_endpoint(rows, None, options)                    # doctest: +SKIP
>>> sorted(tables)                                                     # doctest: +SKIP
['cox', 'cuminc', 'km_at_risk', 'km_curves', ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from smanh.endpoints import ANALYSIS_COLUMNS
from smanh.km_tables import at_risk_table, km_tables, stratum_tests
from smanh.strata import DEFAULT_BIRTH_ERAS
from smanh.survival_tables import cox_table, cuminc_table, parametric_tables, rmst_table
from smanh.table_names import SURVIVAL_TABLES  # noqa: F401  (re-exported)

NATURAL_HISTORY = "natural_history"
ALL_FOLLOW_UP = "all_follow_up"

DEFAULT_COX_MODELS = (
    {"name": "type1_smn2_sex", "formula": "smn2_copies + sex", "subset": {"sma_type": ["1"]},
     "reference": {"smn2_copies": "2"}},
    {"name": "type_smn2", "formula": "sma_type + smn2_copies",
     "reference": {"sma_type": "1", "smn2_copies": "2"}},
)


@dataclass(frozen=True)
class SurvivalOptions:
    """Study choices of the survival analyses (``analysis.*`` of the config)."""

    stratify_by: tuple[str, ...] = ("all", "sma_type", "smn2_copies")
    landmark_ages: tuple[float, ...] = (1, 2, 5, 10, 20)
    at_risk_ages: tuple[float, ...] = (1, 2, 5, 10, 20)
    confidence_level: float = 0.95
    min_stratum_size: int = 10
    birth_eras: tuple[int, ...] = DEFAULT_BIRTH_ERAS
    censor_at_treatment: bool = True
    cox_models: tuple[dict, ...] = DEFAULT_COX_MODELS
    ph_alpha: float = 0.05
    rmst_horizons: tuple[float, ...] = (2, 5, 10)
    parametric_distributions: tuple[str, ...] = ("weibull", "lognormal", "loglogistic", "gengamma")
    parametric_stratify_by: tuple[str, ...] = ("all", "sma_type")
    extrapolate_to: float = 40.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, analysis: dict) -> "SurvivalOptions":
        """From the validated ``analysis`` section (missing keys take the defaults)."""
        parametric = analysis.get("parametric", {})
        values = {
            "stratify_by": analysis.get("stratify_by"),
            "landmark_ages": analysis.get("landmark_ages"),
            "at_risk_ages": analysis.get("at_risk_ages"),
            "confidence_level": analysis.get("confidence_level"),
            "min_stratum_size": analysis.get("min_stratum_size"),
            "birth_eras": analysis.get("birth_eras"),
            "censor_at_treatment": analysis.get("censor_at_treatment"),
            "cox_models": analysis.get("cox_models"),
            "ph_alpha": analysis.get("ph_alpha"),
            "rmst_horizons": analysis.get("rmst_horizons"),
            "parametric_distributions": parametric.get("distributions"),
            "parametric_stratify_by": parametric.get("stratify_by"),
            "extrapolate_to": parametric.get("extrapolate_to"),
        }
        return cls(**{
            k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if v is not None
        })


def analyse_endpoint(
    dataset: pd.DataFrame, sensitivity: pd.DataFrame | None, options: SurvivalOptions
) -> dict[str, pd.DataFrame]:
    """Every survival table of the endpoint(s) in ``dataset``.

    Parameters
    ----------
    dataset : analysis-dataset rows of the primary analysis (``censor_at_treatment``).
    sensitivity : rows of the same endpoint with the other treatment-censoring mode, or
        None for no sensitivity analysis (its tables are then empty).
    options : SurvivalOptions
    """
    o = options
    common = {"min_stratum_size": o.min_stratum_size, "birth_eras": o.birth_eras}
    by = list(o.stratify_by)
    summary, curves = km_tables(dataset, by, list(o.landmark_ages), o.confidence_level, **common)
    tables = {"km_summary": summary, "km_curves": curves}
    tables["km_at_risk"] = at_risk_table(dataset, by, list(o.at_risk_ages), o.birth_eras)
    tables["km_tests"] = stratum_tests(dataset, by, **common)
    mode = ALL_FOLLOW_UP if o.censor_at_treatment else NATURAL_HISTORY
    if sensitivity is not None:
        s_summary, s_curves = km_tables(
            sensitivity, by, list(o.landmark_ages), o.confidence_level, **common
        )
    else:
        s_summary, s_curves = summary.iloc[:0], curves.iloc[:0]
    tables["km_summary_sensitivity"] = s_summary.assign(analysis=mode)
    tables["km_curves_sensitivity"] = s_curves.assign(analysis=mode)
    tables["cox"] = cox_table(
        dataset, [dict(m) for m in o.cox_models], ph_alpha=o.ph_alpha,
        conf_level=o.confidence_level, **common,
    )
    tables["cuminc"] = cuminc_table(dataset, by, conf_level=o.confidence_level, **common)
    tables["rmst"] = rmst_table(
        dataset, by, list(o.rmst_horizons), conf_level=o.confidence_level, **common
    )
    tables["parametric"], tables["parametric_curves"] = parametric_tables(
        dataset, list(o.parametric_stratify_by), list(o.parametric_distributions),
        o.extrapolate_to, conf_level=o.confidence_level, **common,
    )
    return tables


# The analysis dataset's columns the survival tables read: not the patient identifiers or
# exit reasons (those are the cohort flow's), the costliest columns to read and to copy.
ANALYSED_COLUMNS = [c for c in ANALYSIS_COLUMNS if c not in ("patient_id", "exit_reason")]


def endpoint_rows(dataset: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """The rows of one endpoint (stratum labels as text, as written to Parquet)."""
    return dataset[dataset["endpoint"] == endpoint].reset_index(drop=True)
