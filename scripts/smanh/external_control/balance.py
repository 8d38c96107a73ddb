"""Covariate balance between the arms, before and after weighting or matching, as the R
package cobalt defines it for the ATT (``bal.tab(..., estimand = "ATT", binary = "std",
s.d.denom = "treated")``):

- standardised mean difference ``smd = (mean_trial - mean_registry) / s``, the means
  weighted by the sample's weights and ``s`` the *unweighted* standard deviation of the
  trial arm in the eligible cohort (the same denominator before and after adjustment):
  ``sqrt(sum (x - mean)^2 / (n - 1))`` for a continuous covariate, ``sqrt(p (1 - p))``
  for a binary one;
- variance ratio (continuous covariates) ``var_trial / var_registry``, each the weighted
  variance ``sum w (x - m)^2 * sum w / ((sum w)^2 - sum w^2)`` (unweighted: the sample
  variance);
- effective sample size of the registry arm ``(sum w)^2 / sum w^2`` (Kish).

A covariate with unknown values (coded with a ``<name>_unknown`` indicator, the unknown
ones filled in for the propensity model) is compared over its known values only, as
cobalt does with missing values: the means, the trial arm's SD and the variances leave the
unknown ones out (the indicator's own row shows how many are unknown). Where an arm of the
sample has no known value there is no difference to show: the row's SMD is left blank
with a note (filled-in values would show a spurious perfect balance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.external_control.propensity import PropensityDesign

BALANCE_COLUMNS = ["model", "sample", "covariate", "kind", "mean_trial", "mean_registry", "sd_trial",
                   "smd", "variance_ratio", "n_trial", "n_registry", "ess_registry", "in_model", "note"]


def weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float(np.dot(w, x) / total) if total > 0 else float("nan")


def weighted_variance(x: np.ndarray, w: np.ndarray) -> float:
    """``sum w (x - m)^2 * sum w / ((sum w)^2 - sum w^2)``; NaN with fewer than two
    units of positive weight."""
    keep = w > 0
    if keep.sum() < 2:
        return float("nan")
    if np.ptp(x[keep]) == 0:  # exactly 0, not the rounding left of a weighted mean
        return 0.0
    return _variance(x[keep], w[keep])


def _variance(x: np.ndarray, w: np.ndarray) -> float:
    total, squares = w.sum(), np.dot(w, w)
    mean = np.dot(w, x) / total
    return float(np.dot(w, (x - mean) ** 2) * total / (total**2 - squares))


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's ``(sum w)^2 / sum w^2`` (0 for no weight)."""
    squares = float(np.dot(w, w))
    return float(w.sum() ** 2 / squares) if squares > 0 else 0.0


def known_values(design: PropensityDesign) -> np.ndarray:
    """Per patient and column, whether the value is known (False only where a continuous
    covariate's ``<name>_unknown`` indicator is 1)."""
    known = np.ones(design.matrix.shape, dtype=bool)
    for j, (name, kind) in enumerate(zip(design.columns, design.kinds)):
        indicator = f"{name}_unknown"
        if kind == "continuous" and indicator in design.columns:
            known[:, j] = design.matrix[:, design.columns.index(indicator)] == 0
    return known


def trial_sd(design: PropensityDesign, arm: np.ndarray) -> np.ndarray:
    """The standardisation factor of every column: the unweighted SD of the trial arm
    (of its known values)."""
    in_trial = np.asarray(arm) == 1
    known = known_values(design)
    out = np.full(len(design.columns), np.nan)
    for j, kind in enumerate(design.kinds):
        trial = design.matrix[in_trial & known[:, j], j]
        if kind == "binary":
            p = trial.mean() if len(trial) else np.nan
            out[j] = np.sqrt(p * (1 - p))
        elif len(trial) > 1:
            out[j] = trial.std(ddof=1)
    return out


def balance_rows(model: str, sample: str, design: PropensityDesign, arm: np.ndarray,
                 weights: np.ndarray) -> pd.DataFrame:
    """One row per covariate column of ``design`` for one ``sample`` (unadjusted,
    weighting, matching) with the sample's ``weights`` (0: not in the sample)."""
    arm = np.asarray(arm)
    scale = trial_sd(design, arm)
    known = known_values(design)
    w_trial, w_registry = weights[arm == 1], weights[arm == 0]
    rows = []
    for j, (name, kind) in enumerate(zip(design.columns, design.kinds)):
        x = design.matrix[:, j]
        in_trial, in_registry = (arm == 1) & known[:, j], (arm == 0) & known[:, j]
        x_trial, x_registry = x[in_trial], x[in_registry]
        k_trial, k_registry = weights[in_trial], weights[in_registry]
        mean_trial, mean_registry = weighted_mean(x_trial, k_trial), weighted_mean(x_registry, k_registry)
        with np.errstate(divide="ignore", invalid="ignore"):
            smd = (mean_trial - mean_registry) / scale[j] if scale[j] > 0 else float("nan")
        ratio = float("nan")
        if kind == "continuous":
            v_trial = weighted_variance(x_trial, k_trial)
            v_registry = weighted_variance(x_registry, k_registry)
            ratio = v_trial / v_registry if v_registry > 0 else float("nan")
        note = ""
        unknown_in = [label for label, w, k in (("trial", w_trial, k_trial), ("registry", w_registry, k_registry))
                      if (w > 0).any() and not (k > 0).any()]
        if unknown_in:
            smd = float("nan")
            note = (f"no {' or '.join(unknown_in)} patient in the sample has a known value: "
                    "no standardised difference")
        elif not scale[j] > 0:
            note = "constant in the trial arm: no standardised difference"
        left_out = design.left_out.get(name)
        if left_out:
            note = "; ".join(filter(None, [note, f"not in the propensity model: {left_out}"]))
        rows.append((model, sample, name, kind, mean_trial, mean_registry, scale[j], smd, ratio,
                     int((w_trial > 0).sum()), int((w_registry > 0).sum()),
                     effective_sample_size(w_registry), name not in design.left_out, note))
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS)
