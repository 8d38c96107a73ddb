"""Group labels for stratified analyses (``registry-format.md`` §2).

SMA type groups: ``0``; ``1`` = {1, 1a, 1b, 1c}; ``2`` = {2, 2a, 2b}; ``3`` = {3, 3a, 3b};
``4``; ``unknown``. SMN2 copy groups: ``1``, ``2``, ``3``, ``4+``, ``unknown``; the rare
recorded 0 copies get their own group ``0`` rather than being merged into another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.errors import ConfigError

SMA_TYPE_GROUPS = ("0", "1", "2", "3", "4", "unknown")
SMN2_GROUPS = ("0", "1", "2", "3", "4+", "unknown")
STRATIFICATIONS = ("all", "sma_type", "smn2_copies")


def sma_type_group(sma_type: pd.Series) -> pd.Series:
    """``1a`` → ``1`` etc.; blank or ``unknown`` → ``unknown``."""
    digit = sma_type.fillna("").astype(str).str[:1]
    return digit.where(digit.isin(SMA_TYPE_GROUPS[:-1]), "unknown")


def smn2_group(copies: pd.Series) -> pd.Series:
    """0–3 copies as themselves, ≥ 4 as ``4+``, blank as ``unknown``."""
    numeric = pd.to_numeric(copies, errors="coerce").astype(float)  # NaN, not NA, for unknown
    labels = numeric.map(lambda n: "unknown" if np.isnan(n) else "4+" if n >= 4 else str(int(n)))
    return labels.astype(object)


def stratum_labels(patients: pd.DataFrame, stratify_by: str) -> pd.Series:
    """The stratum of every patient for one stratification."""
    if stratify_by == "all":
        return pd.Series("all", index=patients.index)
    if stratify_by == "sma_type":
        return sma_type_group(patients["sma_type"])
    if stratify_by == "smn2_copies":
        return smn2_group(patients["smn2_copies"])
    raise ConfigError(
        f"stratify_by: unknown stratification '{stratify_by}' "
        f"(one of: {', '.join(STRATIFICATIONS)})"
    )


def stratum_order(stratify_by: str) -> tuple[str, ...]:
    """Display order of the strata of one stratification."""
    return {"all": ("all",), "sma_type": SMA_TYPE_GROUPS, "smn2_copies": SMN2_GROUPS}[stratify_by]
