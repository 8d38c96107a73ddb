"""Natural-history assessments at the floor and the ceiling of their scale, per stratum
(``scale_floor_ceiling.csv``): where many are, a linear model of the score is unreliable."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.config.scales import SCALES
from smanh.progression.models import no_assessments_note
from smanh.progression.selection import distinct_patients, strata_of

FLOOR_CEILING_COLUMNS = [
    "scale", "stratify_by", "stratum", "n_patients", "n_assessments", "floor", "ceiling",
    "n_at_floor", "n_at_ceiling", "share_at_floor", "share_at_ceiling",
    "n_patients_ever_at_floor", "n_patients_ever_at_ceiling", "note",
]


def floor_ceiling(data: pd.DataFrame, scale: str, stratifications, birth_eras=None) -> pd.DataFrame:
    """Assessments (and patients ever) at the scale's floor and ceiling, per stratum."""
    low, high = SCALES[scale].floor_and_ceiling
    patient = pd.factorize(data["patient_id"])[0]
    score = data["score"].to_numpy()
    at_floor = score <= low
    at_ceiling = score >= high if high is not None else None
    rows = []
    for stratify_by in stratifications:
        labels, order = strata_of(data, stratify_by, birth_eras)
        labels = labels.to_numpy()
        present = set(pd.unique(labels))  # once, not per stratum
        for stratum in [s for s in order if s in present]:
            part = labels == stratum
            n = int(part.sum())
            rows.append({
                "scale": scale, "stratify_by": stratify_by, "stratum": stratum,
                "n_patients": distinct_patients(patient[part]), "n_assessments": n,
                "floor": low, "ceiling": high,
                "n_at_floor": int(at_floor[part].sum()),
                "n_at_ceiling": int(at_ceiling[part].sum()) if high is not None else np.nan,
                "share_at_floor": at_floor[part].mean() if n else np.nan,
                "share_at_ceiling": at_ceiling[part].mean() if high is not None and n else np.nan,
                "n_patients_ever_at_floor": distinct_patients(patient[part & at_floor]),
                "n_patients_ever_at_ceiling": (
                    distinct_patients(patient[part & at_ceiling]) if high is not None else np.nan
                ),
                "note": "" if high is not None else "open-ended scale: no ceiling",
            })
    if data.empty:
        rows.append({"scale": scale, "stratify_by": "all", "stratum": "all", "n_patients": 0,
                     "n_assessments": 0, "floor": low, "ceiling": high, "note": no_assessments_note(scale)})
    table = pd.DataFrame(rows, columns=FLOOR_CEILING_COLUMNS)
    for column in FLOOR_CEILING_COLUMNS:
        if column.startswith("n_"):
            table[column] = table[column].astype("Int64")
    return table
