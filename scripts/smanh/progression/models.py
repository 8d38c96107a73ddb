"""Motor-score progression: natural-history assessments, linear mixed models per scale and
stratum, predicted trajectories, floor and ceiling counts (README, "Analysis definitions").

Natural-history assessments
    Assessments of the scale dated strictly **before** the patient's first treatment start
    (all assessments of untreated patients); age = (date − birth_date) in days / 365.25.

Model (per scale, stratification, stratum and time scale; :func:`analyse_scale`)
    Time scale ``age``: ``score ~ 1 + age_c`` with a random intercept and random slope per
    patient (unstructured 2×2 covariance), REML — lme4's ``lmer(score ~ age_c + (age_c |
    patient_id))``; time scale ``baseline_age_and_time``: ``score ~ 1 + baseline_age_c +
    years`` with ``(years | patient_id)``, whose ``years`` slope (per year of follow-up) is
    the natural-history rate (:mod:`smanh.progression.design`). Both by default
    (``time_scales``); ``age_c`` / ``baseline_age_c`` centred at ``centre`` (None: the
    stratum's median). Fitted by :mod:`smanh.progression.lmm`; every estimate with
    Satterthwaite df, t interval and p (lmerTest's ``contest1D``). Slopes and trajectories
    only over the range of the time variable where ``min_patients`` patients have data
    (:func:`smanh.progression.design.covered_range`); means outside the scale's range and
    floor / ceiling shares of at least ``floor_ceiling_share`` are flagged. Options per
    scale (:class:`ScaleOptions`):

    * ``knots``: piecewise-linear age, ``+ (age − k)₊`` per knot *k* (fixed part only; the
      random part stays ``(1 + age | patient)``). The coefficient of ``age`` is the slope
      before the first knot, which ``lmm_slopes.csv`` reports; the slope of every segment
      is in ``lmm_fixed_effects.csv`` (``kind = segment_slope``).
    * ``terms``: extra fixed effects — ``sex``, ``smn2_copies``, ``sma_type``, ``site``,
      ``birth_era`` (factors; reference = first level present in sorted order; unknown is
      a level of its own) and ``birth_year`` (numeric, centred at 2000).
    * ``stratum_interaction``: instead of one model per stratum, one pooled model over the
      modelled strata of a stratification with the stratum as factor and its interactions
      with ``age`` (and the knot terms); each stratum's slope is a linear contrast of the
      pooled coefficients (Wald SE from their covariance). The random-effects covariance
      is then shared by the strata.

Degenerate strata (documented behaviour; never a silent number)
    * fewer than ``min_patients`` patients: reported (counts) but not modelled,
      ``status = not_modelled`` with a note;
    * random age slope not identifiable (e.g. one assessment per patient, age constant
      within patients) or otherwise refused by the engine: refitted with a random intercept
      only, ``status = random_intercept_only`` with the engine's reason in ``note``;
    * refused again (zero variance of the score, too few assessments...): no estimates,
      ``status = not_modelled``, the engine's message in ``note``;
    * singular (boundary) fits are kept — their fixed effects are still the exact REML
      estimates, as in lme4 — and flagged ``singular = True`` with the engine's message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smanh.config.scales import SCALES, ScaleOptions
from smanh.errors import ModelError
from smanh.progression.design import (
    age_grid,
    centre_of,
    covered_range,
    fixed_design,
    predicted_trajectory,
    segment_contrasts,
    time_term,
    with_baseline,
)
from smanh.progression.lmm import LMMFit, fit_lmm_arrays
from smanh.progression.selection import distinct_patients, strata_of

SLOPE_COLUMNS = [
    "scale", "stratify_by", "stratum", "time_scale", "natural_history_rate", "centre",
    "n_patients", "n_assessments", "slope_per_year", "se", "df", "lo", "hi", "p",
    "range_from", "range_to", "outside_scale", "floor_ceiling_flag", "note",
]
FIXED_EFFECT_COLUMNS = [
    "scale", "stratify_by", "stratum", "time_scale", "centre", "model", "kind", "term",
    "estimate", "se", "df", "lo", "hi", "t", "p",
]
VARIANCE_COLUMNS = [
    "scale", "stratify_by", "stratum", "time_scale", "centre", "model", "formula",
    "random_effects", "reml", "n_patients", "n_assessments", "var_intercept", "var_age",
    "cov_intercept_age", "corr_intercept_age", "sigma2", "loglik", "converged", "singular",
    "n_iterations", "status", "note",
]
TRAJECTORY_COLUMNS = ["scale", "stratify_by", "stratum", "time_scale", "age_years",
                      "years_since_baseline", "predicted", "lo", "hi", "note"]


@dataclass
class StratumFit:
    """One model fit (or the reason there is none)."""

    fit: LMMFit | None
    status: str  # fitted | random_intercept_only | not_modelled
    note: str
    columns: list[str] = field(default_factory=list)
    design_means: dict[str, pd.Series] = field(default_factory=dict)


def fit_design(data: pd.DataFrame, x: pd.DataFrame, reml: bool, time: str = "age",
               theta0: np.ndarray | None = None) -> StratumFit:
    """Fit ``score ~ x + (1 + time | patient_id)`` (``time``: the design column ``age``,
    centred, or ``years`` since baseline); fall back to a random intercept when the engine
    refuses the random slope; no fit (with the reason) when refused again. ``theta0``: a
    starting relative covariance factor for the random intercept and slope (the same
    stratum's fit on the other time scale saves the optimiser a fifth of its steps)."""
    y = data["score"].to_numpy(float)
    # integer patient codes when the caller made them (factorizing text ids per fit is slow)
    groups = data["_patient"].to_numpy() if "_patient" in data else data["patient_id"].to_numpy()
    xa = x.to_numpy(float)
    z = np.column_stack([np.ones(len(data)), x[time].to_numpy(float)])
    try:
        fit = fit_lmm_arrays(
            y, xa, z, groups, reml=reml, fe_names=list(x.columns), re_names=["(Intercept)", time],
            theta0=theta0 if theta0 is not None and np.size(theta0) == 3 else None,
        )
        note = "; ".join(m for m in fit.messages_ if not m.startswith("BFGS"))
        return StratumFit(fit, "fitted", note, list(x.columns))
    except ModelError as slope_error:
        try:
            fit = fit_lmm_arrays(
                y, xa, z[:, :1], groups, reml=reml, fe_names=list(x.columns),
                re_names=["(Intercept)"],
            )
        except ModelError as intercept_error:
            return StratumFit(
                None, "not_modelled",
                f"not modelled: {slope_error}" + (
                    f"; random intercept only: {intercept_error}"
                    if str(intercept_error) != str(slope_error) else ""
                ),
                list(x.columns),
            )
        extra = "; ".join(m for m in fit.messages_ if not m.startswith("BFGS"))
        note = f"random {time} slope refused ({slope_error}); fitted with a random intercept only"
        return StratumFit(fit, "random_intercept_only", note + (f"; {extra}" if extra else ""),
                          list(x.columns))


def _contrast(fit: LMMFit, vec: np.ndarray, confidence_level: float) -> dict:
    """Estimate, SE, Satterthwaite df, t interval, t and p of ``vec' beta`` (lmerTest's
    ``contest1D``)."""
    row = fit.contrast(vec, confidence_level)
    return {"estimate": row["estimate"], "se": row["se"], "df": row["df"], "lo": row["lower"],
            "hi": row["upper"], "t": row["t"], "p": row["p"]}


@dataclass
class ProgressionOptions:
    """Study choices of the models (``progression.*`` and ``analysis.confidence_level`` of
    the validated config; their defaults are the schema's)."""

    stratify_by: list[str]
    min_patients: int
    confidence_level: float
    trajectory_step: float
    birth_eras: tuple[int, ...] | None
    floor_ceiling_share: float = 0.15


def analyse_scale(data: pd.DataFrame, model: ScaleOptions, options: ProgressionOptions) -> dict:
    """Every model table of one scale: ``lmm_slopes``, ``lmm_fixed_effects``,
    ``lmm_variance_components``, ``lmm_trajectories`` (DataFrames with the module's
    column lists), with rows for each of the scale's time scales. ``data``:
    :func:`natural_history_assessments` of the scale."""
    out = {k: [] for k in ("lmm_slopes", "lmm_fixed_effects", "lmm_variance_components",
                           "lmm_trajectories")}
    if not data.empty:
        data = with_baseline(data)
        # patient codes in the order of the sorted ids, as the engine would number them
        data["_patient"] = pd.factorize(data["patient_id"], sort=True)[0]
    rate = model.time_scales[-1]  # the longitudinal slope when fitted, else the age slope
    starts: dict = {}  # theta of each stratum's fit, a start for its other time scale
    for time_scale in model.time_scales:
        _analyse_time_scale(data, model, options, time_scale, time_scale == rate, out, starts)
    if data.empty:
        for time_scale in model.time_scales:
            out["lmm_slopes"].append({
                "scale": model.name, "stratify_by": "all", "stratum": "all",
                "time_scale": time_scale, "natural_history_rate": time_scale == rate,
                "n_patients": 0, "n_assessments": 0, "note": no_assessments_note(model.name)})
    return {
        "lmm_slopes": pd.DataFrame(out["lmm_slopes"], columns=SLOPE_COLUMNS),
        "lmm_fixed_effects": pd.DataFrame(out["lmm_fixed_effects"], columns=FIXED_EFFECT_COLUMNS),
        "lmm_variance_components": pd.DataFrame(out["lmm_variance_components"],
                                                columns=VARIANCE_COLUMNS),
        "lmm_trajectories": (
            pd.concat(out["lmm_trajectories"], ignore_index=True)[TRAJECTORY_COLUMNS]
            if out["lmm_trajectories"] else pd.DataFrame(columns=TRAJECTORY_COLUMNS)
        ),
    }


def _analyse_time_scale(data, model: ScaleOptions, options: ProgressionOptions, time_scale: str,
                        is_rate: bool, out: dict, starts: dict) -> None:
    confidence_level = options.confidence_level
    time = time_term(time_scale)
    patients = pd.factorize(data["patient_id"])[0]
    step = options.trajectory_step
    key = {"scale": model.name}
    low, high = SCALES[model.name].floor_and_ceiling
    score = data["score"].to_numpy(float)
    at_bound = (score <= low) | ((score >= high) if high is not None else False)
    for stratify_by in options.stratify_by:
        labels, order = strata_of(data, stratify_by, options.birth_eras)
        # Strata as integer codes: one pass over the text labels, not one per stratum.
        codes, found = pd.factorize(labels, use_na_sentinel=False)
        code = {label: k for k, label in enumerate(found)}
        present = [s for s in order if s in code]
        counts = {}
        for s in present:
            rows = codes == code[s]
            counts[s] = (distinct_patients(patients[rows]), int(rows.sum()))
        modelled = [s for s in present if counts[s][0] >= options.min_patients]
        fits: dict[str, tuple[StratumFit, str | None, pd.DataFrame, float]] = {}
        pooled = model.stratum_interaction and stratify_by != "all" and len(modelled) >= 2
        if pooled:
            keep = np.isin(codes, [code[s] for s in modelled])
            part, part_labels = data[keep], labels[keep]
            centre = centre_of(part, time_scale, model.centre)
            x = fixed_design(part, model, part_labels, modelled, time_scale, centre)
            result = fit_design(part, x, model.reml, time, starts.get((stratify_by, "pooled")))
            if result.fit is not None:
                starts[(stratify_by, "pooled")] = result.fit.theta_
            n_pat, n_obs = part["patient_id"].nunique(), len(part)
            head = {**key, "stratify_by": stratify_by, "stratum": "pooled",
                    "time_scale": time_scale, "centre": centre}
            out["lmm_variance_components"].append(
                _variance_row(model, head, "pooled", result, n_pat, n_obs,
                              model.formula(stratify_by, time_scale)))
            if result.fit is not None:
                for term, row in _coefficients(result.fit, confidence_level).items():
                    out["lmm_fixed_effects"].append({
                        **head, "model": "pooled", "kind": "coefficient", "term": term, **row})
            for s in modelled:
                fits[s] = (result, None if s == modelled[0] else s, x[codes[keep] == code[s]],
                           centre)
        for stratum in present:
            n_pat, n_obs = counts[stratum]
            rows = codes == code[stratum]
            head = {**key, "stratify_by": stratify_by, "stratum": stratum, "time_scale": time_scale}
            slope = {}
            note = ""
            flagged = bool(at_bound[rows].mean() >= options.floor_ceiling_share)
            if stratum not in modelled:
                note = not_modelled_note(options.min_patients)
                out["lmm_variance_components"].append(_variance_row(
                    model, head, "separate", StratumFit(None, "not_modelled", note), n_pat, n_obs,
                    model.formula(time_scale=time_scale)))
            else:
                if stratum in fits:
                    result, contrast_stratum, x_s, centre = fits[stratum]
                    kind_model = "pooled"
                else:
                    part = data[rows]
                    centre = centre_of(part, time_scale, model.centre)
                    x_s = fixed_design(part, model, time_scale=time_scale, centre=centre)
                    result = fit_design(part, x_s, model.reml, time,
                                        starts.get((stratify_by, stratum)))
                    if result.fit is not None:
                        starts[(stratify_by, stratum)] = result.fit.theta_
                    contrast_stratum = None
                    kind_model = "separate"
                    out["lmm_variance_components"].append(_variance_row(
                        model, {**head, "centre": centre}, "separate", result, n_pat, n_obs,
                        model.formula(time_scale=time_scale)))
                    if result.fit is not None:
                        for term, row in _coefficients(result.fit, confidence_level).items():
                            out["lmm_fixed_effects"].append({
                                **head, "centre": centre, "model": "separate",
                                "kind": "coefficient", "term": term, **row})
                head["centre"] = centre
                note = _short_note(result, time)
                if result.fit is not None:
                    contrasts = segment_contrasts(result.columns, model.knots, contrast_stratum,
                                                  time)
                    for name, vec in contrasts.items():
                        row = _contrast(result.fit, vec, confidence_level)
                        out["lmm_fixed_effects"].append({
                            **head, "model": kind_model, "kind": "segment_slope",
                            "term": f"slope_{name}", **row})
                    first = _contrast(result.fit, next(iter(contrasts.values())), confidence_level)
                    slope = {k: first[k] for k in ("se", "df", "lo", "hi", "p")}
                    slope["slope_per_year"] = first["estimate"]
                    values = data[time if time == "years" else "age"].to_numpy(float)[rows]
                    grid = age_grid(pd.Series(values), step)
                    covered = covered_range(values, pd.factorize(patients[rows])[0], grid,
                                            options.min_patients, step)
                    if covered is None:
                        slope = {}
                        note = _join(note, no_range_note(options.min_patients))
                    else:
                        slope["range_from"], slope["range_to"] = covered
                        grid = grid[(grid >= covered[0]) & (grid <= covered[1])]
                        traj = predicted_trajectory(result.fit, model, grid, x_s.mean(), confidence_level,
                                                    contrast_stratum, time_scale, centre)
                        outside = _outside_scale(traj["predicted"].to_numpy(), model.name)
                        traj["note"] = np.where(outside, outside_note(model.name), "")
                        if outside.any():
                            where = traj.loc[outside, "age_years"]
                            slope["outside_scale"] = True
                            note = _join(note, outside_note(model.name) + (
                                f" at ages {where.min():.1f}–{where.max():.1f}"))
                        else:
                            slope["outside_scale"] = False
                        for column, value in reversed(head.items()):
                            if column != "centre":
                                traj.insert(0, column, value)
                        out["lmm_trajectories"].append(traj)
            if flagged and "slope_per_year" in slope:
                note = _join(note, floor_ceiling_note(options.floor_ceiling_share))
            out["lmm_slopes"].append({
                **head, "natural_history_rate": is_rate, "n_patients": n_pat,
                "n_assessments": n_obs, **slope, "floor_ceiling_flag": flagged, "note": note})


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def outside_note(scale: str) -> str:
    low, high = SCALES[scale].valid_range
    bound = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
    return f"fitted mean outside the scale's range ({bound})"


def floor_ceiling_note(share: float) -> str:
    return (f"at least {100 * share:g}% of assessments at the scale's floor or ceiling: the linear "
            "model is unreliable there")


def no_range_note(min_patients: int) -> str:
    return (f"no age at which enough patients (progression.min_patients = {min_patients}) have "
            "data: slope and trajectory not reported")


def _outside_scale(predicted: np.ndarray, scale: str) -> np.ndarray:
    low, high = SCALES[scale].valid_range
    outside = predicted < low
    if high is not None and SCALES[scale].ceiling:
        outside |= predicted > high
    return outside


def not_modelled_note(min_patients: int) -> str:
    return f"fewer than {min_patients} patients (progression.min_patients): counted, not modelled"


def no_assessments_note(scale: str) -> str:
    return f"no natural-history {scale} assessments in the export"


def _short_note(result: StratumFit, time: str = "age") -> str:
    """What a slope's reader must know of its fit, in a phrase (the full message is in
    ``lmm_variance_components.csv``)."""
    if result.status == "not_modelled":
        return "not modelled: " + result.note.removeprefix("not modelled: ").split("; ")[0]
    if result.status == "random_intercept_only":
        return f"random intercept only: the random {time} slope is not identifiable"
    if result.fit is not None and result.fit.singular_:
        return "singular fit: a variance component is estimated as zero"
    return ""


def _coefficients(fit: LMMFit, confidence_level: float) -> dict[str, dict]:
    """Per coefficient: estimate, SE, Satterthwaite df, t interval, t and p."""
    table = fit.summary(ddf="satterthwaite", confidence_level=confidence_level)
    return {term: {"estimate": r.estimate, "se": r.se, "df": r.df, "lo": r.lower, "hi": r.upper,
                   "t": r.t, "p": r.p} for term, r in zip(table.index, table.itertuples())}


def _variance_row(model, head: dict, kind, result: StratumFit, n_pat, n_obs, formula) -> dict:
    row = {
        **head, "model": kind,
        "formula": formula, "reml": model.reml, "n_patients": n_pat, "n_assessments": n_obs,
        "status": result.status, "note": result.note,
    }
    fit = result.fit
    if fit is None:
        row["random_effects"] = ""
        return row
    g = fit.cov_re_
    row["random_effects"] = " + ".join(
        "intercept" if c == "(Intercept)" else "years since baseline" if c == "years" else "age"
        for c in g.index)
    row["var_intercept"] = float(g.iloc[0, 0])
    if g.shape[0] > 1:
        row["var_age"] = float(g.iloc[1, 1])
        row["cov_intercept_age"] = float(g.iloc[0, 1])
        row["corr_intercept_age"] = float(fit.corr_re_.iloc[0, 1])
    row.update(sigma2=fit.sigma2_, loglik=fit.loglik_, converged=fit.converged_,
               singular=fit.singular_, n_iterations=fit.n_iter_)
    return row
