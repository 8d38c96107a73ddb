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


def progression_context(
    tables: dict[str, pd.DataFrame],
    spaghetti_figures: list,
    change_figures: list,
    min_cell_count: int,
) -> dict:
    """Per scale: slope table, change table, floor/ceiling table and the two figures."""
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
        slope_table = pd.DataFrame({
            "stratify_by": s["stratify_by"], "stratum": s["stratum"].astype(str),
            "patients": [suppress_count(n, min_cell_count) for n in s["n_patients"]],
            "assessments": [suppress_count(n, min_cell_count) for n in s["n_assessments"]],
            "slope per year (95% CI)": [
                ci(e, lo, hi) for e, lo, hi in zip(s["slope_per_year"], s["lo"], s["hi"])],
            "SE": [format_number(x, 3) for x in s["se"]],
            "note": [
                notes.get((by, str(st)), "") or ("pooled model" if len(pooled) else "")
                for by, st in zip(s["stratify_by"], s["stratum"])
            ],
        })
        c = change[change["scale"] == scale]
        hidden = _hidden_shares(c, min_cell_count)
        change_table = pd.DataFrame({
            "stratify_by": c["stratify_by"], "stratum": c["stratum"].astype(str),
            "patients": [suppress_count(n, min_cell_count) for n in c["n_patients"]],
            "mean change (95% CI)": [
                ci(e, lo, hi) for e, lo, hi in zip(c["mean"], c["mean_lo"], c["mean_hi"])],
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
        context[scale] = {
            "slopes": slope_table,
            "change": change_table,
            "floor_ceiling": floor_table,
            "formulas": formulas,
            "threshold": format_number(threshold, 1) if threshold is not None else "—",
            "spaghetti": spaghetti.get(scale),
            "histogram": histograms.get(scale),
        }
    return context
