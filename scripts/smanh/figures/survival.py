"""Survival figures: Kaplan–Meier curves with numbers at risk and published reference
points, and parametric fits extrapolated beside Kaplan–Meier."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from smanh.disclosure import show_count
from smanh.figures.common import (
    STRATIFICATION_TITLES,
    empty_figure,
    new_figure,
    short_name,
    stratum_colour,
    stratum_label,
)
from smanh.figures.theme import despine, set_theme


def step_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """The curve from the start of its estimable range (``from_age``, S = 1: estimates are
    conditional on being event-free there) with bands defined everywhere they are drawn.

    Only the steps are kept (censoring-only ages change nothing drawn), plus the last
    age, so the curve still ends where its estimable range ends.
    """
    start_age = float(curve["from_age"].iloc[0]) if "from_age" in curve and len(curve) else 0.0
    start = pd.DataFrame({"time_years": [start_age], "survival": [1.0], "lo": [1.0], "hi": [1.0]})
    rows = pd.concat([start, curve[["time_years", "survival", "lo", "hi"]]], ignore_index=True)
    at_one = rows["survival"] >= 1.0
    rows.loc[at_one, ["lo", "hi"]] = 1.0
    changes = rows[["survival", "lo", "hi"]].ne(rows[["survival", "lo", "hi"]].shift()).any(axis=1)
    changes.iloc[-1] = True
    return rows[changes].reset_index(drop=True)


# Infant-onset types are read in months; their panel spans the first three years.
INFANT_TYPES = ("0", "1")
INFANT_PANEL_MONTHS = 36
PUBLISHED_MARKER = {"marker": "D", "s": 22, "edgecolor": "#000000", "linewidths": 0.6, "zorder": 5}


def km_figure(
    curves: pd.DataFrame,
    endpoint: str,
    at_risk: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    min_cell_count: int = 5,
    confidence_level: float = 0.95,
) -> Figure:
    """Kaplan–Meier curves with shaded confidence bands, one panel per stratification,
    stacked (so that a portrait page prints the numbers at risk at 7 pt), each with its
    number-at-risk table underneath. ``curves`` and ``at_risk`` are the released tables
    (:func:`smanh.disclosure.release.release`: curves on a monthly grid, strata with enough
    events, counts as text) or, with ``report.individual_level_figures``, the exact ones.

    Infant-onset SMA types (0, 1) get an extra panel in months. ``published`` reference
    points (``data/reference``) are overlaid as diamonds in their stratum's colour.
    """
    set_theme()
    if "age_years" in curves:  # a released curve: read on the grid of ages
        curves = curves.rename(columns={"age_years": "time_years"})
    if curves.empty:
        return empty_figure(
            f"{endpoint.replace('_', ' ')}: no stratum with enough patients at risk and events to draw a curve",
            "Kaplan–Meier with delayed entry")
    # Each curve split off once, in table order (iterated: list() would build pandas' .groups).
    by_curve = {key: rows for key, rows in curves.groupby(["stratify_by", "stratum"], sort=False)}
    strata_in = {}
    for by, stratum in by_curve:
        strata_in.setdefault(by, []).append(stratum)
    panels = [(by, "years") for by in strata_in]
    if any(s in INFANT_TYPES for s in strata_in.get("sma_type", [])):
        panels.append(("sma_type", "months"))
    heights = []
    for by, _ in panels:
        heights += [2.3, 0.15 * len(strata_in[by]) + 0.35, 0.6]  # curves, numbers at risk, a gap
    fig = new_figure(figsize=(6.6, sum(heights) + 0.5))
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.0)
    for row, (by, unit) in enumerate(panels):
        ax = fig.add_subplot(grid[3 * row, 0])
        table_ax = fig.add_subplot(grid[3 * row + 1, 0], sharex=ax)
        strata = [s for s in strata_in[by] if unit != "months" or s in INFANT_TYPES]
        scale = 12.0 if unit == "months" else 1.0
        for stratum in strata:
            rows = step_curve(by_curve[(by, stratum)])
            colour = stratum_colour(by, stratum)
            label = f"{stratum_label(by, stratum)} ({age_range(by_curve[(by, stratum)], scale)})"
            ax.step(rows["time_years"] * scale, rows["survival"], where="post", color=colour, label=label, lw=1.4)
            ax.fill_between(rows["time_years"] * scale, rows["lo"], rows["hi"], step="post", color=colour,
                            alpha=0.15, lw=0, rasterized=True)
        if published is not None and by == "sma_type":
            _overlay_published(ax, published, strata, scale)
        title = STRATIFICATION_TITLES.get(by, by)
        ax.set_title(f"{title}, infant onset" if unit == "months" else title, fontsize=9, loc="left")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, INFANT_PANEL_MONTHS if unit == "months" else None)
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), borderaxespad=0.5,
                  handlelength=1.5)
        ax.tick_params(labelbottom=False)
        ax.set_ylabel(f"Free of {endpoint.replace('_', ' ')}", fontsize=8)
        if at_risk is not None:
            _at_risk_table(table_ax, at_risk[at_risk["stratify_by"] == by], strata, by, scale, min_cell_count)
        table_ax.set_xlabel("Age (months)" if unit == "months" else "Age (years)", fontsize=8)
    fig.suptitle(f"Kaplan–Meier with delayed entry ({confidence_level:.0%} log-log bands), each curve over its "
                 "estimable range (in brackets;\ngiven event-free at its start); number at risk below each panel",
                 fontsize=8, y=1 - 0.08 / (sum(heights) + 0.5), va="top")
    despine(fig)
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.9 / width, right=1 - 2.1 / width, top=1 - 0.75 / height, bottom=0.05 / height)
    return fig


def age_range(curve: pd.DataFrame, scale: float = 1.0) -> str:
    """``0.09–10.5 y`` (or months): where a curve is estimable."""
    unit = "mo" if scale == 12.0 else "y"
    return f"{curve['from_age'].iloc[0] * scale:.2g}–{curve['to_age'].iloc[0] * scale:.3g} {unit}"


def _overlay_published(ax, published: pd.DataFrame, strata: list[str], scale: float) -> None:
    shown = published[published["sma_type"].isin(strata)]
    for source, rows in shown.groupby("source", sort=False):
        colours = [stratum_colour("sma_type", s) for s in rows["sma_type"]]
        ax.scatter(rows["time_years"] * scale, rows["value"], c=colours, label=f"published:\n{source}",
                   **PUBLISHED_MARKER)


def _at_risk_table(ax, at_risk: pd.DataFrame, strata: list[str], by: str, scale: float,
                   min_cell_count: int) -> None:
    """Numbers at risk under a panel, one row per stratum, at the configured ages."""
    ax.set_yticks(range(len(strata)))
    ax.set_yticklabels(strata if by != "all" else ["at risk"], fontsize=7)
    for label, colour in zip(ax.get_yticklabels(), [stratum_colour(by, s) for s in strata]):
        label.set_color(colour)
    ax.set_ylim(len(strata) - 0.5, -0.5)
    ax.tick_params(axis="both", length=0, labelsize=7)
    ax.tick_params(axis="y", pad=10)  # clear of the first count, centred near age 0
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    low, high = ax.get_xlim()
    ages = _spaced(sorted(set(at_risk["age_years"] * scale)), low, high)
    for row, stratum in enumerate(strata):
        counts = at_risk[(at_risk["stratum"] == stratum) & (at_risk["age_years"] * scale).isin(ages)]
        for age, n in zip(counts["age_years"] * scale, counts["at_risk"]):
            # released counts are text already (<5, ≈40); exact ones go through the same rule
            shown = n if isinstance(n, str) else show_count(n, min_cell_count)
            ax.text(age, row, shown, ha="center", va="center", fontsize=7)


def _spaced(ages: list[float], low: float, high: float, gap: float = 0.07) -> list[float]:
    """The ages inside the axis, leaving out any that would crowd the previous label."""
    kept: list[float] = []
    for age in ages:
        if low <= age <= high and (not kept or age - kept[-1] >= gap * (high - low)):
            kept.append(age)
    return kept


PARAMETRIC_STYLES = {
    "weibull": ("#0072B2", "-"),
    "lognormal": ("#D55E00", "--"),
    "loglogistic": ("#009E73", "-."),
    "gengamma": ("#CC79A7", ":"),
}


def parametric_figure(
    km_curves: pd.DataFrame, parametric_curves: pd.DataFrame, parametric: pd.DataFrame, endpoint: str
) -> Figure:
    """One panel per fitted stratum: the Kaplan–Meier step curve (black) and every fitted
    distribution extrapolated to the end of its grid; each panel's title names the best AIC,
    one legend under the panels serves them all (legends inside the panels covered curves)."""
    set_theme()
    if "age_years" in km_curves:  # released: read on the grid of ages
        km_curves = km_curves.rename(columns={"age_years": "time_years"})
    fitted = set(zip(parametric.loc[parametric["aic"].notna(), "stratify_by"],
                     parametric.loc[parametric["aic"].notna(), "stratum"].astype(str)))
    panels = [key for key in dict.fromkeys(zip(parametric_curves["stratify_by"], parametric_curves["stratum"]))
              if (key[0], str(key[1])) in fitted]  # not a stratum whose fits are not released
    if not panels:
        return empty_figure(f"{endpoint.replace('_', ' ')}: no parametric fit (no stratum with enough "
                            "patients and events)", "Parametric fits", figsize=(4.2, 3.6))
    columns = min(2, len(panels))  # two across a portrait page
    rows = -(-len(panels) // columns)
    fig = new_figure(figsize=(3.3 * columns, 2.8 * rows + 0.6))
    # Each table split once (iterated: list() would first build pandas' costly .groups).
    km_by_panel = {key: part for key, part in km_curves.groupby(["stratify_by", "stratum"], sort=False)}
    fits_by_panel = {key: part for key, part in parametric.groupby(["stratify_by", "stratum"], sort=False)}
    curves_by_panel = {
        key: part for key, part in parametric_curves.groupby(["stratify_by", "stratum", "dist"], sort=False)
    }
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True)
    legend: dict[str, object] = {}  # label -> line, in drawing order
    for ax, (by, stratum) in zip(axes.flat, panels):
        km = km_by_panel.get((by, stratum), km_curves.iloc[:0])
        if len(km):
            steps = step_curve(km)
            (line,) = ax.step(steps["time_years"], steps["survival"], where="post", color="#000000",
                              lw=1.3)
            legend.setdefault("Kaplan–Meier", line)
        fits = fits_by_panel.get((by, stratum), parametric.iloc[:0])
        best = fits.loc[fits["aic"].idxmin(), "dist"] if fits["aic"].notna().any() else None
        for dist, (colour, style) in PARAMETRIC_STYLES.items():
            curve = curves_by_panel.get((by, stratum, dist))
            if curve is not None and len(curve):
                (line,) = ax.plot(curve["time_years"], curve["survival"], color=colour, ls=style, lw=1.1)
                legend.setdefault(dist, line)
        title = "All patients" if by == "all" else f"{short_name(by)} {stratum}"
        if len(km):
            title += f", from {km['from_age'].iloc[0]:.2g} y"
        ax.set_title(f"{title}; best AIC: {best}" if best else title, fontsize=9)
        ax.set_xlabel("Age (years)")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    axes[0][0].set_ylabel(f"Free of {endpoint.replace('_', ' ')}")
    fig.suptitle("Parametric fits (delayed entry) beside Kaplan–Meier, given event-free at each panel's "
                 "from-age, extrapolated", fontsize=9)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=len(legend),
               frameon=False, fontsize=7)
    despine(fig)
    # Margins in inches for this fixed arrangement (tight_layout measured every label of
    # every panel: a quarter of a second per figure).
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.62 / width, right=1 - 0.15 / width, top=1 - 0.55 / height,
                        bottom=0.95 / height, wspace=0.12, hspace=0.42)
    return fig


def cuminc_figure(cuminc: pd.DataFrame, endpoint: str) -> Figure:
    """Cumulative incidence of the event with death (or the endpoint's other competing
    events) as a competing risk — Aalen–Johansen, solid — beside 1 − Kaplan–Meier, dashed,
    which treats the competing events as censoring and so overstates the incidence where
    they are common; one panel per stratification, each curve over its estimable range."""
    set_theme()
    if "age_years" in cuminc:  # released: read on the grid of ages
        cuminc = cuminc.rename(columns={"age_years": "time_years"})
    event = cuminc[cuminc["state"] == "event"]
    if event.empty:
        return empty_figure(f"{endpoint.replace('_', ' ')}: no competing event among the patients at risk: "
                            "the cumulative incidence is 1 − Kaplan–Meier", "Cumulative incidence")
    by_curve = {key: rows for key, rows in event.groupby(["stratify_by", "stratum"], sort=False)}
    panels = list(dict.fromkeys(by for by, _ in by_curve))
    fig = new_figure(figsize=(6.6, 2.7 * len(panels) + 0.6))
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, by in zip(axes[:, 0], panels):
        for (curve_by, stratum), rows in by_curve.items():
            if curve_by != by:
                continue
            colour = stratum_colour(by, stratum)
            start = float(rows["from_age"].iloc[0])
            ages = np.concatenate([[start], rows["time_years"].to_numpy()])
            ax.step(ages, np.concatenate([[0.0], rows["cif"].to_numpy()]), where="post", color=colour, lw=1.4,
                    label=f"{stratum_label(by, stratum)} ({age_range(rows)})")
            ax.step(ages, np.concatenate([[0.0], rows["one_minus_km"].to_numpy()]), where="post", color=colour,
                    lw=0.9, ls="--")
        ax.set_title(STRATIFICATION_TITLES.get(by, by), fontsize=9, loc="left")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("Age (years)", fontsize=8)
        ax.set_ylabel(f"Cumulative incidence of\n{endpoint.replace('_', ' ')}", fontsize=8)
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("Aalen–Johansen cumulative incidence (solid; death competing) and 1 − Kaplan–Meier (dashed),\n"
                 "given event-free at each curve's from-age", fontsize=8)
    despine(fig)
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.9 / width, right=1 - 1.9 / width, top=1 - 0.55 / height, bottom=0.45 / height,
                        hspace=0.45)
    return fig
