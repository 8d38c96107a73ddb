"""Motor-score progression: natural-history assessments, linear mixed models per scale and
stratum, predicted trajectories, floor and ceiling counts (README, "Analysis definitions").

Natural-history assessments
    Assessments of the scale dated strictly **before** the patient's first treatment start
    (all assessments of untreated patients); age = (date − birth_date) in days / 365.25.

Model (per scale, stratification and stratum; :func:`fit_stratum`)
    Default ``score ~ 1 + age`` with a random intercept and random age slope per patient
    (unstructured 2×2 covariance), REML — lme4's ``lmer(score ~ age + (age | patient_id))``,
    fitted by :mod:`smanh.progression.lmm`. Options per scale (:class:`ScaleOptions`):

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
from scipy import special  # not scipy.stats: its import alone takes 0.4 s

from smanh.config.scales import ScaleOptions
from smanh.errors import ModelError
from smanh.progression.design import (
    age_grid,
    fixed_design,
    predicted_trajectory,
    segment_contrasts,
)
from smanh.progression.lmm import LMMResult, fit_lmm_arrays
from smanh.progression.selection import distinct_patients, strata_of

SLOPE_COLUMNS = [
    "scale", "stratify_by", "stratum", "n_patients", "n_assessments", "slope_per_year", "se",
    "lo", "hi", "note",
]
FIXED_EFFECT_COLUMNS = [
    "scale", "stratify_by", "stratum", "model", "kind", "term", "estimate", "se", "lo", "hi",
    "z", "p",
]
VARIANCE_COLUMNS = [
    "scale", "stratify_by", "stratum", "model", "formula", "random_effects", "reml",
    "n_patients", "n_assessments", "var_intercept", "var_age", "cov_intercept_age",
    "corr_intercept_age", "sigma2", "loglik", "converged", "singular", "n_iterations",
    "status", "note",
]
TRAJECTORY_COLUMNS = ["scale", "stratify_by", "stratum", "age_years", "predicted", "lo", "hi"]


@dataclass
class StratumFit:
    """One model fit (or the reason there is none)."""

    fit: LMMResult | None
    status: str  # fitted | random_intercept_only | not_modelled
    note: str
    columns: list[str] = field(default_factory=list)
    design_means: dict[str, pd.Series] = field(default_factory=dict)


def fit_design(data: pd.DataFrame, x: pd.DataFrame, reml: bool) -> StratumFit:
    """Fit ``score ~ x + (1 + age | patient_id)``; fall back to a random intercept when
    the engine refuses the random slope; no fit (with the reason) when refused again."""
    y = data["score"].to_numpy(float)
    groups = data["patient_id"].to_numpy()
    xa = x.to_numpy(float)
    z = np.column_stack([np.ones(len(data)), data["age"].to_numpy(float)])
    try:
        fit = fit_lmm_arrays(
            y, xa, z, groups, reml=reml, fe_names=list(x.columns), re_names=["(Intercept)", "age"]
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
        note = f"random age slope refused ({slope_error}); fitted with a random intercept only"
        return StratumFit(fit, "random_intercept_only", note + (f"; {extra}" if extra else ""),
                          list(x.columns))


def _wald(estimate: float, se: float, level: float) -> dict:
    z = special.ndtri(0.5 + level / 2)
    zstat = estimate / se if se > 0 else np.nan
    return {
        "estimate": estimate, "se": se, "lo": estimate - z * se, "hi": estimate + z * se,
        "z": zstat, "p": 2 * special.ndtr(-abs(zstat)) if np.isfinite(zstat) else np.nan,
    }


def _contrast(fit: LMMResult, vec: np.ndarray, level: float) -> dict:
    beta = fit.params_.to_numpy()
    cov = fit.cov_params_.to_numpy()
    return _wald(float(vec @ beta), float(np.sqrt(vec @ cov @ vec)), level)


@dataclass
class ProgressionOptions:
    """Study choices of the models (``progression.*`` and ``analysis.confidence_level`` of
    the validated config; their defaults are the schema's)."""

    stratify_by: list[str]
    min_patients: int
    confidence_level: float
    trajectory_step: float
    birth_eras: tuple[int, ...] | None


def analyse_scale(data: pd.DataFrame, model: ScaleOptions, options: ProgressionOptions) -> dict:
    """Every model table of one scale: ``lmm_slopes``, ``lmm_fixed_effects``,
    ``lmm_variance_components``, ``lmm_trajectories`` (DataFrames with the module's
    column lists). ``data``: :func:`natural_history_assessments` of the scale."""
    out = {k: [] for k in ("lmm_slopes", "lmm_fixed_effects", "lmm_variance_components",
                           "lmm_trajectories")}
    level = options.confidence_level
    patients = pd.factorize(data["patient_id"])[0]
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
        fits: dict[str, tuple[StratumFit, str | None, pd.DataFrame]] = {}
        pooled = model.stratum_interaction and stratify_by != "all" and len(modelled) >= 2
        if pooled:
            keep = np.isin(codes, [code[s] for s in modelled])
            part, part_labels = data[keep], labels[keep]
            x = fixed_design(part, model, part_labels, modelled)
            result = fit_design(part, x, model.reml)
            n_pat, n_obs = part["patient_id"].nunique(), len(part)
            out["lmm_variance_components"].append(
                _variance_row(model, stratify_by, "pooled", "pooled", result, n_pat, n_obs,
                              model.formula(stratify_by)))
            if result.fit is not None:
                for term, row in _coefficients(result.fit, level).items():
                    out["lmm_fixed_effects"].append({
                        "scale": model.name, "stratify_by": stratify_by, "stratum": "pooled",
                        "model": "pooled", "kind": "coefficient", "term": term, **row})
            for s in modelled:
                fits[s] = (result, None if s == modelled[0] else s, x[codes[keep] == code[s]])
        for stratum in present:
            n_pat, n_obs = counts[stratum]
            rows = codes == code[stratum]
            slope = {"slope_per_year": np.nan, "se": np.nan, "lo": np.nan, "hi": np.nan}
            note = ""
            if stratum not in modelled:
                note = not_modelled_note(options.min_patients)
                out["lmm_variance_components"].append(_variance_row(
                    model, stratify_by, stratum, "separate",
                    StratumFit(None, "not_modelled", note), n_pat, n_obs, model.formula()))
            else:
                if stratum in fits:
                    result, contrast_stratum, x_s = fits[stratum]
                    kind_model = "pooled"
                else:
                    part = data[rows]
                    x_s = fixed_design(part, model)
                    result, contrast_stratum = fit_design(part, x_s, model.reml), None
                    kind_model = "separate"
                    out["lmm_variance_components"].append(_variance_row(
                        model, stratify_by, stratum, "separate", result, n_pat, n_obs,
                        model.formula()))
                    if result.fit is not None:
                        for term, row in _coefficients(result.fit, level).items():
                            out["lmm_fixed_effects"].append({
                                "scale": model.name, "stratify_by": stratify_by,
                                "stratum": stratum, "model": "separate",
                                "kind": "coefficient", "term": term, **row})
                note = _short_note(result)
                if result.fit is not None:
                    contrasts = segment_contrasts(result.columns, model.knots, contrast_stratum)
                    for name, vec in contrasts.items():
                        row = _contrast(result.fit, vec, level)
                        out["lmm_fixed_effects"].append({
                            "scale": model.name, "stratify_by": stratify_by, "stratum": stratum,
                            "model": kind_model, "kind": "segment_slope", "term": f"slope_{name}",
                            **row})
                    first = _contrast(result.fit, next(iter(contrasts.values())), level)
                    slope = {"slope_per_year": first["estimate"], "se": first["se"],
                             "lo": first["lo"], "hi": first["hi"]}
                    grid = age_grid(data.loc[rows, "age"], options.trajectory_step)
                    traj = predicted_trajectory(result.fit, model, grid, x_s.mean(), level,
                                                contrast_stratum)
                    traj.insert(0, "stratum", stratum)
                    traj.insert(0, "stratify_by", stratify_by)
                    traj.insert(0, "scale", model.name)
                    out["lmm_trajectories"].append(traj)
            out["lmm_slopes"].append({
                "scale": model.name, "stratify_by": stratify_by, "stratum": stratum,
                "n_patients": n_pat, "n_assessments": n_obs, **slope, "note": note})
    if data.empty:
        out["lmm_slopes"].append({"scale": model.name, "stratify_by": "all", "stratum": "all",
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


def not_modelled_note(min_patients: int) -> str:
    return f"fewer than {min_patients} patients (progression.min_patients): counted, not modelled"


def no_assessments_note(scale: str) -> str:
    return f"no natural-history {scale} assessments in the export"


def _short_note(result: StratumFit) -> str:
    """What a slope's reader must know of its fit, in a phrase (the full message is in
    ``lmm_variance_components.csv``)."""
    if result.status == "not_modelled":
        return "not modelled: " + result.note.removeprefix("not modelled: ").split("; ")[0]
    if result.status == "random_intercept_only":
        return "random intercept only: the random age slope is not identifiable"
    if result.fit is not None and result.fit.singular_:
        return "singular fit: a variance component is estimated as zero"
    return ""


def _coefficients(fit: LMMResult, level: float) -> dict[str, dict]:
    return {term: _wald(float(fit.params_[term]), float(fit.bse_[term]), level)
            for term in fit.params_.index}


def _variance_row(model, stratify_by, stratum, kind, result: StratumFit, n_pat, n_obs,
                  formula) -> dict:
    row = {
        "scale": model.name, "stratify_by": stratify_by, "stratum": stratum, "model": kind,
        "formula": formula, "reml": model.reml, "n_patients": n_pat, "n_assessments": n_obs,
        "status": result.status, "note": result.note,
    }
    fit = result.fit
    if fit is None:
        row["random_effects"] = ""
        return row
    g = fit.cov_re_
    row["random_effects"] = " + ".join("intercept" if c == "(Intercept)" else c for c in g.index)
    row["var_intercept"] = float(g.iloc[0, 0])
    if g.shape[0] > 1:
        row["var_age"] = float(g.iloc[1, 1])
        row["cov_intercept_age"] = float(g.iloc[0, 1])
        row["corr_intercept_age"] = float(fit.corr_re_.iloc[0, 1])
    row.update(sigma2=fit.sigma2_, loglik=fit.loglik_, converged=fit.converged_,
               singular=fit.singular_, n_iterations=fit.n_iter_)
    return row
