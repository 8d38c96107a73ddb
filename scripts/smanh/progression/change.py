"""12-month change of a motor score: pairs of natural-history assessments and their summary.

Pairs
-----
**One pair per patient**, so that every patient contributes one independent change and the
usual (unclustered) confidence intervals are valid. The pair of a patient is chosen without
looking at the scores:

* the *baseline* is the patient's earliest natural-history assessment that has a partner
  ``window_months ± tolerance_months`` later (both ends inclusive; months = days /
  (365.25 / 12));
* the *follow-up* is the partner closest to ``+window_months`` (ties: the earlier one).

Both assessments are natural-history assessments (before the first treatment start). The
earliest-baseline rule is deterministic and independent of the outcome; taking every
non-overlapping pair would add precision but makes the pairs of one patient correlated
(and over-weights patients with dense visits), which this table avoids by design.

Summary
-------
Per scale and stratum: ``n_pairs`` (= ``n_patients``), mean change (follow-up − baseline)
with a t-based confidence interval, SD, the mean *annualised* change (change / years
between the two assessments, per pair) with its t interval and SD, and the shares
*declined* (change ≤ −threshold),
*stable* (−threshold < change < threshold) and *improved* (change ≥ threshold), each with a
binomial confidence interval: Clopper–Pearson (exact; default) or Wilson (score).

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"patient_id": ["A", "A", "A"], "age": [5.0, 5.5, 6.02],
...                      "score": [30, 29, 27]})
>>> change_pairs(rows)[["baseline_age", "followup_age", "change"]].values.tolist()
[[5.0, 6.02, -3.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special  # the quantile functions of scipy.stats, without its 0.4 s import

from smanh.config.scales import age_band_labels
from smanh.config.units import DAYS_PER_YEAR
from smanh.errors import ConfigError

PAIR_COLUMNS = [
    "patient_id", "baseline_age", "followup_age", "interval_months", "baseline_score",
    "followup_score", "change",
]
CHANGE_COLUMNS = [
    "scale", "stratify_by", "stratum", "n_pairs", "n_patients", "mean", "sd", "mean_lo",
    "mean_hi", "annualised_mean", "annualised_sd", "annualised_lo", "annualised_hi",
    "threshold", "threshold_source", "n_declined", "share_declined", "declined_lo", "declined_hi",
    "n_stable", "share_stable", "stable_lo", "stable_hi", "n_improved", "share_improved",
    "improved_lo", "improved_hi", "note",
]
PROPORTION_CI_METHODS = ("clopper_pearson", "wilson")


def change_pairs(
    assessments: pd.DataFrame, window_months: float = 12, tolerance_months: float = 3
) -> pd.DataFrame:
    """One (baseline, follow-up) pair per patient, as defined in the module docstring.

    ``assessments``: natural-history assessments of one scale with ``patient_id``, ``age``
    (years) and ``score``; extra columns (strata) are carried over from the baseline row.
    Patients without any pair are left out.
    """
    extra = [c for c in assessments.columns if c not in ("patient_id", "age", "score", "date")]
    if assessments.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS + extra)
    data = assessments.sort_values(["patient_id", "age"], kind="mergesort").reset_index(drop=True)
    low = (window_months - tolerance_months) / 12.0 * DAYS_PER_YEAR
    high = (window_months + tolerance_months) / 12.0 * DAYS_PER_YEAR
    target = window_months / 12.0 * DAYS_PER_YEAR
    # days since birth, rounded: ages are whole days / 365.25, so comparisons are exact
    days = np.round(data["age"].to_numpy(float) * DAYS_PER_YEAR, 6)
    codes = pd.factorize(data["patient_id"])[0]
    rows = _pairs_by_search(codes, days, low, high, target)
    if rows is None:
        rows = _pairs_by_loop(codes, days, low, high, target)
    if not rows:
        return pd.DataFrame(columns=PAIR_COLUMNS + extra)
    base, follow = (np.array(x) for x in zip(*rows))
    out = pd.DataFrame(
        {
            "patient_id": data["patient_id"].to_numpy()[base],
            "baseline_age": data["age"].to_numpy(float)[base],
            "followup_age": data["age"].to_numpy(float)[follow],
            "interval_months": (days[follow] - days[base]) / DAYS_PER_YEAR * 12.0,
            "baseline_score": data["score"].to_numpy(float)[base],
            "followup_score": data["score"].to_numpy(float)[follow],
        }
    )
    out["change"] = out["followup_score"] - out["baseline_score"]
    for column in extra:
        out[column] = data[column].to_numpy()[base]
    return out


def _pairs_by_loop(codes, days, low, high, target) -> list[tuple[int, int]]:
    """Per patient (rows grouped by ``codes``, sorted by ``days``): the first baseline row
    with a follow-up ``low <= gap <= high`` days later, the one closest to ``target``
    (the earlier on a tie)."""
    rows = []
    start = 0
    n = len(days)
    while start < n:
        stop = start
        while stop < n and codes[stop] == codes[start]:
            stop += 1
        d = days[start:stop]
        for i in range(stop - start):
            gap = d - d[i]
            ok = (gap >= low) & (gap <= high)
            if ok.any():
                candidates = np.flatnonzero(ok)
                j = candidates[np.argmin(np.abs(gap[candidates] - target))]  # first = earlier
                rows.append((start + i, start + j))
                break
        start = stop
    return rows


_DAY_BITS = 22  # days since birth below 2^22 (11,000 years) in a (patient, day) key


def _pairs_by_search(codes, days, low, high, target) -> list[tuple[int, int]] | None:
    """:func:`_pairs_by_loop` by binary search on (patient, day) keys, for whole days
    (ages from dates); None otherwise."""
    whole = np.rint(days)
    if len(days) == 0 or not np.array_equal(whole, days) or whole.min() < 0 or (
        whole.max() + high >= 2**_DAY_BITS
    ):
        return None
    key = (codes.astype(np.int64) << _DAY_BITS) + whole.astype(np.int64)
    first = np.searchsorted(key, key + int(np.ceil(low)), side="left")
    last = np.searchsorted(key, key + int(np.floor(high)), side="right")  # exclusive
    ok = last > first
    # nearest to the target: the last follow-up at or before it (its first row when
    # days repeat) or the first after it; the earlier on a tie
    after = np.searchsorted(key, key + int(np.floor(target)) + 1, side="left")
    before = np.searchsorted(key, key[np.maximum(after - 1, 0)], side="left")
    use_before = (after - 1 >= first) & (
        (after >= last)
        | (target - (whole[np.minimum(after - 1, len(key) - 1)] - whole)
           <= (whole[np.minimum(after, len(key) - 1)] - whole) - target)
    )
    follow = np.where(use_before, before, after)
    baseline = np.flatnonzero(ok)
    baseline = baseline[np.unique(codes[baseline], return_index=True)[1]]  # first per patient
    return list(zip(baseline.tolist(), follow[baseline].tolist()))


def proportion_ci(k: int, n: int, confidence_level: float = 0.95, method: str = "clopper_pearson"):
    """Confidence interval of a binomial proportion ``k / n``.

    ``clopper_pearson``: exact, from beta quantiles (as ``scipy.stats.binomtest(k, n)
    .proportion_ci(method="exact")`` and R ``binom.test``). ``wilson``: the score interval
    without continuity correction (R ``prop.test(correct = FALSE)``).

    Examples
    --------
    >>> [round(v, 4) for v in proportion_ci(3, 10, method="wilson")]
    [0.1078, 0.6032]
    """
    if n <= 0:
        return (np.nan, np.nan)
    alpha = 1.0 - confidence_level
    if method == "clopper_pearson":
        lo = 0.0 if k == 0 else special.betaincinv(k, n - k + 1, alpha / 2)
        hi = 1.0 if k == n else special.betaincinv(k + 1, n - k, 1 - alpha / 2)
        return (float(lo), float(hi))
    if method == "wilson":
        z = special.ndtri(1 - alpha / 2)
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))
    raise ConfigError(
        f"progression.change.proportion_ci: unknown method {method!r} "
        f"(one of: {', '.join(PROPORTION_CI_METHODS)})"
    )


def summarise_change(
    changes: np.ndarray,
    threshold: float = 2.0,
    confidence_level: float = 0.95,
    method: str = "clopper_pearson",
) -> dict:
    """Mean (t interval), SD and the declined / stable / improved shares of ``changes``.

    Examples
    --------
    >>> s = summarise_change(np.array([-3.0, -1.0, 0.0, 2.0, 4.0]))
    >>> s["n_declined"], s["n_stable"], s["n_improved"]
    (1, 2, 2)
    """
    changes = np.asarray(changes, dtype=float)
    n = changes.size
    out: dict = {"mean": np.nan, "sd": np.nan, "mean_lo": np.nan, "mean_hi": np.nan}
    if n >= 1:
        out["mean"] = float(changes.mean())
    if n >= 2:
        sd = float(changes.std(ddof=1))
        half = special.stdtrit(n - 1, 0.5 + confidence_level / 2) * sd / np.sqrt(n)
        out.update(sd=sd, mean_lo=out["mean"] - half, mean_hi=out["mean"] + half)
    groups = {
        "declined": int(np.sum(changes <= -threshold)),
        "stable": int(np.sum((changes > -threshold) & (changes < threshold))),
        "improved": int(np.sum(changes >= threshold)),
    }
    for name, k in groups.items():
        lo, hi = proportion_ci(k, n, confidence_level, method)
        out[f"n_{name}"] = k
        out[f"share_{name}"] = k / n if n else np.nan
        out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
    return out


def annualised_summary(changes: np.ndarray, years: np.ndarray, confidence_level: float = 0.95) -> dict:
    """Mean of the per-pair annualised changes (change / years between) with its t
    interval, and their SD."""
    rates = np.asarray(changes, float) / np.asarray(years, float)
    n = rates.size
    out = {"annualised_mean": np.nan, "annualised_sd": np.nan, "annualised_lo": np.nan,
           "annualised_hi": np.nan}
    if n >= 1:
        out["annualised_mean"] = float(rates.mean())
    if n >= 2:
        sd = float(rates.std(ddof=1))
        half = special.stdtrit(n - 1, 0.5 + confidence_level / 2) * sd / np.sqrt(n)
        out.update(annualised_sd=sd, annualised_lo=out["annualised_mean"] - half,
                   annualised_hi=out["annualised_mean"] + half)
    return out


def baseline_age_bands(pairs: pd.DataFrame, cuts) -> tuple[pd.Series, tuple[str, ...]]:
    """The baseline-age band of every pair (``stratify_by = baseline_age_band``) and the
    bands' order; bands from :func:`smanh.config.scales.age_band_labels`."""
    labels = age_band_labels(cuts)
    edges = np.array(sorted(float(c) for c in cuts))
    index = np.searchsorted(edges, pairs["baseline_age"].to_numpy(float), side="right")
    return pd.Series(np.array(labels, dtype=object)[index], index=pairs.index), tuple(labels)


def change_table(
    pairs: pd.DataFrame,
    scale: str,
    strata: list[tuple[str, pd.Series, tuple[str, ...]]],
    *,
    threshold: float = 2.0,
    threshold_source: str = "",
    confidence_level: float = 0.95,
    method: str = "clopper_pearson",
    min_patients: int = 10,
) -> pd.DataFrame:
    """``change_12m.csv`` rows of one scale.

    ``strata``: per stratification its name, the stratum label of every pair (aligned with
    ``pairs``) and the display order. Strata with fewer than ``min_patients`` pairs are
    reported (``n_pairs``, ``n_patients``) without estimates, with a note.
    """
    rows = []
    for stratify_by, labels, order in strata:
        present = set(labels)
        for stratum in [s for s in order if s in present]:
            chosen = pairs[(labels == stratum).to_numpy()]
            n = len(chosen)
            row = {
                "scale": scale, "stratify_by": stratify_by, "stratum": stratum,
                "n_pairs": n, "n_patients": int(chosen["patient_id"].nunique()),
                "threshold": threshold, "threshold_source": threshold_source, "note": "",
            }
            if n < min_patients:
                row["note"] = (f"fewer than {min_patients} patients with a pair (progression.min_patients): "
                               "counted, not estimated")
            else:
                row.update(summarise_change(chosen["change"].to_numpy(), threshold, confidence_level, method))
                row.update(annualised_summary(chosen["change"].to_numpy(),
                                              chosen["interval_months"].to_numpy(float) / 12.0,
                                              confidence_level))
            rows.append(row)
    if pairs.empty:
        rows.append({"scale": scale, "stratify_by": "all", "stratum": "all", "n_pairs": 0, "n_patients": 0,
                     "threshold": threshold, "threshold_source": threshold_source,
                     "note": "no patient with a pair of natural-history assessments "
                                                     "in the window"})
    table = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    for column in ("n_pairs", "n_patients", "n_declined", "n_stable", "n_improved"):
        table[column] = table[column].astype("Int64")
    return table
