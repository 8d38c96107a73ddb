"""The "Motor progression" section of the HTML report: display tables (counts below
``min_cell_count`` suppressed) and embedded figures. Every number is from
``results/tables/``; no identifier reaches the template."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smanh.report.display import ci, embed_figure, format_number, suppress_count

CHANGE_KINDS = ("declined", "stable", "improved")
PROGRESSION_REPORT_TABLES = (
    "lmm_slopes", "lmm_variance_components", "change_12m", "scale_floor_ceiling",
)


def _share(count, share, lo, hi, min_cell_count: int, hidden: bool) -> str:
    """A share with its CI; hidden when its count is a small cell, or when it would give
    away a small cell of the same patients (the three shares add up to 100%)."""
    if pd.isna(share):
        return "—"
    if hidden:
        return f"<{min_cell_count} patients" if int(count) < min_cell_count else "suppressed"
    return f"{100 * share:.0f}% ({100 * lo:.0f} to {100 * hi:.0f})"


def _hidden_shares(change: pd.DataFrame, min_cell_count: int) -> list[list[bool]]:
    """Per row, which of declined / stable / improved to hide (complementary suppression;
    zero counts disclose nobody and stay shown)."""
    counts = change[[f"n_{kind}" for kind in CHANGE_KINDS]].fillna(0).astype(int).to_numpy()
    rows = []
    for row in counts:
        small = [0 < c < min_cell_count for c in row]
        if sum(small) == 1:
            others = [(c, i) for i, c in enumerate(row) if not small[i] and c > 0]
            if others:
                small[min(others)[1]] = True
        rows.append(small)
    return rows


def _status(status: str, singular, note: str) -> str:
    if status == "not_modelled":
        return note
    text = "random intercept only" if status == "random_intercept_only" else ""
    if str(singular) in ("True", "1", "1.0"):
        text = (text + "; " if text else "") + "singular fit"
    return text


TIME_SCALE_TITLES = {
    "age": "age slope per year (95% CI)",
    "baseline_age_and_time": "longitudinal slope per year of follow-up (95% CI)",
}


def _flag(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


def _slope_table(s: pd.DataFrame, notes: dict, pooled: bool, min_cell_count: int) -> pd.DataFrame:
    """One row per stratum, the slopes of the time scales side by side (the natural-history
    rate's column says so), the ages covered and the notes."""
    if "time_scale" not in s:
        s = s.assign(time_scale="age", natural_history_rate=True)
    scales = list(dict.fromkeys(s["time_scale"]))
    rate = next((t for t in scales if _flag(s.loc[s["time_scale"] == t, "natural_history_rate"].iloc[0])),
                scales[-1] if scales else None)
    rows = []
    for (by, stratum), part in s.groupby(["stratify_by", s["stratum"].astype(str)], sort=False):
        first = part.iloc[0]
        row = {"stratify_by": by, "stratum": stratum,
               "patients": suppress_count(first["n_patients"], min_cell_count),
               "assessments": suppress_count(first["n_assessments"], min_cell_count)}
        for t in scales:
            title = TIME_SCALE_TITLES.get(t, t) + (" — natural-history rate" if t == rate and len(scales) > 1 else "")
            r = part[part["time_scale"] == t]
            row[title] = ci(r["slope_per_year"].iloc[0], r["lo"].iloc[0], r["hi"].iloc[0]) if len(r) else "—"
        age = part[part["time_scale"] == "age"]
        if len(age) and pd.notna(age["range_from"].iloc[0]):
            row["ages modelled"] = f"{age['range_from'].iloc[0]:.1f}–{age['range_to'].iloc[0]:.1f}"
        elif "age" in scales:
            row["ages modelled"] = "—"
        texts = [notes.get((by, stratum), "")] + [str(n) for n in part["note"].fillna("") if n]
        row["note"] = "; ".join(dict.fromkeys(t for t in texts if t)) or ("pooled model" if pooled else "")
        rows.append(row)
    return pd.DataFrame(rows)


def natural_history_rates(lmm_slopes: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of ``lmm_slopes`` the report's summary may quote: the natural-history rate
    of each stratum (the longitudinal slope when fitted), not flagged (fitted mean outside
    the scale's range, floor or ceiling crowded); strata not modelled have no estimate."""
    if lmm_slopes is None or "natural_history_rate" not in lmm_slopes:
        return lmm_slopes
    keep = lmm_slopes["natural_history_rate"].map(_flag)
    for column in ("outside_scale", "floor_ceiling_flag"):
        keep &= ~lmm_slopes[column].map(_flag)
    return lmm_slopes[keep]


def summary_slopes(lmm_slopes: pd.DataFrame | None) -> list[dict]:
    """The report summary's slope sentences: per scale and stratum the natural-history
    rate only, and never from a stratum that was not modelled (fewer than
    ``progression.min_patients`` patients), whose fitted mean leaves the scale's range, or
    whose scale piles up at its floor or ceiling there."""
    if lmm_slopes is None or not len(lmm_slopes):
        return []
    rows = lmm_slopes.dropna(subset=["slope_per_year"])
    if "natural_history_rate" in rows:
        keep = rows["natural_history_rate"].map(_flag)
        for column in ("outside_scale", "floor_ceiling_flag"):
            keep &= ~rows[column].map(_flag)
        rows = rows[keep]
    out = []
    for r in rows.itertuples():
        longitudinal = getattr(r, "time_scale", "age") == "baseline_age_and_time"
        out.append({"scale": r.scale, "stratum": f"{r.stratify_by.replace('_', ' ')} {r.stratum}",
                    "slope": ci(r.slope_per_year, r.lo, r.hi),
                    "kind": "per year of follow-up" if longitudinal else "per year of age"})
    return out


def _methods(s: pd.DataFrame, v: pd.DataFrame, c: pd.DataFrame) -> str:
    """What the scale's tables were made with, in a sentence: time scales, centring,
    degrees of freedom, change threshold and its source."""
    parts = []
    scales = list(dict.fromkeys(s["time_scale"])) if "time_scale" in s else ["age"]
    names = {"age": "age", "baseline_age_and_time": "baseline age + years since baseline"}
    parts.append("Time scale" + ("s" if len(scales) > 1 else "") + ": " + " and ".join(
        names.get(t, t) for t in scales) + (
        " (the longitudinal slope, per year of follow-up, is the natural-history rate)"
        if "baseline_age_and_time" in scales else ""))
    if "centre" in v and v["centre"].notna().any():
        centres = "; ".join(
            f"{r.stratum}: {'age' if r.time_scale == 'age' else 'baseline age'} {r.centre:.1f}"
            for r in v.dropna(subset=["centre"]).itertuples())
        parts.append(f"age and baseline age centred (years; the stratum's median unless "
                     f"progression.centre says otherwise) at {centres}")
    parts.append("fixed effects with Satterthwaite degrees of freedom (t intervals and p-values, "
                 "as lmerTest)")
    parts.append("slopes and trajectories only over the ages with data from at least "
                 "progression.min_patients patients")
    return "; ".join(parts) + "."


def progression_context(
    tables: dict[str, pd.DataFrame],
    spaghetti_figures: list,
    change_figures: list,
    min_cell_count: int,
) -> dict:
    """Per scale: slope table (time scales side by side), change table, floor/ceiling table,
    the two figures and the methods sentence."""
    slopes = tables.get("lmm_slopes")
    if slopes is None:
        return {}
    spaghetti = {Path(f).stem.removeprefix("progression_"): embed_figure(f) for f in spaghetti_figures}
    histograms = {Path(f).stem.removeprefix("change_12m_"): embed_figure(f) for f in change_figures}
    variance = tables["lmm_variance_components"]
    change = tables["change_12m"]
    floor = tables["scale_floor_ceiling"]
    context = {}
    scales = list(dict.fromkeys([*slopes["scale"], *spaghetti]))
    for scale in scales:
        s = slopes[slopes["scale"] == scale]
        v = variance[(variance["scale"] == scale)]
        notes = {
            (r.stratify_by, str(r.stratum)): _status(r.status, r.singular, r.note or "")
            for r in v.fillna({"note": ""}).itertuples()
        }
        pooled = v[v["stratum"].astype(str) == "pooled"]
        slope_table = _slope_table(s, notes, bool(len(pooled)), min_cell_count)
        flagged = sorted({f"{r.stratify_by.replace('_', ' ')} {r.stratum}" for r in s.itertuples()
                          if _flag(getattr(r, "floor_ceiling_flag", False))})
        c = change[change["scale"] == scale]
        hidden = _hidden_shares(c, min_cell_count)
        change_table = pd.DataFrame({
            "stratify_by": c["stratify_by"], "stratum": c["stratum"].astype(str),
            "patients": [suppress_count(n, min_cell_count) for n in c["n_patients"]],
            "mean change (95% CI)": [
                ci(e, lo, hi) for e, lo, hi in zip(c["mean"], c["mean_lo"], c["mean_hi"])],
            "annualised change per year (95% CI)": [
                ci(e, lo, hi) for e, lo, hi in zip(
                    c.get("annualised_mean", c["mean"] * float("nan")),
                    c.get("annualised_lo", c["mean"] * float("nan")),
                    c.get("annualised_hi", c["mean"] * float("nan")))],
            "SD": [format_number(x) for x in c["sd"]],
            **{
                f"{kind} (95% CI)": [
                    _share(k, p, lo, hi, min_cell_count, h[column])
                    for k, p, lo, hi, h in zip(c[f"n_{kind}"].fillna(0), c[f"share_{kind}"],
                                               c[f"{kind}_lo"], c[f"{kind}_hi"], hidden)
                ]
                for column, kind in enumerate(CHANGE_KINDS)
            },
            "note": c["note"].fillna(""),
        })
        f = floor[floor["scale"] == scale]
        floor_table = pd.DataFrame({
            "stratify_by": f["stratify_by"], "stratum": f["stratum"].astype(str),
            "assessments": [suppress_count(n, min_cell_count) for n in f["n_assessments"]],
            "at floor": [suppress_count(n, min_cell_count) for n in f["n_at_floor"]],
            "at ceiling": [
                "no ceiling" if pd.isna(n) else suppress_count(n, min_cell_count)
                for n in f["n_at_ceiling"]],
            "patients ever at floor": [
                suppress_count(n, min_cell_count) for n in f["n_patients_ever_at_floor"]],
            "patients ever at ceiling": [
                "—" if pd.isna(n) else suppress_count(n, min_cell_count)
                for n in f["n_patients_ever_at_ceiling"]],
        })
        formulas = list(dict.fromkeys(v["formula"].dropna()))
        threshold = c["threshold"].iloc[0] if len(c) else None
        source = (c["threshold_source"].iloc[0]
                  if len(c) and "threshold_source" in c and pd.notna(c["threshold_source"].iloc[0])
                  else "")
        context[scale] = {
            "slopes": slope_table,
            "change": change_table,
            "floor_ceiling": floor_table,
            "formulas": formulas,
            "threshold": (format_number(threshold, 1) + (f"; {source}" if source else ""))
            if threshold is not None else "—",
            "methods": _methods(s, v, c),
            "floor_flag": (
                "Linear model unreliable (a large share of assessments at the floor or ceiling, "
                "progression.floor_ceiling_share): " + ", ".join(flagged) + ".") if flagged else "",
            "spaghetti": spaghetti.get(scale),
            "histogram": histograms.get(scale),
        }
    return context
