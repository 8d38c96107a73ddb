"""E-values (VanderWeele & Ding, Ann Intern Med 2017;167:268-274): the minimum strength of
association, on the risk-ratio scale, that an unmeasured confounder would need with both
the arm and the outcome to explain away an estimate (or move its confidence limit to 1).

For a risk ratio ``RR >= 1``: ``E = RR + sqrt(RR (RR - 1))``; for ``RR < 1`` the same of
``1 / RR``. A hazard ratio is a risk ratio when the outcome is rare (below 15% by the end
of follow-up); for a common outcome VanderWeele 2017 (Table 2 of the paper's appendix)
converts it first: ``RR = (1 - 0.5 ** sqrt(HR)) / (1 - 0.5 ** sqrt(1 / HR))``. For the
confidence interval, the E-value of the limit closer to 1, and 1 when the interval holds 1.

Examples
--------
>>> round(evalue_rr(3.9), 3)
7.263
>>> round(hazard_ratio_as_rr(0.2, "common"), 4)
0.3384
"""

from __future__ import annotations

import math


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (NaN for a missing or non-positive one)."""
    if not (isinstance(rr, (int, float)) and rr > 0 and math.isfinite(rr)):
        return float("nan")
    rr = rr if rr >= 1 else 1.0 / rr
    return rr + math.sqrt(rr * (rr - 1.0))


def hazard_ratio_as_rr(hr: float, outcome: str = "common") -> float:
    """The risk ratio an HR stands for: itself (rare outcome) or VanderWeele's conversion."""
    if outcome == "rare" or not (hr > 0 and math.isfinite(hr)):
        return hr
    return (1.0 - 0.5 ** math.sqrt(hr)) / (1.0 - 0.5 ** math.sqrt(1.0 / hr))


def evalues_hazard_ratio(hr: float, lo: float, hi: float, outcome: str = "common") -> tuple[float, float]:
    """``(E-value of the estimate, E-value of the confidence limit closer to 1)``."""
    estimate = evalue_rr(hazard_ratio_as_rr(hr, outcome))
    if math.isnan(estimate) or math.isnan(lo) or math.isnan(hi):
        return estimate, float("nan")
    if lo <= 1.0 <= hi:
        return estimate, 1.0
    limit = hi if hr < 1 else lo  # the limit closer to 1 (a bootstrap limit may be 0 or inf)
    return estimate, evalue_rr(hazard_ratio_as_rr(limit, outcome))
