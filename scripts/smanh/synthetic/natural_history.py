"""Latent, untreated life histories from birth, and the known truth they imply
(:func:`true_survival`, :func:`true_median`), against which the estimators are checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from smanh.config.units import DAYS_PER_YEAR
from smanh.synthetic.parameters import (
    ENDPOINTS,
    EPOCH,
    NEVER,
    SUBTYPES,
    TYPE_GROUPS,
    SimulationParams,
    SurvivalModel,
    _as_params,
)


# --------------------------------------------------------------------------- helpers
def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - EPOCH).astype(np.int64))


def _iso(days: np.ndarray) -> np.ndarray:
    return (EPOCH + np.asarray(days, dtype=np.int64)).astype("datetime64[D]").astype(str)


def _years_to_days(years: np.ndarray) -> np.ndarray:
    """Whole days for a finite age/duration in years; inf stays a huge sentinel."""
    years = np.asarray(years, dtype=float)
    out = np.full(years.shape, np.iinfo(np.int64).max // 4, dtype=np.int64)
    finite = np.isfinite(years)
    out[finite] = np.floor(years[finite] * DAYS_PER_YEAR).astype(np.int64)
    return out


def _categorical(rng: np.random.Generator, probabilities: dict, n: int) -> np.ndarray:
    """Draw n labels with the given probabilities (keys in the given, fixed order)."""
    labels = list(probabilities)
    p = np.array([probabilities[k] for k in labels], dtype=float)
    idx = np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right")
    return np.array(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]


def _weibull(rng_u: np.ndarray, shape: float, scale: float) -> np.ndarray:
    return scale * (-np.log1p(-rng_u)) ** (1.0 / shape)


def _uniform_between(u: np.ndarray, low, high) -> np.ndarray:
    return low + u * (np.asarray(high) - np.asarray(low))


# --------------------------------------------------------------------------- natural history
def _primary_time(model: SurvivalModel, copies: np.ndarray, z: np.ndarray, u: np.ndarray) -> np.ndarray:
    ratio = np.array([model.copy_time_ratio.get(int(c), 1.0) for c in copies])
    scale = model.scale_years * ratio
    if model.family == "lognormal":
        return scale * np.exp(model.shape * z)
    return _weibull(u, model.shape, scale)


def simulate_birth_population(params: SimulationParams | dict | None, n: int,
                              rng: np.random.Generator) -> pd.DataFrame:
    """Latent, untreated life histories of ``n`` people with SMA, from birth.

    No truncation, censoring or treatment: this is the population that
    :func:`true_survival` describes. Ages are in years; ``inf`` means never.

    Returns
    -------
    pandas.DataFrame
        Columns ``type_group, subtype, smn2_copies, onset``, one column per event of the
        export vocabulary (age at the event), ``death_or_permanent_ventilation`` and
        ``death``.
    """
    nh = _as_params(params).natural_history
    group = _categorical(rng, nh.type_proportions, n)
    subtype = np.empty(n, dtype=object)
    copies = np.zeros(n, dtype=np.int64)
    u_sub, u_copy = rng.random(n), rng.random(n)
    for g in TYPE_GROUPS:
        m = group == g
        sub_p = np.array([nh.subtype_proportions[s] for s in SUBTYPES[g]])
        idx = np.searchsorted(np.cumsum(sub_p / sub_p.sum()), u_sub[m], side="right")
        subtype[m] = np.array(SUBTYPES[g], dtype=object)[np.minimum(idx, len(sub_p) - 1)]
        cp = nh.smn2_distribution[g]
        keys = np.array(list(cp))
        cidx = np.searchsorted(np.cumsum(np.array(list(cp.values())) / sum(cp.values())),
                               u_copy[m], side="right")
        copies[m] = keys[np.minimum(cidx, len(keys) - 1)]

    low = np.array([nh.onset_years[s][0] for s in subtype])
    high = np.array([nh.onset_years[s][1] for s in subtype])
    onset = _uniform_between(rng.random(n), low, high)

    # Survival: independent of onset/subtype within the group (see module docstring).
    z, u, u_vent, z_post, u_frac = (rng.standard_normal(n), rng.random(n), rng.random(n),
                                    rng.standard_normal(n), rng.random(n))
    dpv = np.full(n, NEVER)
    death = np.full(n, NEVER)
    pv = np.full(n, NEVER)
    post_vent = nh.post_ventilation_median_years * np.exp(nh.post_ventilation_sigma * z_post)
    for g in TYPE_GROUPS:
        m = group == g
        model = nh.survival[g]
        t = _primary_time(model, copies[m], z[m], u[m])
        ventilated = u_vent[m] < model.p_ventilation
        if model.primary == "death_or_permanent_ventilation":
            dpv[m] = t
            pv[m] = np.where(ventilated, t, NEVER)
            death[m] = np.where(ventilated, t + post_vent[m], t)
        else:
            lo, hi = nh.ventilation_fraction_of_death_age
            death[m] = t
            pv[m] = np.where(ventilated, t * _uniform_between(u_frac[m], lo, hi), NEVER)
            dpv[m] = np.minimum(death[m], pv[m])

    u_trach, u_trach_delay = rng.random(n), rng.random(n)
    trach = np.where(u_trach < nh.p_tracheostomy, pv + u_trach_delay * 60 / DAYS_PER_YEAR, NEVER)
    niv = _event_before(rng, group, dpv, nh.niv)
    feeding = _event_before(rng, group, dpv, nh.feeding_tube)

    u_surg, u_surg_age = rng.random(n), rng.random(n)
    scoliosis = np.full(n, NEVER)
    for s, (p, a, b) in nh.scoliosis_surgery.items():
        m = subtype == s
        scoliosis[m] = np.where(u_surg[m] < p, _uniform_between(u_surg_age[m], a, b), NEVER)

    milestones = _milestones(rng, subtype, onset)
    u_walk, u_sit = rng.random(n), rng.random(n)
    walk_loss = np.full(n, NEVER)
    for s, (k, lam) in nh.walk_loss_from_onset.items():
        m = subtype == s
        walk_loss[m] = onset[m] + _weibull(u_walk[m], k, lam)
    walk_loss = np.where(np.isfinite(milestones["walks_independently"]), walk_loss, NEVER)
    sit_loss = np.full(n, NEVER)
    for s, (k, lam) in nh.sit_loss.items():
        m = subtype == s
        start = onset[m] if s.startswith("2") else walk_loss[m]
        sit_loss[m] = start + _weibull(u_sit[m], k, lam)
    # Sitting can only be lost after it was gained.
    sit_loss = np.where(np.isfinite(milestones["sits_independently"]),
                        np.maximum(sit_loss, milestones["sits_independently"] + 0.25), NEVER)

    return pd.DataFrame({
        "type_group": group, "subtype": subtype, "smn2_copies": copies, "onset": onset,
        **milestones,
        "niv_start": niv, "feeding_tube": feeding, "permanent_ventilation": pv,
        "tracheostomy": trach, "scoliosis_surgery": scoliosis,
        "loss_of_independent_sitting": sit_loss, "loss_of_independent_walking": walk_loss,
        "death_or_permanent_ventilation": dpv, "death": death,
    })


def _event_before(rng, group, anchor, spec) -> np.ndarray:
    """With probability p (per group), an event at a uniform fraction [a, b] of ``anchor``."""
    u, u_frac = rng.random(len(group)), rng.random(len(group))
    out = np.full(len(group), NEVER)
    for g, (p, a, b) in spec.items():
        m = group == g
        out[m] = np.where(u[m] < p, anchor[m] * _uniform_between(u_frac[m], a, b), NEVER)
    return out


def _milestones(rng, subtype, onset) -> dict[str, np.ndarray]:
    """Motor milestones consistent with the subtype (ages in years; inf = never)."""
    n = len(subtype)
    u = {name: rng.random(n) for name in ("head_p", "head", "sit", "stand", "walk")}
    head_p = {"0": 0.0, "1a": 0.0, "1b": 0.1, "1c": 0.4}
    is1 = np.isin(subtype, ["1a", "1b", "1c"])
    p_head = np.array([head_p.get(s, 1.0) for s in subtype])
    head = np.where(u["head_p"] < p_head,
                    np.where(is1, _uniform_between(u["head"], 0.3, 0.6),
                             _uniform_between(u["head"], 0.2, 0.4)), NEVER)
    is2 = np.isin(subtype, ["2a", "2b"])
    walker = np.isin(subtype, ["3a", "3b", "4"])
    sit = np.where(is2, _uniform_between(u["sit"], 0.6, 1.2),
                   np.where(walker, _uniform_between(u["sit"], 0.45, 0.75), NEVER))
    is3a = subtype == "3a"
    stand = np.where(walker, np.where(is3a, _uniform_between(u["stand"], 0.9, 1.1),
                                      _uniform_between(u["stand"], 0.75, 1.0)), NEVER)
    # 3a walks before its onset at >= 18 months, so loss of walking comes after walking.
    walk = np.where(walker, np.where(is3a, _uniform_between(u["walk"], 1.15, 1.45),
                                     _uniform_between(u["walk"], 1.05, 1.4)), NEVER)
    return {"head_control": head, "sits_independently": sit,
            "stands_independently": stand, "walks_independently": walk}


# --------------------------------------------------------------------------- known truth
def _component_survival(model: SurvivalModel, copies: int, t: np.ndarray) -> np.ndarray:
    scale = model.scale_years * model.copy_time_ratio.get(int(copies), 1.0)
    t = np.maximum(np.asarray(t, dtype=float), 1e-12)
    if model.family == "lognormal":
        return stats.norm.sf(np.log(t / scale) / model.shape)
    return np.exp(-((t / scale) ** model.shape))


def _component_quantiles(model: SurvivalModel, copies: int, n: int) -> np.ndarray:
    q = (np.arange(n) + 0.5) / n
    scale = model.scale_years * model.copy_time_ratio.get(int(copies), 1.0)
    if model.family == "lognormal":
        return scale * np.exp(model.shape * stats.norm.ppf(q))
    return scale * (-np.log1p(-q)) ** (1.0 / model.shape)


def true_survival(endpoint: str, sma_type_group: str, ages_years: np.ndarray,
                  params: SimulationParams | dict | None = None) -> np.ndarray:
    """Untreated survival function S(age) of the birth population of one SMA type group.

    Computed from the simulator's distributions (mixture over SMN2 copy numbers with their
    birth proportions, ventilation branch by numerical integration), not from a registry.

    A delayed-entry Kaplan-Meier estimate on a simulated registry recovers the
    ``death_or_permanent_ventilation`` truth exactly (in expectation). For ``death`` it is
    only approximate: enrolment also requires freedom from permanent ventilation, so
    patients ventilated before enrolment (who live on for a while) never enter, and the
    registry's death curve sits slightly off this truth in the tail (type 1: about -0.02
    at 4 years; type 2: about +0.03 at 30 years, in a very large registry).

    Parameters
    ----------
    endpoint : {'death_or_permanent_ventilation', 'death'}
    sma_type_group : {'0', '1', '2', '3', '4'}
    ages_years : array_like
        Ages (years) at which to evaluate S.
    params : SimulationParams or dict, optional
        Defaults to the bundled natural history.

    Returns
    -------
    numpy.ndarray
        P(event age > age), same shape as ``ages_years``.
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
    if sma_type_group not in TYPE_GROUPS:
        raise ValueError(f"sma_type_group must be one of {TYPE_GROUPS}, got {sma_type_group!r}")
    nh = _as_params(params).natural_history
    model = nh.survival[sma_type_group]
    ages = np.asarray(ages_years, dtype=float)
    flat = ages.ravel()
    total = np.zeros_like(flat)
    weights = nh.smn2_distribution[sma_type_group]
    norm = sum(weights.values())
    p = model.p_ventilation
    for copies, w in weights.items():
        s = _component_survival(model, copies, flat)
        if endpoint == model.primary:
            part = s
        elif model.primary == "death_or_permanent_ventilation":  # death = T + R if ventilated
            t_q = _component_quantiles(model, copies, 4000)
            resid = flat[:, None] - t_q[None, :]
            s_post = stats.norm.sf(np.log(np.maximum(resid, 1e-300) / nh.post_ventilation_median_years)
                                   / nh.post_ventilation_sigma)
            part = (1 - p) * s + p * np.where(resid <= 0, 1.0, s_post).mean(axis=1)
        else:  # death or ventilation = min(T, U * T) with U uniform, if ventilated
            lo, hi = nh.ventilation_fraction_of_death_age
            frac = lo + (np.arange(400) + 0.5) / 400 * (hi - lo)
            s_vent = _component_survival(model, copies, flat[:, None] / frac[None, :]).mean(axis=1)
            part = (1 - p) * s + p * s_vent
        total += w / norm * part
    total = np.where(flat <= 0, 1.0, total)
    return total.reshape(ages.shape)


def true_median(endpoint: str, sma_type_group: str,
                params: SimulationParams | dict | None = None) -> float:
    """Age (years) at which :func:`true_survival` crosses 0.5."""
    return float(optimize.brentq(
        lambda a: true_survival(endpoint, sma_type_group, np.array([a]), params)[0] - 0.5,
        1e-6, 150.0, xtol=1e-9))
