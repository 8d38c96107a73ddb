"""Follow-up on the age scale as the survival estimators take it: ``(entry, exit]`` per
subject with an event indicator or code, checked once, with messages that name the row."""

from __future__ import annotations

import numpy as np

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
