"""What the ``analysis_dataset`` rule computes: the analysis dataset (and, for the
sensitivity analysis, the one with the other treatment-censoring mode), the cohort flow
and Table 1."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from smanh.cohort.baseline import table1
from smanh.cohort.dataset import analysis_dataset
from smanh.cohort.flow import cohort_flow
from smanh.ingest.export import RegistryExport


@dataclass
class Cohort:
    """The analysis datasets and the cohort tables (``cohort_flow``, ``table1``)."""

    dataset: pd.DataFrame
    sensitivity: pd.DataFrame | None
    tables: dict[str, pd.DataFrame]


def build_cohort(
    export: RegistryExport,
    endpoints: list,
    censor_at_treatment: bool,
    sensitivity_analysis: bool,
    n_in_export: int,
    validation_exclusions: dict[str, int],
) -> Cohort:
    """The datasets of ``endpoints`` (names or config mappings) and the cohort tables;
    every patient of the export is accounted for in ``cohort_flow``."""
    dataset = analysis_dataset(export, endpoints, censor_at_treatment)
    sensitivity = (
        analysis_dataset(export, endpoints, not censor_at_treatment) if sensitivity_analysis else None
    )
    return Cohort(
        dataset,
        sensitivity,
        {
            "cohort_flow": cohort_flow(n_in_export, dataset, validation_exclusions),
            "table1": table1(export),
        },
    )
