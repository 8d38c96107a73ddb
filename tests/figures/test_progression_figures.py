"""Progression figures: percentile bands by hand, and nothing drawn from fewer than
report.min_cell_count patients unless report.individual_level_figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection

from smanh.figures.progression import (
    change_histogram,
    merged_bins,
    percentile_bands,
    spaghetti_figure,
)
from smanh.progression.change import change_pairs, change_table
from smanh.progression.selection import strata_of


def _registry(per_stratum: int, seed: int = 0) -> pd.DataFrame:
    """Natural-history HFMSE assessments: ``per_stratum`` patients of SMA types 2 and 3,
    five yearly visits from about age 6."""
    rng = np.random.default_rng(seed)
    rows = []
    for type_group in ("2", "3"):
        for i in range(per_stratum):
            start = 6 + rng.uniform(0, 0.5)
            for v in range(5):
                rows.append({"patient_id": f"{type_group}-{i}", "age": start + v,
                             "score": float(40 - v + rng.integers(-3, 4)),
                             "sma_type_group": type_group})
    return pd.DataFrame(rows)


def _trajectories(data: pd.DataFrame) -> pd.DataFrame:
    """A model curve over the whole age range of every stratum (as if modelled)."""
    grid = np.arange(6.0, 11.0, 0.25)
    return pd.concat([pd.DataFrame({
        "scale": "HFMSE", "stratify_by": "sma_type", "stratum": s, "time_scale": t,
        "age_years": grid, "years_since_baseline": np.nan, "predicted": 40 - (grid - 6),
        "lo": 39 - (grid - 6), "hi": 41 - (grid - 6), "note": ""})
        for s in ("2", "3") for t in ("age", "baseline_age_and_time")], ignore_index=True)


def _data_artists(fig) -> list:
    """Everything drawn from the data: lines with more than the two points of a reference
    line, filled areas, line collections and histogram patches."""
    found = []
    for ax in fig.axes:
        found += [c for c in ax.collections]
        found += [line for line in ax.lines if len(line.get_xdata()) > 2 or not line.get_linestyle() == "--"]
        found += [p for p in ax.patches]
    return found


def test_percentile_bands_by_hand():
    ages = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 1.5, 1.6])
    scores = np.array([10.0, 20, 30, 40, 50, 60, 70])
    patients = np.array([0, 1, 2, 3, 4, 0, 5])
    bands = percentile_bands(ages, scores, patients, 1.0, 5)
    # bin [0, 1): 5 patients, scores 10..50; bin [1, 2): 2 patients, left out
    assert percentile_bands(ages, scores, np.array([0, 1, 2, 3, 0, 4, 5]), 1.0, 5).empty  # 4 in bin 0
    assert bands["age"].tolist() == [0.5] and bands["n_patients"].tolist() == [5]
    assert bands[["p10", "median", "p90"]].iloc[0].tolist() == [14.0, 30.0, 46.0]


def test_merged_bins_hold_at_least_the_threshold():
    values = np.array([0.0, 0, 1, 2, 2, 2, 2, 2, 3, 9])
    edges = np.arange(-0.5, 10.5, 1.0)
    merged = merged_bins(values, edges, 3)
    counts, _ = np.histogram(values, bins=merged)
    assert (counts >= 3).all() and counts.sum() == values.size
    assert merged.tolist() == [-0.5, 1.5, 9.5]  # {0, 0, 1}, then {2 x5} + the short {3, 9}
    assert merged_bins(values[:2], edges, 3).size == 0


def test_nothing_is_drawn_from_fewer_than_the_threshold_of_patients():
    small = _registry(3)  # 3 patients per stratum, threshold 5
    fig = spaghetti_figure(small, _trajectories(small), "HFMSE", stratify_by=["sma_type"],
                           min_cell_count=5)
    assert _data_artists(fig) == []
    pairs = change_pairs(small)
    strata = [("sma_type", *strata_of(pairs, "sma_type"))]
    change = change_table(pairs, "HFMSE", strata, min_patients=2)  # estimated: 3 pairs each
    histogram = change_histogram(pairs, change, "HFMSE", stratify_by=["sma_type"], min_cell_count=5)
    assert [p for ax in histogram.axes for p in ax.patches] == []
    # the same registry, individual-level figures: per-patient lines are drawn
    individual = spaghetti_figure(small, _trajectories(small), "HFMSE", stratify_by=["sma_type"],
                                  min_cell_count=5, individual_level=True)
    collections = [c for ax in individual.axes for c in ax.collections]
    assert any(isinstance(c, LineCollection) and len(c.get_segments()) == 6 for c in collections)
    # with enough patients: bands, medians and the model curves
    large = _registry(8)
    fig = spaghetti_figure(large, _trajectories(large), "HFMSE", stratify_by=["sma_type"],
                           min_cell_count=5)
    assert not any(isinstance(c, LineCollection) and c.get_segments() and len(c.get_segments()) > 2
                   for ax in fig.axes for c in ax.collections)  # no per-patient lines
    lines = [line for ax in fig.axes for line in ax.lines]
    assert {line.get_linestyle() for line in lines} >= {"--", "-", ":"}
    pairs = change_pairs(large)
    change = change_table(pairs, "HFMSE", [("sma_type", *strata_of(pairs, "sma_type"))], min_patients=5)
    histogram = change_histogram(pairs, change, "HFMSE", stratify_by=["sma_type"], min_cell_count=5)
    assert len([p for ax in histogram.axes for p in ax.patches]) == 2  # one step outline per stratum


def test_percentile_bands_count_each_patient_once():
    """Patient 0 seen ten times with score 0 counts as one patient of five, not ten of
    fourteen: the band is over the patients' means in the bin."""
    ages = np.array([0.5] * 10 + [0.5, 0.5, 0.5, 0.5])
    scores = np.array([0.0] * 10 + [10.0, 20.0, 30.0, 40.0])
    patients = np.array([0] * 10 + [1, 2, 3, 4])
    bands = percentile_bands(ages, scores, patients, 1.0, 5)
    assert bands[["p10", "median", "p90"]].iloc[0].tolist() == [4.0, 20.0, 36.0]
