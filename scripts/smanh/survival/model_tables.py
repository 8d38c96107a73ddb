"""Cox models, competing risks, RMST and parametric fits of one endpoint, as tables.

Each function takes the analysis dataset (rows of one or more endpoints, see
:mod:`smanh.cohort.dataset`) and returns one tidy table; a model that cannot be fitted gives
a row whose ``note`` says why (a :class:`~smanh.errors.ModelError` message), never a
traceback. Only modelled strata (at least ``min_stratum_size`` analysed patients) enter.

Tables (columns in ``config/README.md`` and the README's output contract):

- ``cox.csv`` — :func:`cox_table`: hazard ratios of configured Cox models with delayed
  entry (Efron ties), and the proportional-hazards check (``cox.zph``: scaled
  Schoenfeld residuals, KM time transform) per term and globally, flagged when its p is
  below ``ph_alpha``;
- ``cuminc.csv`` — :func:`cuminc_table`: Aalen–Johansen cumulative incidence of the
  event and of the competing event (endpoints with competing events only);
- ``rmst.csv`` — :func:`rmst_table`: RMST to each horizon per stratum and its difference
  from the stratification's reference stratum (the first modelled one);
- ``parametric.csv`` / ``parametric_curves.csv`` — :func:`parametric_tables`: Weibull,
  log-normal, log-logistic and generalized gamma fits with AIC/BIC and model survival
  curves extrapolated to ``extrapolate_to`` years.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import special

from smanh.cohort.strata import analysed, birth_era, modelled_strata
from smanh.errors import ModelError
from smanh.survival.cox import cox_zph, fit_cox
from smanh.survival.cuminc import aalen_johansen
from smanh.survival.estimable import EstimableRange, conditional_rows, estimable_range
from smanh.survival.km import kaplan_meier
from smanh.survival.parametric import aic_table, fit_parametric
from smanh.survival.rmst import rmst, rmst_difference

COX_COLUMNS = [
    "endpoint", "model", "formula", "subset", "term", "reference", "n", "events",
    "coef", "se", "hr", "hr_lo", "hr_hi", "p", "ph_chisq", "ph_p", "ph_global_p",
    "ph_violated", "note",
]
CUMINC_COLUMNS = [
    "endpoint", "stratify_by", "stratum", "from_age", "to_age", "state", "time_years", "at_risk", "cif",
    "se", "lo", "hi", "one_minus_km",
]
RMST_COLUMNS = [
    "endpoint", "stratify_by", "stratum", "from_age", "tau", "n", "rmst", "se", "lo", "hi",
    "reference", "difference", "difference_se", "difference_lo", "difference_hi", "difference_p", "note",
]
PARAMETRIC_COLUMNS = [
    "endpoint", "stratify_by", "stratum", "from_age", "dist", "n", "events", "k", "loglik", "aic", "bic",
    "delta_aic", "mu", "log_sigma", "Q", "median_years", "note",
]
PARAMETRIC_CURVE_COLUMNS = [
    "endpoint", "stratify_by", "stratum", "from_age", "dist", "time_years", "survival", "lo", "hi",
]
# Model variables of Cox formulas and how they come from the analysis dataset.
COX_VARIABLES = ("sma_type", "smn2_copies", "sex", "site", "birth_era", "birth_year")
UNKNOWN = {"unknown", "U", ""}


# --------------------------------------------------------------------------- Cox
def model_frame(rows: pd.DataFrame, birth_eras=None) -> pd.DataFrame:
    """Cox model variables of the analysis-dataset rows (same index)."""
    return pd.DataFrame(
        {
            "sma_type": rows["sma_type_group"].astype(str),
            "smn2_copies": rows["smn2_group"].astype(str),
            "sex": rows["sex"].astype(str),
            "site": rows["site"].astype(str),
            # the eras are needed only when a model adjusts for birth era
            "birth_era": birth_era(rows["birth_year"], birth_eras) if birth_eras else "unknown",
            "birth_year": rows["birth_year"].astype(float),
        },
        index=rows.index,
    )


def formula_terms(formula: str) -> list[str]:
    """Variables of ``"a + b"``; each must be one of :data:`COX_VARIABLES`."""
    terms = [t.strip() for t in formula.split("~", 1)[-1].split("+")]
    unknown = [t for t in terms if t not in COX_VARIABLES]
    if unknown or not all(terms):
        raise ModelError(
            f"formula {formula!r}: terms must be among {', '.join(COX_VARIABLES)} joined by '+'"
        )
    return terms


def _cox_rows(rows, spec, min_stratum_size, birth_eras):
    """Model frame restricted to the subset, known values and large enough levels."""
    frame = model_frame(rows, birth_eras)
    notes = []
    keep = pd.Series(True, index=rows.index)
    for variable, levels in (spec.get("subset") or {}).items():
        if variable not in COX_VARIABLES:
            raise ModelError(f"subset variable {variable!r} is not one of {', '.join(COX_VARIABLES)}")
        keep &= frame[variable].isin([str(v) for v in levels])
    terms = formula_terms(spec["formula"])
    for term in terms:
        if term == "birth_year":
            continue
        unknown = keep & frame[term].isin(UNKNOWN)
        if unknown.any():
            notes.append(f"{int(unknown.sum())} with unknown {term} left out")
            keep &= ~unknown
    for term in terms:  # levels too small to model
        if term == "birth_year":
            continue
        counts = frame.loc[keep, term].value_counts()
        small = sorted(counts[counts < min_stratum_size].index)
        if small:
            notes.append(f"{term} levels {small} with < {min_stratum_size} patients left out")
            keep &= ~frame[term].isin(small)
    return frame[keep], rows[keep], terms, notes


def cox_table(
    dataset: pd.DataFrame,
    models: list[dict],
    *,
    min_stratum_size: int = 1,
    ph_alpha: float = 0.05,
    confidence_level: float = 0.95,
    birth_eras=None,
) -> pd.DataFrame:
    """Hazard ratios of each configured Cox model, per endpoint, with PH checks.

    ``models``: mappings ``{name, formula, subset, reference}``, e.g.
    ``{"name": "type1", "formula": "smn2_copies + sex", "subset": {"sma_type": ["1"]}}``.
    """
    z = special.ndtri(0.5 + confidence_level / 2)
    out = []
    for endpoint_name, endpoint_rows in analysed(dataset).groupby("endpoint", sort=False):
        for spec in models:
            subset = "; ".join(f"{k} in {list(map(str, v))}" for k, v in (spec.get("subset") or {}).items())
            key = {"endpoint": endpoint_name, "model": spec["name"], "formula": spec["formula"],
                   "subset": subset}
            try:
                frame, rows, terms, notes = _cox_rows(endpoint_rows, spec, min_stratum_size, birth_eras)
                if len(rows) == 0:
                    raise ModelError("no patients left in the model (subset, unknown values, small levels)")
                for term in terms:
                    if term != "birth_year" and frame[term].nunique() < 2:
                        raise ModelError(
                            f"{term!r} has a single level ({frame[term].iloc[0]!r}) among the "
                            "patients modelled: its effect is not identifiable"
                        )
                fit = fit_cox(rows["entry_age"], rows["exit_age"], rows["event"],
                              frame[terms].reset_index(drop=True), " + ".join(terms),
                              reference={k: str(v) for k, v in (spec.get("reference") or {}).items()})
                zph, _ = cox_zph(fit, rows["entry_age"], rows["exit_age"], rows["event"])
            except ModelError as err:
                out.append({**key, "note": f"not fitted: {err}"})
                continue
            zph = zph.set_index("term")
            global_p = float(zph.loc["GLOBAL", "p"])
            for term, columns in fit.terms.items():
                for j in columns:
                    column = fit.columns[j]
                    level_ref = f"{term}={fit.reference[term]}" if term in fit.reference else ""
                    out.append({
                        **key, "term": column, "reference": level_ref, "n": fit.n,
                        "events": fit.n_events, "coef": fit.coef[j], "se": fit.se[j],
                        "hr": np.exp(fit.coef[j]), "hr_lo": np.exp(fit.coef[j] - z * fit.se[j]),
                        "hr_hi": np.exp(fit.coef[j] + z * fit.se[j]), "p": fit.p[j],
                        "ph_chisq": float(zph.loc[term, "chisq"]), "ph_p": float(zph.loc[term, "p"]),
                        "ph_global_p": global_p,
                        "ph_violated": bool(zph.loc[term, "p"] < ph_alpha),
                        "note": "; ".join(notes),
                    })
    return _integer_counts(pd.DataFrame(out, columns=COX_COLUMNS), ["n", "events"])


def _integer_counts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Counts as integers (blank where missing), not as floats."""
    for column in columns:
        frame[column] = pd.array(frame[column], dtype="Int64")
    return frame


# --------------------------------------------------------------------------- competing risks
def cuminc_table(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    *,
    min_stratum_size: int = 1,
    confidence_level: float = 0.95,
    birth_eras=None,
    min_at_risk: int = 1,
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence (delayed entry, deterministic ties) of the
    event (``state`` = ``event``) and the competing event (``competing_event``), for
    endpoints with competing events, over each stratum's estimable range (conditional on
    being event-free at ``from_age``); one row per distinct exit age (as R survfit), with
    ``one_minus_km``, 1 − Kaplan–Meier of the event (competing events censored) from the
    same start, beside it."""
    frames = []
    for endpoint_name, endpoint_rows in analysed(dataset).groupby("endpoint", sort=False):
        if not (endpoint_rows["event_type"] == 2).any():
            continue
        for by in stratify_by:
            for label, rows in modelled_strata(endpoint_rows, by, min_stratum_size, birth_eras):
                estimable = estimable_range(rows["entry_age"], rows["exit_age"], min_at_risk)
                if not estimable.exists:
                    continue
                entry, exit_, state, _ = conditional_rows(rows["entry_age"], rows["exit_age"],
                                                          rows["event_type"].to_numpy(int), estimable.from_age)
                fit = aalen_johansen(entry, exit_, state, confidence_level=confidence_level)
                km = kaplan_meier(entry, exit_, state == 1, confidence_level)
                shown = fit.times <= estimable.to_age
                one_minus_km = 1.0 - km.survival[np.searchsorted(km.time, fit.times[shown])]
                for state_code in (1, 2):  # a state without events in the stratum: 0 throughout
                    k = fit.states.index(state_code) if state_code in fit.states else None
                    zero, blank = np.zeros(shown.sum()), np.full(shown.sum(), np.nan)
                    frames.append(pd.DataFrame({
                        "endpoint": endpoint_name, "stratify_by": by, "stratum": label,
                        "from_age": estimable.from_age, "to_age": estimable.to_age,
                        "state": "event" if state_code == 1 else "competing_event",
                        "time_years": fit.times[shown], "at_risk": fit.n_risk[shown],
                        "cif": zero if k is None else fit.cif[shown, k],
                        "se": zero if k is None else fit.se[shown, k],
                        "lo": blank if k is None else fit.lower[shown, k],
                        "hi": blank if k is None else fit.upper[shown, k],
                        "one_minus_km": one_minus_km if state_code == 1 else blank,
                    }))
    if not frames:
        return pd.DataFrame(columns=CUMINC_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CUMINC_COLUMNS]


# --------------------------------------------------------------------------- RMST
def rmst_table(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    horizons: list[float],
    *,
    min_stratum_size: int = 1,
    confidence_level: float = 0.95,
    birth_eras=None,
    min_at_risk: int = 1,
) -> pd.DataFrame:
    """Restricted mean event-free time from ``from_age`` to each horizon ``tau``, given
    event-free at ``from_age`` (area under the conditional Kaplan–Meier curve; R's
    ``se(rmean)``), per modelled stratum, with the difference from the first modelled
    stratum of the stratification. The strata of one stratification share their window:
    ``from_age`` is the latest of their starts, and a horizon beyond the earliest of their
    ``to_age`` is not estimated (a difference over different windows would compare
    different quantities)."""
    out = []
    for endpoint_name, endpoint_rows in analysed(dataset).groupby("endpoint", sort=False):
        for by in stratify_by:
            groups = [(label, rows, estimable_range(rows["entry_age"], rows["exit_age"], min_at_risk))
                      for label, rows in modelled_strata(endpoint_rows, by, min_stratum_size, birth_eras)]
            groups = [(label, rows, r) for label, rows, r in groups if r.exists]
            if not groups:
                continue
            start = max(r.from_age for _, _, r in groups)
            end = min(r.to_age for _, _, r in groups)
            window = EstimableRange(start, end, min_at_risk)
            for tau in horizons:
                reference = None
                for label, rows, _ in groups:
                    row = {"endpoint": endpoint_name, "stratify_by": by, "stratum": label,
                           "from_age": start, "tau": float(tau), "n": len(rows), "note": ""}
                    if not (start < tau <= end):
                        out.append({**row, "note": window.outside_note(f"horizon {float(tau):g}")})
                        continue
                    entry, exit_, event, _ = conditional_rows(rows["entry_age"], rows["exit_age"],
                                                              rows["event"], start)
                    r = rmst(entry, exit_, event, float(tau), start=start, confidence_level=confidence_level)
                    row.update(rmst=r.rmst, se=r.se, lo=r.lower, hi=r.upper)
                    if reference is None:
                        reference = (label, r)
                    elif by != "all":
                        d = rmst_difference(r, reference[1], confidence_level)
                        row.update(reference=reference[0], difference=d.difference,
                                   difference_se=d.se, difference_lo=d.lower,
                                   difference_hi=d.upper, difference_p=d.p)
                    out.append(row)
    return _integer_counts(pd.DataFrame(out, columns=RMST_COLUMNS), ["n"])


# --------------------------------------------------------------------------- parametric
def parametric_tables(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    distributions: list[str],
    extrapolate_to: float,
    *,
    min_stratum_size: int = 1,
    confidence_level: float = 0.95,
    curve_points: int = 100,
    birth_eras=None,
    min_at_risk: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(parametric, parametric_curves)``: fits with delayed entry to each modelled
    stratum's follow-up after ``from_age`` (the start of its estimable range) with AIC/BIC,
    and model survival given event-free at ``from_age`` on a grid from there to
    ``extrapolate_to`` (the model median likewise conditional)."""
    fits_out, curves = [], []
    for endpoint_name, endpoint_rows in analysed(dataset).groupby("endpoint", sort=False):
        for by in stratify_by:
            for label, rows in modelled_strata(endpoint_rows, by, min_stratum_size, birth_eras):
                key = {"endpoint": endpoint_name, "stratify_by": by, "stratum": label}
                estimable = estimable_range(rows["entry_age"], rows["exit_age"], min_at_risk)
                if not estimable.exists:
                    fits_out += [{**key, "dist": dist, "n": len(rows), "events": int(rows["event"].sum()),
                                  "note": f"not fitted: {estimable.never_note}"} for dist in distributions]
                    continue
                from_age = estimable.from_age
                key["from_age"] = from_age
                entry, exit_, event, _ = conditional_rows(rows["entry_age"], rows["exit_age"], rows["event"],
                                                          from_age)
                fitted, failed = [], []
                for dist in distributions:
                    try:
                        with warnings.catch_warnings(), np.errstate(all="ignore"):
                            # overflow in trial steps of the optimiser is expected and harmless
                            warnings.simplefilter("ignore", RuntimeWarning)
                            # the generalized gamma starts from the Weibull fit (Q = 1)
                            weibull = [f.theta for f in fitted if f.dist == "weibull"]
                            start = weibull[0] if dist == "gengamma" and weibull else None
                            fitted.append(fit_parametric(entry, exit_, event, dist, start))
                    except ModelError as err:
                        failed.append({**key, "dist": dist, "n": len(entry),
                                       "events": int(np.sum(event)), "note": f"not fitted: {err}"})
                if fitted:
                    table = aic_table(fitted).set_index("dist")
                    grid = np.linspace(from_age, float(extrapolate_to), curve_points + 1)[1:]
                    for fit in fitted:
                        fits_out.append({
                            **key, "dist": fit.dist, "n": fit.n, "events": fit.n_events,
                            "k": fit.n_params, "loglik": fit.loglik, "aic": fit.aic, "bic": fit.bic,
                            "delta_aic": float(table.loc[fit.dist, "delta_aic"]),
                            "mu": fit.params["mu"], "log_sigma": fit.params["log_sigma"],
                            "Q": fit.params.get("Q", np.nan), "median_years": fit.conditional_median(from_age),
                            "note": "",
                        })
                        if grid.size:
                            with np.errstate(all="ignore"):
                                curve = fit.conditional_survival(grid, from_age, confidence_level)
                            curves.append(pd.DataFrame({
                                **key, "dist": fit.dist, "time_years": curve["age"],
                                "survival": curve["surv"], "lo": curve["lo"], "hi": curve["hi"],
                            }))
                fits_out += failed
    parametric = _integer_counts(pd.DataFrame(fits_out, columns=PARAMETRIC_COLUMNS), ["n", "events", "k"])
    curve_table = (pd.concat(curves, ignore_index=True)[PARAMETRIC_CURVE_COLUMNS] if curves
                   else pd.DataFrame(columns=PARAMETRIC_CURVE_COLUMNS))
    return parametric, curve_table
