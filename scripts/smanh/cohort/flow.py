"""The cohort flow (``cohort_flow.csv``): every patient of the export accounted for, at
validation and per endpoint; the report draws it as a STROBE flow diagram."""

from __future__ import annotations

import pandas as pd

from smanh.cohort.dataset import EXCLUSION_REASONS


def cohort_flow(
    n_in_export: int, dataset: pd.DataFrame, validation_exclusions: dict[str, int] | None = None
) -> pd.DataFrame:
    """Every patient of the export accounted for, overall and per endpoint.

    Endpoint ``all``: patients in the export, those excluded at validation per reason
    (``registry.on_invalid: exclude``; reasons ``invalid: ...``) and those passing it.
    Per endpoint: patients passing validation = analysed + excluded (summed over reasons).
    """
    excluded = dict(validation_exclusions or {})
    rows = [("all", "export", "patients in export", n_in_export)]
    rows += [("all", "excluded", reason, int(n)) for reason, n in excluded.items()]
    rows.append(("all", "validated", "patients passing validation", n_in_export - int(sum(excluded.values()))))
    for name, group in dataset.groupby("endpoint", sort=False):
        counts = group["excluded_reason"].value_counts()
        rows += [(name, "excluded", r, int(counts.get(r, 0))) for r in EXCLUSION_REASONS]
        rows.append((name, "analysed", "at risk after enrolment", int((group["excluded_reason"] == "").sum())))
    return pd.DataFrame(rows, columns=["endpoint", "step", "reason", "n"])
