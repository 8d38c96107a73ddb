"""Fixed-effects designs of the progression models on either time scale — age (centred,
with hinges at knots) or baseline age (centred) + years since baseline (with hinges at
knots, in years of follow-up) — stratum interactions of a pooled model and extra terms;
contrasts of the segment slopes; the predicted mean trajectory.

Time scales (``time_scale``)
    ``age``: fixed ``(Intercept)``, ``age`` (= age − centre), ``age_after_<k>`` =
    (age − k)₊ per knot *k* (ages; not centred); random ``(1 + age | patient)``.

    ``baseline_age_and_time``: fixed ``(Intercept)``, ``baseline_age`` (= age at the
    patient's first natural-history assessment of the scale − centre), ``years`` (= age −
    baseline age), ``years_after_<k>`` = (years − k)₊; random ``(1 + years | patient)``. The
    coefficient of ``years`` is the longitudinal (within-patient) slope; a cohort effect in
    baseline scores goes into ``baseline_age`` instead of biasing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: its import alone takes 0.4 s

from smanh.config.scales import FACTOR_TERMS, NUMERIC_TERMS, ScaleOptions

if TYPE_CHECKING:  # annotations only
    from smanh.progression.lmm import LMMFit

def _hinge_name(knot: float, time: str = "age") -> str:
    return f"{time}_after_{knot:g}"


def time_term(time_scale: str) -> str:
    """The design column whose coefficient is the slope: ``age`` or ``years``."""
    return "years" if time_scale == "baseline_age_and_time" else "age"


def with_baseline(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with ``baseline_age`` (the patient's first age in ``data``) and ``years``
    (since then) added."""
    out = data.copy()
    out["baseline_age"] = out.groupby("patient_id", sort=False)["age"].transform("min")
    out["years"] = out["age"] - out["baseline_age"]
    return out


def centre_of(data: pd.DataFrame, time_scale: str, centre: float | None) -> float:
    """The centre of age (time scale ``age``: median of the assessment ages) or of baseline
    age (median of the patients' baseline ages); ``centre`` when given."""
    if centre is not None:
        return float(centre)
    if time_scale == "baseline_age_and_time":
        return float(np.median(data.groupby("patient_id", sort=False)["baseline_age"].first()))
    return float(np.median(data["age"].to_numpy(float)))


def fixed_design(
    data: pd.DataFrame,
    model: ScaleOptions,
    strata: pd.Series | None = None,
    strata_levels: list[str] | None = None,
    time_scale: str = "age",
    centre: float = 0.0,
) -> pd.DataFrame:
    """Fixed-effects design: ``(Intercept)``, the time terms of ``time_scale`` (module
    docstring; ``centre`` subtracted from age or baseline age), for a pooled model the
    stratum dummies and their interactions with the time terms (not with baseline age),
    then the extra terms. Factor levels absent from ``data`` get no column."""
    x = pd.DataFrame(index=data.index)
    x["(Intercept)"] = 1.0
    if time_scale == "baseline_age_and_time":
        x["baseline_age"] = data["baseline_age"].astype(float) - centre
        time = data["years"].astype(float)
        age_terms = {"years": time}
        for k in model.knots:
            age_terms[_hinge_name(k, "years")] = np.maximum(time - k, 0.0)
    else:
        age = data["age"].astype(float)
        age_terms = {"age": age - centre}
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
    columns: list[str], knots: tuple[float, ...], stratum: str | None = None,
    time: str = "age",
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
    terms = [time, *[_hinge_name(k, time) for k in knots]]
    for s, name in enumerate(names):
        vec = np.zeros(len(columns))
        for term in terms[: s + 1]:
            vec[index[term]] = 1.0
            if stratum is not None and f"{term}:stratum[{stratum}]" in index:
                vec[index[f"{term}:stratum[{stratum}]"]] = 1.0
        contrasts[name] = vec
    return contrasts


def age_grid(ages: pd.Series, step: float) -> np.ndarray:
    """Multiples of ``step`` within half a step of the observed age range: never the
    youngest or oldest patient's own age, which the tables and figures would then show."""
    lo, hi = float(ages.min()) - step / 2, float(ages.max()) + step / 2
    return np.arange(np.ceil(lo / step), np.floor(hi / step) + 1) * step


def predicted_trajectory(
    fit: LMMFit, model: ScaleOptions, grid: np.ndarray, at: pd.Series, confidence_level: float,
    stratum: str | None = None, time_scale: str = "age", centre: float = 0.0,
) -> pd.DataFrame:
    """Predicted mean score (fixed effects) over ``grid`` (ages; for
    ``baseline_age_and_time`` years since a baseline at age ``centre``, baseline age then
    held at the centre) with t intervals (Satterthwaite df per grid point); design columns
    other than the time terms held at ``at`` (their means in the stratum)."""
    columns = list(fit.params_.index)
    x = np.tile(at.reindex(columns).fillna(0.0).to_numpy(float), (grid.size, 1))
    index = {c: j for j, c in enumerate(columns)}
    if time_scale == "baseline_age_and_time":
        x[:, index["baseline_age"]] = 0.0
        age_terms = {"years": grid, **{_hinge_name(k, "years"): np.maximum(grid - k, 0.0)
                                       for k in model.knots}}
    else:
        age_terms = {"age": grid - centre,
                     **{_hinge_name(k): np.maximum(grid - k, 0.0) for k in model.knots}}
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
    if fit.vcov_varpar_ is not None:
        df = np.asarray(fit.satterthwaite_df(x), dtype=float)
        df = np.where(np.isfinite(df) & (df > 0), df, np.inf)
    else:
        df = np.full(grid.size, np.inf)
    half = special.stdtrit(df, 0.5 + confidence_level / 2) * se
    baseline = time_scale == "baseline_age_and_time"
    return pd.DataFrame({
        "age_years": grid + centre if baseline else grid,
        "years_since_baseline": grid if baseline else np.nan,
        "predicted": mean, "lo": mean - half, "hi": mean + half,
    })


def covered_range(
    time: np.ndarray, patient_codes: np.ndarray, grid: np.ndarray, min_patients: int,
    step: float,
) -> tuple[float, float] | None:
    """The part of ``grid`` (sorted) where at least ``min_patients`` patients have data: a grid
    point counts a patient whose observed span of ``time`` (first to last assessment,
    widened by half a ``step`` on each side) holds it. Returns the first and last such
    point (the range between them), or None when no point has enough patients."""
    if time.size == 0 or grid.size == 0:
        return None
    n_groups = int(patient_codes.max()) + 1
    first = np.full(n_groups, np.inf)
    last = np.full(n_groups, -np.inf)
    np.minimum.at(first, patient_codes, time)
    np.maximum.at(last, patient_codes, time)
    first, last = np.sort(first - step / 2), np.sort(last + step / 2)
    # patients with first <= g minus those with last < g
    count = np.searchsorted(first, grid, side="right") - np.searchsorted(last, grid, side="left")
    ok = np.flatnonzero(count >= min_patients)
    if ok.size == 0:
        return None
    return float(grid[ok[0]]), float(grid[ok[-1]])
