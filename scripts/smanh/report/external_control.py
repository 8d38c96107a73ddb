"""The "External natural-history control" section of the HTML report (only when the
analysis ran): flow of both arms, balance, curves, effects with bootstrap and robust
intervals, E-values, the performance-criterion form, the motor outcome, and warnings.

The trial arm has a few dozen patients: every count goes through small-cell suppression
(:mod:`smanh.disclosure`), with complementary suppression where counts add up to a total
shown (the exclusions and the eligible of one arm). Every number is from
``results/tables/external_control_*.csv``; no identifier reaches the template.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smanh.disclosure import show_count, show_group
from smanh.report.display import ci, embed_figure, format_number

SAMPLE_LABELS = {"unadjusted": "unadjusted", "weighting": "ATT weighting", "matching": "matching"}
MODEL_LABELS = {"none": "", "primary": "primary", "without_baseline_score": "without baseline score"}
MEASURE_LABELS = {"survival_difference": "survival difference", "hazard_ratio": "hazard ratio",
                  "rmst_difference": "RMST difference (years)"}
SMD_LIMIT = 0.1


def external_control_context(tables: dict[str, pd.DataFrame], figures: list, min_cell_count: int) -> dict | None:
    """Display tables and embedded figures of the section; None when the analysis is off."""
    if "external_control_effects" not in tables:
        return None
    effects = tables["external_control_effects"]
    svg = {Path(f).stem: embed_figure(f) for f in figures}
    endpoints = list(dict.fromkeys(effects["endpoint"]))
    sources = tables.get("external_control_sources")
    counts = _Counts(tables["external_control_flow"], min_cell_count)
    return {
        "flow": flow_display(tables["external_control_flow"], min_cell_count),
        "nothing_to_compare": _nothing_to_compare(effects),
        "balance": balance_display(tables["external_control_balance"], counts),
        "survival": {e: survival_display(tables["external_control_survival"], e, counts) for e in endpoints},
        "effects": {e: effects_display(effects, e) for e in endpoints},
        "criterion": {e: criterion_display(tables["external_control_survival"], e) for e in endpoints},
        "motor": motor_display(tables["external_control_motor"], counts),
        "km_figures": {e: svg.get(f"external_control_km_{e}") for e in endpoints},
        "love": svg.get("external_control_love"),
        "overlap": svg.get("external_control_overlap"),
        "sources": None if sources is None else pd.DataFrame({
            "table": sources["table"], "file": sources["name"],
            "rows": [show_count(n, min_cell_count) for n in sources["rows"]], "SHA-256": sources["sha256"]}),
    }


class _Counts:
    """Counts of part of an arm, shown with complementary suppression against the arm's
    eligible patients (shown in the flow): 39 matched of 40 eligible would give away the
    one left out, so 39 is then shown rounded (``≈40``); likewise events against patients."""

    def __init__(self, flow: pd.DataFrame, min_cell_count: int):
        eligible = flow[flow["step"] == "eligible"]
        self.eligible = dict(zip(eligible["arm"], eligible["n"]))
        self.min_cell_count = min_cell_count

    def part(self, count, total) -> str:
        if pd.isna(count) or pd.isna(total):
            return show_count(count, self.min_cell_count)
        return show_group([count, total - count], self.min_cell_count)[0]

    def of_arm(self, count, arm: str) -> str:
        return self.part(count, self.eligible.get(arm, float("nan")))


def _nothing_to_compare(effects: pd.DataFrame) -> str:
    notes = effects["note"].fillna("")
    found = notes[notes.str.contains("meets the eligibility criteria")]
    return str(found.iloc[0]) if len(found) else ""


def flow_display(flow: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Per arm: patients, each exclusion and the eligible; exclusions and eligible add up
    to the patients, so they get complementary suppression."""
    shown = []
    for arm, rows in flow.groupby("arm", sort=False):
        parts = rows[rows["step"] != "patients"]
        cells = dict(zip(parts.index, show_group(list(parts["n"]), min_cell_count)))
        for r in rows.itertuples():
            n = show_count(r.n, min_cell_count) if r.step == "patients" else cells[r.Index]
            shown.append({"arm": arm, "step": r.step, "reason": "" if pd.isna(r.reason) else r.reason, "n": n})
    return pd.DataFrame(shown, columns=["arm", "step", "reason", "n"])


def balance_display(balance: pd.DataFrame, counts: _Counts) -> pd.DataFrame:
    rows = []
    for r in balance.itertuples():
        rows.append({
            "model": MODEL_LABELS.get(r.model, r.model), "sample": SAMPLE_LABELS.get(r.sample, r.sample),
            "covariate": "" if pd.isna(r.covariate) else str(r.covariate).replace("_", " "),
            "mean trial": format_number(r.mean_trial, 2), "mean registry": format_number(r.mean_registry, 2),
            "SMD": format_number(r.smd, 3), "variance ratio": format_number(r.variance_ratio, 2),
            "n trial": counts.of_arm(r.n_trial, "trial"), "n registry": counts.of_arm(r.n_registry, "registry"),
            "ESS registry": _ess(r.ess_registry, counts.min_cell_count),
            "note": "" if pd.isna(r.note) else r.note,
        })
    return pd.DataFrame(rows)


def _ess(value, min_cell_count: int) -> str:
    """The effective sample size, a weighted count: small ones shown as ``<N``."""
    if pd.isna(value):
        return "—"
    return f"<{min_cell_count}" if value < min_cell_count else f"{value:.1f}"


def survival_display(survival: pd.DataFrame, endpoint: str, counts: _Counts) -> pd.DataFrame:
    rows = survival[survival["endpoint"] == endpoint]
    return pd.DataFrame({
        "model": [MODEL_LABELS.get(m, m) for m in rows["model"]],
        "sample": [SAMPLE_LABELS.get(m, m) for m in rows["method"]],
        "arm": rows["arm"].fillna(""),
        "age (years)": [format_number(v, 2) for v in rows["time_years"]],
        "n": [counts.of_arm(n, arm) for n, arm in zip(rows["n"], rows["arm"])],
        "events": [counts.part(e, n) for e, n in zip(rows["events"], rows["n"])],
        "event-free (95% CI)": [ci(s, lo, hi) for s, lo, hi in zip(rows["survival"], rows["lo"], rows["hi"])],
        "note": rows["note"].fillna(""),
    })


def primary_interval(method: str, has_bootstrap: bool, has_robust: bool = True) -> str:
    """The interval shown first: the bootstrap one, whose coverage is nominal for the
    unadjusted and weighted samples, but the robust one for matching (the bootstrap that
    re-matches each resample is conservative: README, "Validation"); whichever there is
    where only one is."""
    if not has_bootstrap or not has_robust:
        return "bootstrap" if has_bootstrap else "robust"
    return "robust" if method == "matching" else "bootstrap"


def _interval(lo, hi, digits: int) -> str:
    return "—" if pd.isna(lo) else f"{format_number(lo, digits)} to {format_number(hi, digits)}"


def _intervals(rows: pd.DataFrame, digits: int = 2) -> dict[str, list[str]]:
    """Per row: the estimate with the interval shown first, which one it is, and the other."""
    shown: dict[str, list[str]] = {"estimate (95% CI)": [], "95% CI": [], "other 95% CI": []}
    for r in rows.itertuples():
        first = primary_interval(r.method, pd.notna(r.boot_lo), pd.notna(r.lo))
        limits = {"bootstrap": (r.boot_lo, r.boot_hi), "robust": (r.lo, r.hi)}
        other = "robust" if first == "bootstrap" else "bootstrap"
        shown["estimate (95% CI)"].append(ci(r.estimate, *limits[first], digits))
        shown["95% CI"].append(first if pd.notna(r.estimate) else "")
        shown["other 95% CI"].append("—" if pd.isna(limits[other][0])
                                     else f"{other}: {_interval(*limits[other], digits)}")
    return shown


def effects_display(effects: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """The effects of one endpoint, each with its primary interval first (bootstrap;
    robust for matching) and the other beside it."""
    rows = effects[effects["endpoint"] == endpoint]
    return pd.DataFrame({
        "model": [MODEL_LABELS.get(m, m) for m in rows["model"]],
        "sample": [SAMPLE_LABELS.get(m, m) for m in rows["method"]],
        "measure": [MEASURE_LABELS.get(m, m) for m in rows["measure"]],
        "at age (years)": [format_number(v, 2) if pd.notna(v) else "" for v in rows["time_years"]],
        "trial": [format_number(v, 2) for v in rows["trial"]],
        "registry": [format_number(v, 2) for v in rows["registry"]],
        **_intervals(rows),
        "E-value (CI limit)": ["" if pd.isna(e) else f"{format_number(e)} ({format_number(limit)})"
                               for e, limit in zip(rows["evalue_estimate"], rows["evalue_limit"])],
        "note": rows["note"].fillna(""),
    })


def criterion_display(survival: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """The performance-criterion form: the natural-history (unadjusted registry) estimate's
    one-sided 90% upper bound at each landmark beside the trial's one-sided 95% lower
    bound (the lower limit of its two-sided 90% interval)."""
    rows = survival[(survival["endpoint"] == endpoint) & (survival["method"] == "unadjusted")]
    registry = rows[rows["arm"] == "registry"].set_index("time_years")
    trial = rows[rows["arm"] == "trial"].set_index("time_years")
    shown = []
    for age in registry.index.intersection(trial.index):
        criterion, lower = registry.loc[age, "upper_one_sided_90"], trial.loc[age, "lower_one_sided_95"]
        met = "—" if pd.isna(criterion) or pd.isna(lower) else ("yes" if lower > criterion else "no")
        shown.append({"age (years)": format_number(age, 2),
                      "natural history": format_number(registry.loc[age, "survival"], 3),
                      "criterion (one-sided 90% upper bound)": format_number(criterion, 3),
                      "trial": format_number(trial.loc[age, "survival"], 3),
                      "trial one-sided 95% lower bound": format_number(lower, 3), "criterion met": met})
    return pd.DataFrame(shown)


def motor_display(motor: pd.DataFrame, counts: _Counts) -> pd.DataFrame | None:
    if motor is None or motor.empty:
        return None
    return pd.DataFrame({
        "scale": motor["scale"], "model": [MODEL_LABELS.get(m, m) for m in motor["model"]],
        "sample": [SAMPLE_LABELS.get(m, m) for m in motor["method"]],
        "outcome": [o.replace("_", " ") for o in motor["outcome"]],
        "n trial": [counts.of_arm(v, "trial") for v in motor["n_trial"]],
        "n registry": [counts.of_arm(v, "registry") for v in motor["n_registry"]],
        "mean trial": [format_number(v, 1) for v in motor["trial"]],
        "mean registry": [format_number(v, 1) for v in motor["registry"]],
        **{("difference (95% CI)" if k == "estimate (95% CI)" else k): v
           for k, v in _intervals(motor, digits=1).items()},
        "note": motor["note"].fillna(""),
    })


def external_control_warnings(tables: dict[str, pd.DataFrame], min_cell_count: int) -> list[str]:
    """The analysis's fragile points, for the report's warnings."""
    effects = tables.get("external_control_effects")
    if effects is None:
        return []
    found = []
    nothing = _nothing_to_compare(effects)
    if nothing:
        return [f"External control: {nothing}."]
    notes = effects.loc[effects["method"] != "unadjusted", ["model", "method", "note"]].dropna().drop_duplicates()
    for r in notes.itertuples():
        if r.note:
            found.append(f"External control ({MODEL_LABELS.get(r.model, r.model)} model, "
                         f"{SAMPLE_LABELS.get(r.method, r.method)}): {r.note}.")
    motor = tables.get("external_control_motor")
    if motor is not None and len(motor):
        # a motor difference left out for want of scores (a propensity note is shown above)
        missing = motor.loc[motor["estimate"].isna(), "note"].fillna("")
        for note in dict.fromkeys(missing[~missing.str.startswith("propensity model")]):
            if note:
                found.append(f"External control (motor outcome): {note}.")
    balance = tables["external_control_balance"]
    imbalanced = balance[(balance["sample"] != "unadjusted") & (balance["smd"].abs() > SMD_LIMIT)]
    for (model, sample), rows in imbalanced.groupby(["model", "sample"], sort=False):
        found.append(f"External control ({MODEL_LABELS.get(model, model)} model, {SAMPLE_LABELS.get(sample, sample)}): "
                     f"|SMD| above {SMD_LIMIT} remains for {', '.join(c.replace('_', ' ') for c in rows['covariate'])}.")
    return found
