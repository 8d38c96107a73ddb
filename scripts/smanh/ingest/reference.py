"""The published natural history the registry's estimates are set beside
(``data/reference/published_natural_history.csv``: Kaplan–Meier figures overlay its survival
points, the report compares every point)."""

from __future__ import annotations

import pandas as pd


def load_reference(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"sma_type": str}, keep_default_na=False, na_values=[""])


def survival_points(reference: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """Published survival points on the age scale for one endpoint (for figure overlays)."""
    rows = reference[
        (reference["measure"] == "survival")
        & (reference["endpoint_or_scale"] == endpoint)
        & (reference["time_origin"] == "birth")
    ]
    return rows[["source", "sma_type", "time_years", "value"]]
