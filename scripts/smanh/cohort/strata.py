"""Group labels for stratified analyses (README, "Analysis definitions").

SMA type groups: ``0``; ``1`` = {1, 1a, 1b, 1c}; ``2`` = {2, 2a, 2b}; ``3`` = {3, 3a, 3b};
``4``; ``unknown``. SMN2 copy groups: ``1``, ``2``, ``3``, ``4+``, ``unknown``; the rare
recorded 0 copies get their own group ``0`` rather than being merged into another.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from smanh.errors import ConfigError

SMA_TYPE_GROUPS = ("0", "1", "2", "3", "4", "unknown")
SMN2_GROUPS = ("0", "1", "2", "3", "4+", "unknown")
STRATIFICATIONS = (
    "all",
    "sma_type",
    "smn2_copies",
    "sma_type_smn2_copies",
    "sex",
    "birth_era",
    "site",
)
SEX_GROUPS = ("F", "M", "U", "unknown")
# Analysis-dataset column holding the label of a stratification (None: derived).
DATASET_COLUMN = {
    "all": None,
    "sma_type": "sma_type_group",
    "smn2_copies": "smn2_group",
    "sma_type_smn2_copies": None,
    "sex": "sex",
    "birth_era": None,
    "site": "site",
}


def sma_type_group(sma_type: pd.Series) -> pd.Series:
    """``1a`` → ``1`` etc.; blank or ``unknown`` → ``unknown``."""
    digit = sma_type.fillna("").astype(str).str[:1]
    return digit.where(digit.isin(SMA_TYPE_GROUPS[:-1]), "unknown")


def smn2_group(copies: pd.Series) -> pd.Series:
    """0–3 copies as themselves, ≥ 4 as ``4+``, blank as ``unknown``."""
    numeric = pd.to_numeric(copies, errors="coerce").to_numpy(float)  # NaN for unknown
    labels = np.full(len(numeric), "unknown", dtype=object)
    for n in range(4):
        labels[np.floor(numeric) == n] = str(n)
    labels[numeric >= 4] = "4+"
    return pd.Series(labels, index=copies.index)


def stratum_order(stratify_by: str) -> tuple[str, ...]:
    """Display order of the strata of one stratification."""
    return {"all": ("all",), "sma_type": SMA_TYPE_GROUPS, "smn2_copies": SMN2_GROUPS}[stratify_by]


def birth_era(birth_year: pd.Series, eras) -> pd.Series:
    """Birth-era labels from the era start years (``analysis.birth_eras``): ``<1990``,
    ``1990-1999``, ``2010+``.

    Examples
    --------
    >>> birth_era(pd.Series([1985, 1995, 2012]), [1990, 2000, 2010]).tolist()
    ['<1990', '1990-1999', '2010+']
    """
    labels = birth_era_labels(eras)
    eras = sorted(eras)
    index = np.searchsorted(np.asarray(eras), birth_year.to_numpy(float), side="right")
    out = pd.Series(np.asarray(labels, dtype=object)[index], index=birth_year.index)
    return out.where(birth_year.notna(), "unknown")


def birth_era_labels(eras) -> tuple[str, ...]:
    if not eras:
        raise ConfigError("the birth_era stratification needs analysis.birth_eras")
    eras = sorted(int(e) for e in eras)
    middle = [f"{a}-{b - 1}" for a, b in zip(eras, eras[1:])]
    return (f"<{eras[0]}", *middle, f"{eras[-1]}+")


def dataset_strata(
    dataset: pd.DataFrame, stratify_by: str, birth_eras=None
) -> tuple[pd.Series, tuple[str, ...]]:
    """Stratum label of every analysis-dataset row and the display order of the labels.

    Labels not in the fixed order (sites, say) follow it in sorted order.
    """
    if stratify_by not in STRATIFICATIONS:
        raise ConfigError(
            f"stratify_by: unknown stratification '{stratify_by}' "
            f"(one of: {', '.join(STRATIFICATIONS)})"
        )
    if stratify_by == "all":
        labels, order = pd.Series("all", index=dataset.index), ("all",)
    elif stratify_by == "sma_type_smn2_copies":
        labels = (
            "type " + dataset["sma_type_group"].astype(str)
            + " / SMN2 " + dataset["smn2_group"].astype(str)
        )
        order = tuple(
            f"type {t} / SMN2 {c}" for t in SMA_TYPE_GROUPS for c in SMN2_GROUPS
        )
    elif stratify_by == "birth_era":
        labels = birth_era(dataset["birth_year"], birth_eras)
        order = (*birth_era_labels(birth_eras), "unknown")
    else:
        labels = dataset[DATASET_COLUMN[stratify_by]].astype(str)
        order = {"sma_type": SMA_TYPE_GROUPS, "smn2_copies": SMN2_GROUPS, "sex": SEX_GROUPS}.get(
            stratify_by, ()
        )
    extra = sorted(set(pd.unique(labels)) - set(order) - {"unknown"})  # distinct first: 10^5 rows
    unknown_last = ("unknown",) if "unknown" not in order else ()
    return labels, (*[o for o in order], *extra, *unknown_last)


def grouped_rows(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(found, rows, bounds)``: the distinct values in order of first appearance, the row
    positions grouped by value (in their order within), and where each group starts in
    them: group ``i`` is ``rows[bounds[i]:bounds[i + 1]]``. One pass over the values, not
    one comparison per value."""
    codes, found = pd.factorize(values, use_na_sentinel=False)
    rows = np.argsort(codes, kind="stable")
    return found, rows, np.searchsorted(codes[rows], np.arange(len(found) + 1))


def analysed(dataset: pd.DataFrame) -> pd.DataFrame:
    """Rows of patients with at-risk time for their endpoint."""
    return dataset[dataset["excluded_reason"] == ""]


def strata(
    dataset: pd.DataFrame, stratify_by: str, birth_eras=None
) -> Iterator[tuple[str, pd.DataFrame]]:
    """(stratum, rows) in display order; strata without patients are skipped."""
    labels, order = dataset_strata(dataset, stratify_by, birth_eras)
    found, rows, bounds = grouped_rows(np.asarray(labels))
    where = {label: i for i, label in enumerate(found)}
    for label in order:
        if label in where:
            i = where[label]
            yield label, dataset.iloc[rows[bounds[i] : bounds[i + 1]]]


def modelled_strata(
    dataset: pd.DataFrame, stratify_by: str, min_stratum_size: int = 1, birth_eras=None
) -> Iterator[tuple[str, pd.DataFrame]]:
    """The strata with at least ``min_stratum_size`` patients."""
    for label, rows in strata(dataset, stratify_by, birth_eras):
        if len(rows) >= min_stratum_size:
            yield label, rows
