"""The estimable range of a curve under delayed entry.

With delayed entry a survival curve is identified only from the ages at which patients are
at risk, and it is only as good as its risk set. A stratum's curve therefore starts at
``from_age`` = the first age just after which at least ``min_at_risk`` patients are at risk,
and every estimate is conditional on being event-free there (R ``survfit(...,
start.time = from_age)``; an event at exactly ``from_age`` counts as before it). It is cut at
``to_age`` = the last exit age before the risk set first falls below ``min_at_risk``. A
landmark, an RMST horizon or a quantile outside ``[from_age, to_age]`` is not estimated.

Examples
--------
>>> r = estimable_range([0, 0, 1, 2, 0.5], [1, 2, 3, 4, 5], 3)
>>> r.from_age, r.to_age
(0.5, 3.0)
>>> conditional_rows([0, 0, 1, 2, 0.5], [1, 2, 3, 4, 5], [1, 0, 1, 1, 0], r.from_age)[0].tolist()
[0.5, 0.5, 1.0, 2.0, 0.5]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EstimableRange:
    """``[from_age, to_age]``, both NaN when ``min_at_risk`` are never at risk."""

    from_age: float
    to_age: float
    min_at_risk: int

    @property
    def exists(self) -> bool:
        return bool(np.isfinite(self.from_age))

    def holds(self, ages) -> np.ndarray:
        """Which of ``ages`` lie inside the range."""
        ages = np.asarray(ages, dtype=float)
        return (ages >= self.from_age) & (ages <= self.to_age)

    @property
    def never_note(self) -> str:
        return f"never {self.min_at_risk} patients at risk at once (analysis.min_at_risk): no estimable range"

    def outside_note(self, what: str) -> str:
        return (f"{what} outside the estimable range {self.from_age:.2f}–{self.to_age:.2f} years "
                f"(at least {self.min_at_risk} at risk)")


def estimable_range(entry, exit, min_at_risk: int) -> EstimableRange:
    """The range of ages at which at least ``min_at_risk`` of these ``(entry, exit]``
    follow-ups are at risk (see the module docstring)."""
    entry = np.sort(np.asarray(entry, dtype=float))
    exit_ = np.sort(np.asarray(exit, dtype=float))
    k = int(min_at_risk)
    # just after an entry age e: entered at or before e, not yet exited at e
    after_entry = np.searchsorted(entry, entry, side="right") - np.searchsorted(exit_, entry, side="right")
    starts = entry[after_entry >= k]
    if starts.size == 0:
        return EstimableRange(float("nan"), float("nan"), k)
    from_age = float(starts[0])
    # at each exit age t after from_age: at risk = entered before t, exit at or after t
    times = np.unique(exit_[exit_ > from_age])
    at_risk = np.searchsorted(entry, times, side="left") - np.searchsorted(exit_, times, side="left")
    short = np.flatnonzero(at_risk < k)
    last = times if short.size == 0 else times[: short[0]]
    return EstimableRange(from_age, float(last[-1]) if last.size else from_age, k)


def conditional_rows(entry, exit, event, from_age: float):
    """The follow-up of those still at risk after ``from_age``, starting there: rows with
    ``exit > from_age``, entry raised to ``from_age``. ``(entry, exit, event, kept)``."""
    entry = np.asarray(entry, dtype=float)
    exit_ = np.asarray(exit, dtype=float)
    kept = exit_ > from_age
    return np.maximum(entry[kept], from_age), exit_[kept], np.asarray(event)[kept], kept
