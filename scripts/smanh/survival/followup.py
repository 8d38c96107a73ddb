"""Follow-up on the age scale as the survival estimators take it: ``(entry, exit]`` per
subject with an event indicator or code, optional case weights and patient (cluster)
labels, checked once, with messages that name the row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.errors import ModelError


def check_follow_up(entry, exit, event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(entry, exit, event)`` as arrays (entry 0 when ``None``), or ``ModelError``."""
    exit_ = np.asarray(exit, dtype=float)
    entry = np.zeros_like(exit_) if entry is None else np.asarray(entry, dtype=float)
    event = np.asarray(event)
    if not (entry.shape == exit_.shape == event.shape) or exit_.ndim != 1:
        raise ModelError("entry, exit and event must be 1-d arrays of the same length")
    if exit_.size == 0:
        raise ModelError("no subjects to estimate from")
    if not (np.isfinite(entry).all() and np.isfinite(exit_).all()):
        raise ModelError("entry and exit must be finite numbers, not missing")
    bad = np.flatnonzero(exit_ <= entry)
    if bad.size:
        raise ModelError(
            f"exit must be later than entry; row {bad[0]} has entry {entry[bad[0]]} and "
            f"exit {exit_[bad[0]]} ({bad.size} such rows)"
        )
    return entry, exit_, event


def check_weights(weights, n: int) -> np.ndarray:
    """Case weights as floats (all 1 when None), or ``ModelError``: n finite values >= 0."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ModelError(f"weights has {w.size} values, the follow-up has {n} rows")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ModelError(f"weights must be finite and non-negative; row {bad[0]} has weight "
                         f"{w[bad[0]]} ({bad.size} such rows)")
    return w


def check_cluster(cluster, n: int) -> np.ndarray | None:
    """Patient (cluster) labels as an array (None stays None), or ``ModelError``."""
    if cluster is None:
        return None
    labels = np.asarray(cluster)
    if labels.shape != (n,):
        raise ModelError(f"cluster has {labels.size} values, the follow-up has {n} rows")
    missing = np.flatnonzero(pd.isna(labels))
    if missing.size:
        raise ModelError(f"cluster labels must not be missing; row {missing[0]} has none "
                         f"({missing.size} such rows)")
    return labels
