"""Figures of the external-control analysis: Kaplan-Meier curves of both arms per balanced
sample with the numbers at risk (small counts as ``<N``), the Love plot of standardised
mean differences, and the overlap of the propensity scores (densities, no counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from smanh.disclosure import show_count
from smanh.figures.common import OKABE_ITO, empty_figure, new_figure
from smanh.figures.survival import step_curve
from smanh.figures.theme import despine, set_theme

ARM_COLOURS = {"trial": OKABE_ITO[5], "registry": OKABE_ITO[4]}
SAMPLE_TITLES = {("none", "unadjusted"): "Unadjusted", ("primary", "weighting"): "ATT weighting",
                 ("primary", "matching"): "Nearest-neighbour matching"}
SAMPLE_MARKERS = {"unadjusted": ("o", "none"), "weighting": ("s", None), "matching": ("^", None)}
SMD_THRESHOLD = 0.1
MONTHS = 12.0


def km_arms_figure(curves: pd.DataFrame, at_risk: pd.DataFrame, endpoint: str, landmark_years,
                   min_cell_count: int, confidence_level: float = 0.95) -> Figure:
    """One panel per sample (unadjusted, weighting, matching of the primary model): the
    (weighted) Kaplan-Meier curve of each arm from time zero on the age scale, its band,
    the landmarks dashed, the patients at risk of each arm underneath."""
    set_theme()
    rows = curves[curves["endpoint"] == endpoint]
    panels = [key for key in SAMPLE_TITLES if ((rows["model"] == key[0]) & (rows["method"] == key[1])).any()]
    if not panels:
        return empty_figure(f"{endpoint.replace('_', ' ')}: no curve to draw", "External control")
    risk = at_risk[at_risk["endpoint"] == endpoint]
    last = max(float(risk["age_years"].max()) if len(risk) else 0.0, max(landmark_years)) * MONTHS
    fig = new_figure(figsize=(4.2 * len(panels), 3.9))
    grid = fig.add_gridspec(2, len(panels), height_ratios=[3.4, 0.7], hspace=0.45)
    for column, (model, method) in enumerate(panels):
        ax = fig.add_subplot(grid[0, column])
        table_ax = fig.add_subplot(grid[1, column], sharex=ax)
        sample = rows[(rows["model"] == model) & (rows["method"] == method)]
        for arm, colour in ARM_COLOURS.items():
            curve = sample[sample["arm"] == arm]
            if curve.empty:
                continue
            steps = step_curve(curve)
            ax.step(steps["time_years"] * MONTHS, steps["survival"], where="post", color=colour, lw=1.4,
                    label=arm)
            ax.fill_between(steps["time_years"] * MONTHS, steps["lo"], steps["hi"], step="post", color=colour,
                            alpha=0.15, lw=0, rasterized=True)
        for age in landmark_years:
            ax.axvline(age * MONTHS, color="#666666", lw=0.7, ls="--")
        ax.set_title(SAMPLE_TITLES[(model, method)], fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, last)
        ax.tick_params(labelbottom=False)
        ax.legend(frameon=False, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=2,
                  borderaxespad=0)
        part = risk[(risk["model"] == model) & (risk["method"] == method)]
        _at_risk_rows(table_ax, part, min_cell_count)
        table_ax.set_xlabel("Age (months)")
        if column == 0:
            ax.set_ylabel(f"Free of {endpoint.replace('_', ' ')}")
    fig.suptitle(f"Trial arm and registry controls from time zero ({confidence_level:.0%} log-log bands; "
                 "dashed: landmarks); patients at risk below", fontsize=9)
    despine(fig)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.12, wspace=0.3)
    return fig


def _at_risk_rows(ax, at_risk: pd.DataFrame, min_cell_count: int) -> None:
    arms = list(ARM_COLOURS)
    ax.set_yticks(range(len(arms)))
    ax.set_yticklabels(arms, fontsize=6)
    for label, arm in zip(ax.get_yticklabels(), arms):
        label.set_color(ARM_COLOURS[arm])
    ax.set_ylim(len(arms) - 0.5, -0.5)
    ax.tick_params(axis="both", length=0, labelsize=6)
    ax.tick_params(axis="y", pad=10)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    for row, arm in enumerate(arms):
        part = at_risk[at_risk["arm"] == arm]
        for age, n in zip(part["age_years"] * MONTHS, part["at_risk"]):
            ax.text(age, row, show_count(n, min_cell_count), ha="center", va="center", fontsize=6)


def love_plot(balance: pd.DataFrame) -> Figure:
    """Absolute standardised mean differences of the primary model's covariates: unadjusted,
    after weighting, after matching; dashed at 0.1."""
    set_theme()
    shown = balance[balance["model"].isin(["none", "primary"]) & balance["smd"].notna()]
    covariates = list(dict.fromkeys(shown["covariate"]))
    if not covariates:
        return empty_figure("no standardised mean difference to show", "Covariate balance")
    fig = new_figure(figsize=(5.6, 1.2 + 0.32 * len(covariates)))
    ax = fig.subplots()
    y = {name: i for i, name in enumerate(reversed(covariates))}
    for sample, (marker, face) in SAMPLE_MARKERS.items():
        rows = shown[shown["sample"] == sample]
        if rows.empty:
            continue
        ax.scatter(rows["smd"].abs(), [y[c] for c in rows["covariate"]], marker=marker, s=26,
                   facecolors=face or OKABE_ITO[{"unadjusted": 0, "weighting": 5, "matching": 4}[sample]],
                   edgecolors=OKABE_ITO[{"unadjusted": 0, "weighting": 5, "matching": 4}[sample]],
                   label=sample, zorder=3)
    ax.axvline(SMD_THRESHOLD, color="#666666", lw=0.8, ls="--")
    ax.set_yticks(list(y.values()))
    ax.set_yticklabels([c.replace("_", " ") for c in y], fontsize=7)
    ax.set_xlabel("Absolute standardised mean difference (trial SD)")
    ax.set_xlim(left=0)
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    despine(fig)
    fig.tight_layout()
    return fig


def overlap_figure(logit: np.ndarray, arm: np.ndarray, weights: np.ndarray | None) -> Figure:
    """Densities of the logit propensity score per arm (Gaussian kernel, Silverman's
    bandwidth), before and after ATT weighting; registry patients outside the trial's
    levels (score 0) are not drawn."""
    set_theme()
    finite = np.isfinite(logit)
    if weights is None or not (finite & (arm == 1)).any() or not (finite & (arm == 0)).any():
        return empty_figure("no propensity score: the model could not be fitted", "Propensity score overlap")
    grid = np.linspace(logit[finite].min() - 1, logit[finite].max() + 1, 256)
    fig = new_figure(figsize=(7.2, 2.8))
    axes = fig.subplots(1, 2, sharey=True, sharex=True)
    for ax, (title, w) in zip(axes, (("Before weighting", np.ones(len(arm))), ("After ATT weighting", weights))):
        for label, g in (("trial", 1), ("registry", 0)):
            keep = finite & (arm == g) & (w > 0)
            ax.plot(grid, _density(grid, logit[keep], w[keep]), color=ARM_COLOURS[label], lw=1.4, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("Logit propensity score")
    axes[0].set_ylabel("Density")
    axes[0].legend(frameon=False, fontsize=7)
    despine(fig)
    fig.tight_layout()
    return fig


def _density(grid: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    if len(x) == 0 or w.sum() <= 0:
        return np.zeros_like(grid)
    w = w / w.sum()
    mean = np.dot(w, x)
    sd = np.sqrt(np.dot(w, (x - mean) ** 2))
    n_eff = 1.0 / np.dot(w, w)
    bandwidth = max(1.06 * sd * n_eff ** (-0.2), 1e-3)
    z = (grid[:, None] - x[None, :]) / bandwidth
    return (np.exp(-0.5 * z**2) @ w) / (bandwidth * np.sqrt(2 * np.pi))
