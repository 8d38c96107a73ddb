"""Fixed-effects designs of the progression models: age (with hinges at knots), stratum
interactions of a pooled model and extra terms; contrasts of the segment slopes; the
predicted mean trajectory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: its import alone takes 0.4 s

from smanh.config.scales import FACTOR_TERMS, NUMERIC_TERMS, ScaleOptions

if TYPE_CHECKING:  # annotations only
    from smanh.progression.lmm import LMMResult

def _hinge_name(knot: float) -> str:
    return f"age_after_{knot:g}"


def fixed_design(
    data: pd.DataFrame,
    model: ScaleOptions,
    strata: pd.Series | None = None,
    strata_levels: list[str] | None = None,
) -> pd.DataFrame:
    """Fixed-effects design: ``(Intercept)``, ``age``, a hinge ``age_after_<k>`` per knot,
    for a pooled model the stratum dummies and their interactions with the age terms,
    then the extra terms. Factor levels absent from ``data`` get no column."""
    x = pd.DataFrame(index=data.index)
    x["(Intercept)"] = 1.0
    age = data["age"].astype(float)
    age_terms = {"age": age}
    for k in model.knots:
        age_terms[_hinge_name(k)] = np.maximum(age - k, 0.0)
    for name, values in age_terms.items():
        x[name] = values
    if strata is not None and strata_levels:
        for level in strata_levels[1:]:
            dummy = (strata == level).astype(float).to_numpy()
            x[f"stratum[{level}]"] = dummy
        for level in strata_levels[1:]:
            dummy = (strata == level).astype(float).to_numpy()
            for name, values in age_terms.items():
                x[f"{name}:stratum[{level}]"] = values.to_numpy() * dummy
    for term in model.terms:
        if term in NUMERIC_TERMS:
            x[term] = data[term].astype(float) - NUMERIC_TERMS[term]
            continue
        values = data[FACTOR_TERMS[term]].astype(str)
        levels = sorted(set(values))
        for level in levels[1:]:
            x[f"{term}[{level}]"] = (values == level).astype(float)
    return x


def segment_contrasts(
    columns: list[str], knots: tuple[float, ...], stratum: str | None = None
) -> dict[str, np.ndarray]:
    """Contrast vectors of the age slope of every segment (``before_<k1>``, ``<k1>_to_<k2>``,
    ``after_<kn>``; ``all_ages`` without knots), optionally for one non-reference stratum
    of a pooled model."""
    index = {c: j for j, c in enumerate(columns)}
    bounds = [None, *knots, None]
    names = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if lo is None and hi is None:
            names.append("all_ages")
        elif lo is None:
            names.append(f"before_{hi:g}")
        elif hi is None:
            names.append(f"after_{lo:g}")
        else:
            names.append(f"{lo:g}_to_{hi:g}")
    contrasts = {}
    terms = ["age", *[_hinge_name(k) for k in knots]]
    for s, name in enumerate(names):
        vec = np.zeros(len(columns))
        for term in terms[: s + 1]:
            vec[index[term]] = 1.0
            if stratum is not None and f"{term}:stratum[{stratum}]" in index:
                vec[index[f"{term}:stratum[{stratum}]"]] = 1.0
        contrasts[name] = vec
    return contrasts


def age_grid(ages: pd.Series, step: float) -> np.ndarray:
    """Multiples of ``step`` within the observed age range (both ends added)."""
    lo, hi = float(ages.min()), float(ages.max())
    inner = np.arange(np.ceil(lo / step) * step, hi, step)
    return np.unique(np.concatenate([[lo], inner, [hi]]))


def predicted_trajectory(
    fit: LMMResult, model: ScaleOptions, grid: np.ndarray, at: pd.Series, level: float,
    stratum: str | None = None,
) -> pd.DataFrame:
    """Predicted mean score (fixed effects) over ``grid`` with Wald CIs; design columns
    other than the age terms held at ``at`` (their means in the stratum)."""
    columns = list(fit.params_.index)
    x = np.tile(at.reindex(columns).fillna(0.0).to_numpy(float), (grid.size, 1))
    index = {c: j for j, c in enumerate(columns)}
    age_terms = {"age": grid, **{_hinge_name(k): np.maximum(grid - k, 0.0) for k in model.knots}}
    for name, values in age_terms.items():
        x[:, index[name]] = values
        if stratum is not None:
            key = f"{name}:stratum[{stratum}]"
            if key in index:
                x[:, index[key]] = values
    x[:, index["(Intercept)"]] = 1.0
    beta = fit.params_.to_numpy()
    cov = fit.cov_params_.to_numpy()
    mean = x @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))
    z = special.ndtri(0.5 + level / 2)
    return pd.DataFrame({"age_years": grid, "predicted": mean, "lo": mean - z * se,
                         "hi": mean + z * se})
