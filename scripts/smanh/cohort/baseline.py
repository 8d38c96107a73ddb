"""Table 1: baseline characteristics of the registry cohort by SMA type group.

A long table, one row per characteristic × level × SMA type group (and ``all``), with
the exact numbers (``n``, ``percent``, ``median``, ``q1``, ``q3``, ``total``) that the
report formats — so every cell of the report's Table 1 can be traced to
``results/tables/table1.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.cohort.dataset import age_years, first_treatment_dates
from smanh.cohort.strata import SMA_TYPE_GROUPS, SMN2_GROUPS, sma_type_group, smn2_group
from smanh.ingest.export import RegistryExport

TABLE1_COLUMNS = ["characteristic", "level", "sma_type", "n", "total", "percent", "median", "q1", "q3"]
SEX_LEVELS = ("F", "M", "unknown")
TREATMENT_LEVELS = ("any", "nusinersen", "onasemnogene_abeparvovec", "risdiplam", "other")


def patient_baseline(export: RegistryExport) -> pd.DataFrame:
    """One row per patient with the characteristics Table 1 summarises."""
    patients = export.patients.set_index("patient_id")
    birth = patients["birth_date"]
    given = export.treatments[["patient_id", "treatment"]].drop_duplicates()
    first_treatment = first_treatment_dates(export).reindex(patients.index)
    follow_up = age_years(patients["last_contact_date"], birth) - age_years(patients["enrolment_date"], birth)
    frame = pd.DataFrame(
        {
            "sma_type": sma_type_group(patients["sma_type"]),
            "sex": patients["sex"].fillna("").replace("", "unknown").replace("U", "unknown"),
            "smn2_copies": smn2_group(patients["smn2_copies"]),
            "age_at_onset": age_years(patients["onset_date"], birth),
            "age_at_diagnosis": age_years(patients["diagnosis_date"], birth),
            "age_at_enrolment": age_years(patients["enrolment_date"], birth),
            "follow_up_years": follow_up,
            "age_at_first_treatment": age_years(first_treatment, birth),
            "died": patients["death_date"].notna(),
        },
        index=patients.index,
    )
    for level in TREATMENT_LEVELS[1:]:
        frame[f"treated_{level}"] = patients.index.isin(given.loc[given["treatment"] == level, "patient_id"])
    frame["treated_any"] = first_treatment.notna()
    return frame


def table1(export: RegistryExport) -> pd.DataFrame:
    """Baseline characteristics by SMA type group, exact numbers (long format)."""
    baseline = patient_baseline(export)
    present = [g for g in SMA_TYPE_GROUPS if (baseline["sma_type"] == g).any()]
    rows: list[dict] = []
    for group in ["all", *present]:
        cohort = baseline if group == "all" else baseline[baseline["sma_type"] == group]
        rows += _rows(cohort, group)
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def _rows(cohort: pd.DataFrame, group: str) -> list[dict]:
    total = len(cohort)
    rows = [_count("patients", "all", group, total, total)]
    for level in SEX_LEVELS:
        rows.append(_count("sex", level, group, int((cohort["sex"] == level).sum()), total))
    for level in SMN2_GROUPS:
        n = int((cohort["smn2_copies"] == level).sum())
        if n or level != "0":
            rows.append(_count("smn2_copies", level, group, n, total))
    for column in ("age_at_onset", "age_at_diagnosis", "age_at_enrolment", "follow_up_years"):
        rows.append(_distribution(column, group, cohort[column]))
    rows.append(
        {"characteristic": "person_years", "level": "sum", "sma_type": group, "n": total,
         "total": total, "percent": np.nan, "median": float(cohort["follow_up_years"].sum()),
         "q1": np.nan, "q3": np.nan}
    )
    for level in TREATMENT_LEVELS:
        rows.append(_count("treated", level, group, int(cohort[f"treated_{level}"].sum()), total))
    rows.append(_distribution("age_at_first_treatment", group, cohort["age_at_first_treatment"]))
    rows.append(_count("died", "yes", group, int(cohort["died"].sum()), total))
    return rows


def _count(characteristic: str, level: str, group: str, n: int, total: int) -> dict:
    return {"characteristic": characteristic, "level": level, "sma_type": group, "n": n,
            "total": total, "percent": 100.0 * n / total if total else np.nan,
            "median": np.nan, "q1": np.nan, "q3": np.nan}


def _distribution(characteristic: str, group: str, values: pd.Series) -> dict:
    """Median [IQR] of the known values; ``n`` = how many are known."""
    known = values.dropna()
    q1, median, q3 = np.quantile(known, [0.25, 0.5, 0.75]) if len(known) else (np.nan,) * 3
    return {"characteristic": characteristic, "level": "median_iqr", "sma_type": group,
            "n": len(known), "total": len(values), "percent": np.nan,
            "median": float(median), "q1": float(q1), "q3": float(q3)}

