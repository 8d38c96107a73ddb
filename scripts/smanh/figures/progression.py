"""Figures of motor-score progression: spaghetti plots with the model's mean trajectories,
and histograms of the 12-month change. Stratum colours as everywhere
(:func:`smanh.figures.common.stratum_colour`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from smanh.config.scales import SCALES
from smanh.figures.common import STRATIFICATION_TITLES, new_figure, stratum_colour, stratum_label
from smanh.figures.theme import despine, set_theme
from smanh.progression.selection import strata_of

INFANT_SCALES = ("CHOP_INTEND", "HINE2")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def spaghetti_sample(patient_ids: pd.Series, max_patients: int, seed: int) -> set:
    """A seeded random subset of at most ``max_patients`` of the (sorted) patients."""
    ids = np.array(sorted(set(patient_ids)))
    if ids.size <= max_patients:
        return set(ids)
    rng = np.random.default_rng(seed)
    return set(rng.choice(ids, size=max_patients, replace=False))


def spaghetti_figure(
    assessments: pd.DataFrame,
    trajectories: pd.DataFrame,
    scale: str,
    *,
    stratify_by: list[str],
    max_patients: int = 200,
    seed: int = 2016,
    birth_eras=None,
) -> Figure:
    """One panel per stratification: grey per-patient lines (random subset), and the
    predicted mean trajectory with its confidence band per modelled stratum."""
    set_theme()
    fig = new_figure(figsize=(4.6 * len(stratify_by), 3.8))
    axes = fig.subplots(1, len(stratify_by), squeeze=False, sharey=True)
    # Infant scales are read in months, the others in years.
    unit, per_year = ("months", 12.0) if scale in INFANT_SCALES else ("years", 1.0)
    shown = spaghetti_sample(assessments["patient_id"], max_patients, seed)
    drawn = assessments[assessments["patient_id"].isin(shown)]
    # One line per patient, drawn as one collection (hundreds of separate lines cost a
    # quarter of a second per panel to lay out and draw, twice: PNG and SVG).
    lines = [np.column_stack([rows["age"] * per_year, rows["score"]])
             for _, rows in drawn.groupby("patient_id")]
    for ax, by in zip(axes[0], stratify_by):
        if assessments.empty:
            _empty(ax, f"no natural-history {scale} assessments")
            continue
        ax.add_collection(LineCollection(lines, colors="#9a9a9a", linewidths=0.4, alpha=0.6, zorder=1))
        ax.autoscale_view()
        panel = trajectories[trajectories["stratify_by"] == by]
        _, order = strata_of(assessments, by, birth_eras)
        for stratum in [s for s in order if s in set(panel["stratum"].astype(str))]:
            curve = panel[panel["stratum"].astype(str) == stratum]
            colour = stratum_colour(by, stratum)
            label = stratum_label(by, stratum)
            ax.fill_between(curve["age_years"] * per_year, curve["lo"], curve["hi"], color=colour,
                            alpha=0.25, lw=0, zorder=2)
            ax.plot(curve["age_years"] * per_year, curve["predicted"], color=colour, lw=1.8,
                    label=label, zorder=3)
        ax.set_title(STRATIFICATION_TITLES.get(by, by))
        ax.set_xlabel(f"Age ({unit})")
        if panel.size:  # beside the panel: no search for a free spot among hundreds of lines
            ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[0][0].set_ylabel(SCALES[scale].label)
    n_shown = min(len(shown), assessments["patient_id"].nunique()) if len(assessments) else 0
    fig.suptitle(f"{scale}: {n_shown} patients drawn; model mean (95% CI)", fontsize=9)
    despine(fig)
    fig.tight_layout()
    return fig


def change_histogram(
    pairs: pd.DataFrame,
    change: pd.DataFrame,
    scale: str,
    *,
    stratify_by: list[str],
    threshold: float = 2.0,
    birth_eras=None,
) -> Figure:
    """One panel per stratification: step histograms of the 12-month change of every
    stratum with estimates in ``change_12m.csv``; dashed lines at ± threshold."""
    set_theme()
    fig = new_figure(figsize=(4.6 * len(stratify_by), 3.4))
    axes = fig.subplots(1, len(stratify_by), squeeze=False)
    for ax, by in zip(axes[0], stratify_by):
        estimated = change[(change["stratify_by"] == by) & change["mean"].notna()]
        if pairs.empty or estimated.empty:
            _empty(ax, "no stratum with enough 12-month pairs")
            continue
        labels, order = strata_of(pairs, by, birth_eras)
        values = pairs["change"].to_numpy(float)
        width = 1.0 if scale not in ("6MWT",) else 10.0
        bins = np.arange(np.floor(values.min()) - width / 2, np.ceil(values.max()) + width, width)
        for stratum in [s for s in order if s in set(estimated["stratum"].astype(str))]:
            chosen = values[(labels == stratum).to_numpy()]
            label = stratum_label(by, stratum)
            ax.hist(chosen, bins=bins, histtype="step", lw=1.4, color=stratum_colour(by, stratum),
                    label=f"{label} (mean {chosen.mean():.1f})", density=True)
        for x in (-threshold, threshold):
            ax.axvline(x, color="#444444", ls="--", lw=0.8)
        ax.set_title(STRATIFICATION_TITLES.get(by, by))
        ax.set_xlabel(f"12-month change in {scale}")
        ax.set_ylabel("Density")
        ax.legend(frameon=False, fontsize=7)
    fig.suptitle(f"{scale}: 12-month change (one pair per patient)", fontsize=9)
    despine(fig)
    fig.tight_layout()
    return fig
