"""Natural-history assessments of a scale (README, "Analysis definitions").

Assessments of the scale dated strictly **before** the patient's first treatment start
(all assessments of untreated patients); age = (date − birth_date) in days / 365.25; each
row carries its patient's strata and covariates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.cohort.strata import birth_era, dataset_strata, sma_type_group, smn2_group
from smanh.config.units import DAYS_PER_YEAR

ASSESSMENT_COLUMNS = [
    "patient_id", "scale", "date", "age", "score", "sma_type_group", "smn2_group", "sex",
    "site", "birth_year",
]


def patient_covariates(patients: pd.DataFrame, birth_eras=None) -> pd.DataFrame:
    """Per patient (index ``patient_id``) the columns the strata and terms are built from."""
    frame = pd.DataFrame(index=pd.Index(patients["patient_id"], name="patient_id"))
    frame["birth_date"] = patients["birth_date"].to_numpy()
    frame["sma_type_group"] = sma_type_group(patients["sma_type"]).to_numpy()
    frame["smn2_group"] = smn2_group(patients["smn2_copies"]).to_numpy()
    for column in ("sex", "site"):
        values = (
            patients[column].astype("string").str.strip()
            if column in patients
            else pd.Series(pd.NA, index=patients.index, dtype="string")
        )
        frame[column] = values.where(values.notna() & (values != ""), "unknown").astype(object).to_numpy()
    frame["birth_year"] = pd.to_datetime(patients["birth_date"]).dt.year.to_numpy()
    # the eras are needed only to stratify or adjust by birth era
    frame["birth_era"] = (
        birth_era(pd.Series(frame["birth_year"].to_numpy()), birth_eras).to_numpy()
        if birth_eras else "unknown"
    )
    return frame


def natural_history_assessments(
    patients: pd.DataFrame,
    treatments: pd.DataFrame,
    assessments: pd.DataFrame,
    scale: str | None = None,
    birth_eras=None,
) -> pd.DataFrame:
    """Assessments dated strictly before the first treatment start (all assessments of
    untreated patients), with age in years and the patient's covariates.

    Examples
    --------
    >>> nh = natural_history_assessments(export.patients, export.treatments,
    ...                                  export.assessments, "HFMSE")  # doctest: +SKIP
    """
    rows = assessments if scale is None else assessments[assessments["scale"] == scale]
    # Every row's patient looked up once, as its position among the patients sorted by
    # id: the filters, the join and the sort by patient all use it (at registry scale,
    # three hash joins on the id text cost more than the models).
    covariates = patient_covariates(patients, birth_eras).sort_index()
    position = covariates.index.get_indexer(rows["patient_id"])
    start = treatments.groupby("patient_id")["start_date"].min().reindex(covariates.index).to_numpy()
    keep = position >= 0
    start = start[position[keep]]
    keep[keep] = np.isnat(start) | (rows["date"].to_numpy()[keep] < start)
    rows, position = rows[keep], position[keep]
    order = np.lexsort((rows["date"].to_numpy(), position))  # by patient, then date; stable
    rows, position = rows.iloc[order], position[order]
    joined = pd.DataFrame({
        "patient_id": rows["patient_id"].to_numpy(), "scale": rows["scale"].to_numpy(),
        "date": rows["date"].to_numpy(), "score": rows["score"].to_numpy(dtype=float),
    })
    for column in covariates.columns:
        joined[column] = covariates[column].to_numpy()[position]
    joined["age"] = (joined["date"] - joined["birth_date"]).dt.days / DAYS_PER_YEAR
    return joined[ASSESSMENT_COLUMNS + ["birth_era"]]


def strata_of(data: pd.DataFrame, stratify_by: str, birth_eras=None) -> tuple[pd.Series, tuple]:
    """Stratum label of every row and the display order (labels of :mod:`smanh.cohort.strata`)."""
    return dataset_strata(data, stratify_by, birth_eras)


def distinct_patients(patient_codes: np.ndarray) -> int:
    """Distinct patients among factorized patient ids (a count per code, not a hash set)."""
    return int(np.count_nonzero(np.bincount(patient_codes)))
