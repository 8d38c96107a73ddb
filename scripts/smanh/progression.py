"""Motor-score progression: natural-history assessments, linear mixed models per scale and
stratum, predicted trajectories, floor and ceiling counts (``registry-format.md`` §2).

Natural-history assessments
    Assessments of the scale dated strictly **before** the patient's first treatment start
    (all assessments of untreated patients); age = (date − birth_date) in days / 365.25.

Model (per scale, stratification and stratum; :func:`fit_stratum`)
    Default ``score ~ 1 + age`` with a random intercept and random age slope per patient
    (unstructured 2×2 covariance), REML — lme4's ``lmer(score ~ age + (age | patient_id))``,
    fitted by :mod:`smanh.lmm`. Options per scale (:class:`ScaleModel`):

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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from smanh.endpoints import DAYS_PER_YEAR
from smanh.errors import ConfigError, ModelError
from smanh.strata import dataset_strata, sma_type_group, smn2_group
from smanh.table_names import PROGRESSION_TABLES  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from smanh.lmm import LMMResult

SCALES = ("HFMSE", "RULM", "CHOP_INTEND", "HINE2", "6MWT", "FVC_PCT")
#: Floor and ceiling of each scale (None: the scale has no ceiling; 6MWT in metres and
#: FVC % predicted are open-ended, 200 % is a plausibility bound, not a ceiling).
SCALE_RANGES = {
    "HFMSE": (0.0, 66.0),
    "RULM": (0.0, 37.0),
    "CHOP_INTEND": (0.0, 64.0),
    "HINE2": (0.0, 26.0),
    "6MWT": (0.0, None),
    "FVC_PCT": (0.0, None),
}
FACTOR_TERMS = {
    "sex": "sex",
    "smn2_copies": "smn2_group",
    "sma_type": "sma_type_group",
    "site": "site",
    "birth_era": "birth_era",
}
NUMERIC_TERMS = {"birth_year": 2000.0}  # term -> centre
TERMS = (*FACTOR_TERMS, *NUMERIC_TERMS)

SLOPE_COLUMNS = [
    "scale", "stratify_by", "stratum", "n_patients", "n_assessments", "slope_per_year", "se",
    "lo", "hi",
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
FLOOR_CEILING_COLUMNS = [
    "scale", "stratify_by", "stratum", "n_patients", "n_assessments", "floor", "ceiling",
    "n_at_floor", "n_at_ceiling", "share_at_floor", "share_at_ceiling",
    "n_patients_ever_at_floor", "n_patients_ever_at_ceiling",
]
ASSESSMENT_COLUMNS = [
    "patient_id", "scale", "date", "age", "score", "sma_type_group", "smn2_group", "sex",
    "site", "birth_year",
]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ScaleModel:
    """Model options of one scale (``progression.scales[i]`` merged over the defaults)."""

    name: str
    knots: tuple[float, ...] = ()
    terms: tuple[str, ...] = ()
    stratum_interaction: bool = False
    reml: bool = True
    threshold: float | None = None  # 12-month change threshold (None: progression.change)

    def formula(self, interaction_with: str | None = None) -> str:
        """The model in lme4 notation (for the tables and the report)."""
        age = "age" + "".join(f" + pmax(age - {k:g}, 0)" for k in self.knots)
        fixed = f"({age}) * {interaction_with}" if interaction_with else age
        terms = "".join(f" + {t}" for t in self.terms)
        return f"score ~ {fixed}{terms} + (age | patient_id)"


def scale_models(progression: dict) -> dict[str, ScaleModel]:
    """Every configured scale's model: a name takes the ``progression`` defaults, a
    mapping overrides them. Raises ``ConfigError`` for unknown names or terms."""
    defaults = {
        "knots": tuple(sorted(float(k) for k in progression.get("knots", []))),
        "terms": tuple(progression.get("terms", [])),
        "stratum_interaction": bool(progression.get("stratum_interaction", False)),
        "reml": bool(progression.get("reml", True)),
    }
    models: dict[str, ScaleModel] = {}
    for i, spec in enumerate(progression.get("scales", SCALES)):
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = spec.get("name")
        if name not in SCALES:
            raise ConfigError(
                f"config key 'progression.scales[{i}]': unknown scale {name!r} "
                f"(one of: {', '.join(SCALES)})"
            )
        if name in models:
            raise ConfigError(f"config key 'progression.scales[{i}]': scale {name} given twice")
        options = dict(defaults)
        if "knots" in spec:
            options["knots"] = tuple(sorted(float(k) for k in spec["knots"]))
        if "terms" in spec:
            options["terms"] = tuple(spec["terms"])
        for key in ("stratum_interaction", "reml"):
            if key in spec:
                options[key] = bool(spec[key])
        if "threshold" in spec:
            options["threshold"] = float(spec["threshold"])
        unknown = [t for t in options["terms"] if t not in TERMS]
        if unknown:
            raise ConfigError(
                f"config key 'progression.scales[{i}]': unknown term(s) {unknown} "
                f"(allowed: {', '.join(TERMS)})"
            )
        models[name] = ScaleModel(name=name, **options)
    return models


def scale_names(scales) -> list[str]:
    """Names of the configured scales (names or mappings)."""
    return [s if isinstance(s, str) else s["name"] for s in scales]


# --------------------------------------------------------------------------- data


def patient_covariates(patients: pd.DataFrame, birth_eras=None) -> pd.DataFrame:
    """Per patient (index ``patient_id``) the columns the strata and terms are built from."""
    from smanh.strata import DEFAULT_BIRTH_ERAS, birth_era

    frame = pd.DataFrame(index=pd.Index(patients["patient_id"], name="patient_id"))
    frame["birth_date"] = patients["birth_date"].to_numpy()
    frame["sma_type_group"] = sma_type_group(patients["sma_type"]).to_numpy()
    frame["smn2_group"] = smn2_group(patients["smn2_copies"]).to_numpy()
    for column in ("sex", "site"):
        values = (
            patients[column].astype("string").str.strip()
            if column in patients
            else pd.Series(pd.NA, index=patients.index, dtype="string")
        )
        frame[column] = values.where(values.notna() & (values != ""), "unknown").astype(object).to_numpy()
    frame["birth_year"] = pd.to_datetime(patients["birth_date"]).dt.year.to_numpy()
    frame["birth_era"] = birth_era(
        pd.Series(frame["birth_year"].to_numpy()), birth_eras or DEFAULT_BIRTH_ERAS
    ).to_numpy()
    return frame


def natural_history_assessments(
    patients: pd.DataFrame,
    treatments: pd.DataFrame,
    assessments: pd.DataFrame,
    scale: str | None = None,
    birth_eras=None,
) -> pd.DataFrame:
    """Assessments dated strictly before the first treatment start (all assessments of
    untreated patients), with age in years and the patient's covariates.

    Examples
    --------
    >>> nh = natural_history_assessments(export.patients, export.treatments,
    ...                                  export.assessments, "HFMSE")  # doctest: +SKIP
    """
    rows = assessments if scale is None else assessments[assessments["scale"] == scale]
    # Every row's patient looked up once, as its position among the patients sorted by
    # id: the filters, the join and the sort by patient all use it (at registry scale,
    # three hash joins on the id text cost more than the models).
    covariates = patient_covariates(patients, birth_eras).sort_index()
    position = covariates.index.get_indexer(rows["patient_id"])
    start = treatments.groupby("patient_id")["start_date"].min().reindex(covariates.index).to_numpy()
    keep = position >= 0
    start = start[position[keep]]
    keep[keep] = np.isnat(start) | (rows["date"].to_numpy()[keep] < start)
    rows, position = rows[keep], position[keep]
    order = np.lexsort((rows["date"].to_numpy(), position))  # by patient, then date; stable
    rows, position = rows.iloc[order], position[order]
    joined = pd.DataFrame({
        "patient_id": rows["patient_id"].to_numpy(), "scale": rows["scale"].to_numpy(),
        "date": rows["date"].to_numpy(), "score": rows["score"].to_numpy(dtype=float),
    })
    for column in covariates.columns:
        joined[column] = covariates[column].to_numpy()[position]
    joined["age"] = (joined["date"] - joined["birth_date"]).dt.days / DAYS_PER_YEAR
    return joined[ASSESSMENT_COLUMNS + ["birth_era"]]


def strata_of(data: pd.DataFrame, stratify_by: str, birth_eras=None) -> tuple[pd.Series, tuple]:
    """Stratum label of every row and the display order (labels of :mod:`smanh.strata`)."""
    from smanh.strata import DEFAULT_BIRTH_ERAS

    return dataset_strata(data, stratify_by, birth_eras or DEFAULT_BIRTH_ERAS)


# --------------------------------------------------------------------------- floor / ceiling


def _distinct(patient_codes: np.ndarray) -> int:
    """Distinct patients among factorized patient ids (a count per code, not a hash set)."""
    return int(np.count_nonzero(np.bincount(patient_codes)))


def floor_ceiling(data: pd.DataFrame, scale: str, stratifications, birth_eras=None) -> pd.DataFrame:
    """Assessments (and patients ever) at the scale's floor and ceiling, per stratum."""
    low, high = SCALE_RANGES[scale]
    patient = pd.factorize(data["patient_id"])[0]
    score = data["score"].to_numpy()
    at_floor = score <= low
    at_ceiling = score >= high if high is not None else None
    rows = []
    for stratify_by in stratifications:
        labels, order = strata_of(data, stratify_by, birth_eras)
        labels = labels.to_numpy()
        present = set(pd.unique(labels))  # once, not per stratum
        for stratum in [s for s in order if s in present]:
            part = labels == stratum
            n = int(part.sum())
            rows.append({
                "scale": scale, "stratify_by": stratify_by, "stratum": stratum,
                "n_patients": _distinct(patient[part]), "n_assessments": n,
                "floor": low, "ceiling": high,
                "n_at_floor": int(at_floor[part].sum()),
                "n_at_ceiling": int(at_ceiling[part].sum()) if high is not None else np.nan,
                "share_at_floor": at_floor[part].mean() if n else np.nan,
                "share_at_ceiling": at_ceiling[part].mean() if high is not None and n else np.nan,
                "n_patients_ever_at_floor": _distinct(patient[part & at_floor]),
                "n_patients_ever_at_ceiling": (
                    _distinct(patient[part & at_ceiling]) if high is not None else np.nan
                ),
            })
    table = pd.DataFrame(rows, columns=FLOOR_CEILING_COLUMNS)
    for column in FLOOR_CEILING_COLUMNS:
        if column.startswith("n_"):
            table[column] = table[column].astype("Int64")
    return table


# --------------------------------------------------------------------------- design


def _hinge_name(knot: float) -> str:
    return f"age_after_{knot:g}"


def fixed_design(
    data: pd.DataFrame,
    model: ScaleModel,
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


# --------------------------------------------------------------------------- fitting


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
    from smanh.lmm import fit_lmm_arrays  # scipy.optimize: only the jobs that fit models

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


def _special():
    """scipy.special, imported on first use: the Snakefile imports this module (for
    scale_models) and need not load scipy."""
    from scipy import special

    return special


def _wald(estimate: float, se: float, level: float) -> dict:
    special = _special()
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


def age_grid(ages: pd.Series, step: float) -> np.ndarray:
    """Multiples of ``step`` within the observed age range (both ends added)."""
    lo, hi = float(ages.min()), float(ages.max())
    inner = np.arange(np.ceil(lo / step) * step, hi, step)
    return np.unique(np.concatenate([[lo], inner, [hi]]))


def predicted_trajectory(
    fit: LMMResult, model: ScaleModel, grid: np.ndarray, at: pd.Series, level: float,
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
    z = _special().ndtri(0.5 + level / 2)
    return pd.DataFrame({"age_years": grid, "predicted": mean, "lo": mean - z * se,
                         "hi": mean + z * se})


# --------------------------------------------------------------------------- one scale


@dataclass
class ProgressionOptions:
    stratify_by: list[str]
    min_patients: int = 10
    confidence_level: float = 0.95
    trajectory_step: float = 0.25
    birth_eras: tuple[int, ...] | None = None


def analyse_scale(data: pd.DataFrame, model: ScaleModel, options: ProgressionOptions) -> dict:
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
            counts[s] = (_distinct(patients[rows]), int(rows.sum()))
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
            if stratum not in modelled:
                note = (f"{n_pat} patient(s) < progression.min_patients "
                        f"({options.min_patients}): reported, not modelled")
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
                "n_patients": n_pat, "n_assessments": n_obs, **slope})
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


# --------------------------------------------------------------------------- workflow entry



def progression_tables(
    patients: pd.DataFrame,
    treatments: pd.DataFrame,
    assessments: pd.DataFrame,
    scale: str,
    progression: dict,
    confidence_level: float = 0.95,
    birth_eras=None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Everything the ``progression_scale`` rule writes for one scale: the tables of
    :data:`PROGRESSION_TABLES`, the natural-history assessments (per-patient trajectories)
    and the 12-month change pairs (both keep ``patient_id``: intermediate files only)."""
    from smanh.change import change_pairs, change_table

    model = scale_models(progression)[scale]
    stratify_by = list(dict.fromkeys(progression.get("stratify_by", ["sma_type"])))
    options = ProgressionOptions(
        stratify_by=stratify_by,
        min_patients=int(progression.get("min_patients", 10)),
        confidence_level=confidence_level,
        trajectory_step=float(progression.get("trajectory_step", 0.25)),
        birth_eras=tuple(birth_eras) if birth_eras else None,
    )
    data = natural_history_assessments(patients, treatments, assessments, scale, birth_eras)
    tables = analyse_scale(data, model, options)
    tables["scale_floor_ceiling"] = floor_ceiling(
        data, scale, list(dict.fromkeys(["all", *stratify_by])), options.birth_eras
    )
    change = progression.get("change", {})
    pairs = change_pairs(
        data.drop(columns=["scale", "date"]),
        float(change.get("window_months", 12)),
        float(change.get("tolerance_months", 3)),
    )
    strata = [(by, *strata_of(pairs, by, options.birth_eras)) for by in stratify_by]
    tables["change_12m"] = change_table(
        pairs, scale, strata,
        threshold=model.threshold if model.threshold is not None else float(
            change.get("threshold", 2)
        ),
        level=confidence_level,
        method=change.get("proportion_ci", "clopper_pearson"),
        min_patients=options.min_patients,
    )
    return tables, data, pairs
