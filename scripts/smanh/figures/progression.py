"""Figures of motor-score progression: observed scores as age-binned percentile bands
(median, 10th–90th percentiles; a bin drawn only when it holds at least
``report.min_cell_count`` patients) with the model's mean trajectory and confidence band,
and histograms of the 12-month change (bars with fewer than ``min_cell_count`` pairs merged
with their neighbours). Per-patient lines (spaghetti) only with
``report.individual_level_figures``. Stratum colours as everywhere
(:func:`smanh.figures.common.stratum_colour`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, MultipleLocator

from smanh.config.scales import SCALES
from smanh.figures.common import STRATIFICATION_TITLES, new_figure, stratum_colour, stratum_label
from smanh.figures.theme import despine, set_theme
from smanh.progression.design import covered_range
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


def age_bin_width(scale: str, ages: np.ndarray) -> float:
    """Width (years) of the age bins of the percentile bands: 3 months for the infant
    scales, else 1 year, or 2 years over a range of more than 30 years."""
    if scale in INFANT_SCALES:
        return 0.25
    span = float(np.ptp(ages)) if ages.size else 0.0
    return 2.0 if span > 30 else 1.0


def percentile_bands(ages: np.ndarray, scores: np.ndarray, patients: np.ndarray, width: float,
                     min_patients: int) -> pd.DataFrame:
    """Per age bin ``[k width, (k + 1) width)`` with at least ``min_patients`` distinct
    patients: bin centre, number of patients, median and 10th / 90th percentiles of the
    patients' mean scores in the bin (numpy's linear interpolation). Bins with fewer patients are left out."""
    columns = ["age", "n_patients", "p10", "median", "p90"]
    if ages.size == 0:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({"bin": np.floor(ages / width).astype(int), "score": scores,
                          "patient": patients})
    rows = []
    for k, part in frame.groupby("bin", sort=True):
        n = part["patient"].nunique()
        if n < min_patients:
            continue
        # one value per patient (their mean in the bin): the band describes patients, and no
        # patient's visits outweigh the others'
        per_patient = part.groupby("patient", sort=False)["score"].mean().to_numpy(float)
        p10, med, p90 = np.percentile(per_patient, [10, 50, 90])
        rows.append({"age": (k + 0.5) * width, "n_patients": n, "p10": p10, "median": med,
                     "p90": p90})
    return pd.DataFrame(rows, columns=columns)


def _runs(values: np.ndarray, step: float) -> list[np.ndarray]:
    """Indices of runs of consecutive bins (bin centres ``step`` apart)."""
    if values.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(values) > step * 1.5) + 1
    return np.split(np.arange(values.size), breaks)


def spaghetti_figure(
    assessments: pd.DataFrame,
    trajectories: pd.DataFrame,
    scale: str,
    *,
    stratify_by: list[str],
    max_patients: int = 200,
    seed: int = 2016,
    birth_eras=None,
    min_cell_count: int = 5,
    individual_level: bool = False,
) -> Figure:
    """One panel per stratification: per stratum the observed median (dashed) and 10th–90th
    percentile band of the scores by age bin (bins with at least ``min_cell_count``
    patients), the model's mean trajectory on the age scale with its confidence band
    (solid) and the longitudinal model's mean from the median baseline age (dotted), both
    only over ages with data from ``min_cell_count`` patients. With ``individual_level``
    also grey per-patient lines (a seeded random subset of ``max_patients``)."""
    set_theme()
    fig = new_figure(figsize=(4.6 * len(stratify_by), 3.8))
    axes = fig.subplots(1, len(stratify_by), squeeze=False, sharey=True)
    # Infant scales are read in months, the others in years.
    unit, per_year = ("months", 12.0) if scale in INFANT_SCALES else ("years", 1.0)
    ages = assessments["age"].to_numpy(float)
    width = age_bin_width(scale, ages)
    lines = []
    if individual_level:
        shown = spaghetti_sample(assessments["patient_id"], max_patients, seed)
        drawn = assessments[assessments["patient_id"].isin(shown)]
        # One line per patient, drawn as one collection (hundreds of separate lines cost a
        # quarter of a second per panel to lay out and draw, twice: PNG and SVG).
        lines = [np.column_stack([rows["age"] * per_year, rows["score"]])
                 for _, rows in drawn.groupby("patient_id")]
    patient_codes = pd.factorize(assessments["patient_id"])[0]
    low, high = SCALES[scale].valid_range
    notes = []
    for ax, by in zip(axes[0], stratify_by):
        if assessments.empty:
            _empty(ax, f"no natural-history {scale} assessments")
            continue
        if lines:
            ax.add_collection(LineCollection(lines, colors="#9a9a9a", linewidths=0.4, alpha=0.6,
                                             zorder=1))
        labels, order = strata_of(assessments, by, birth_eras)
        labels = labels.to_numpy()
        panel = trajectories[trajectories["stratify_by"] == by]
        drew = False
        handles = []
        for stratum in [s for s in order if s in set(labels)]:
            rows = labels == stratum
            colour = stratum_colour(by, stratum)
            label = stratum_label(by, stratum)
            bands = percentile_bands(ages[rows], assessments["score"].to_numpy(float)[rows],
                                     patient_codes[rows], width, min_cell_count)
            if len(bands):  # the stratum's legend entry: its colour, as the bands
                handles.append(Patch(color=colour, alpha=0.4, lw=0, label=label))
            for run in _runs(bands["age"].to_numpy(float), width):
                part = bands.iloc[run]
                x = part["age"].to_numpy(float) * per_year
                if len(part) == 1:  # a lone bin: its band as a bar
                    ax.fill_between([x[0] - width * per_year / 3, x[0] + width * per_year / 3],
                                    part["p10"].iloc[0], part["p90"].iloc[0], color=colour,
                                    alpha=0.15, lw=0, zorder=2)
                    ax.plot([x[0]], part["median"], marker="_", color=colour, zorder=3)
                else:
                    ax.fill_between(x, part["p10"], part["p90"], color=colour, alpha=0.15, lw=0,
                                    zorder=2)
                    ax.plot(x, part["median"], color=colour, lw=1.0, ls="--", zorder=3)
                drew = True
            # the model's mean only where min_cell_count patients have data (the table's
            # range has progression.min_patients, which may be fewer)
            curves = panel[panel["stratum"].astype(str) == stratum]
            covered = covered_range(ages[rows], pd.factorize(patient_codes[rows])[0],
                                    np.unique(curves["age_years"].to_numpy(float)),
                                    min_cell_count, 0.0) if len(curves) else None
            if covered is not None and len(curves):
                inside = curves["age_years"].between(*covered)
                curve = curves[inside & (curves["time_scale"] == "age")] \
                    if "time_scale" in curves else curves[inside]
                if len(curve):
                    ax.fill_between(curve["age_years"] * per_year, curve["lo"], curve["hi"],
                                    color=colour, alpha=0.3, lw=0, zorder=4)
                    ax.plot(curve["age_years"] * per_year, curve["predicted"], color=colour, lw=1.8,
                            zorder=5)
                    drew = True
                if "time_scale" in curves:
                    longitudinal = curves[inside & (curves["time_scale"] == "baseline_age_and_time")]
                    if len(longitudinal):
                        ax.plot(longitudinal["age_years"] * per_year, longitudinal["predicted"],
                                color=colour, lw=1.4, ls=":", zorder=5)
                shown = curves[inside]
                if "note" in shown and shown["note"].fillna("").astype(bool).any():
                    notes.append(f"{label}: fitted mean outside the scale's range")
        if high is not None and SCALES[scale].ceiling:
            ax.set_ylim(low - 0.03 * (high - low), high + 0.03 * (high - low))
        if per_year == 12:  # months: ticks at whole years
            span = float(np.ptp(ages)) * 12 if ages.size else 12.0
            ax.xaxis.set_major_locator(MultipleLocator(12 if span <= 120 else 24))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
        ax.set_title(STRATIFICATION_TITLES.get(by, by))
        ax.set_xlabel(f"Age ({unit})")
        if drew:  # beside the panel: no search for a free spot among the bands
            ax.legend(handles=handles, frameon=False, fontsize=7, loc="upper left",
                      bbox_to_anchor=(1.0, 1.0))
        else:
            ax.text(0.5, 0.5, f"no age bin with at least {min_cell_count} patients",
                    ha="center", va="center", transform=ax.transAxes, fontsize=8)
    axes[0][0].set_ylabel(SCALES[scale].label)
    what = (f"observed median (dashed) and 10th–90th percentiles\nper {width * per_year:g}-"
            f"{unit[:-1]} bin with ≥ {min_cell_count} patients; model mean by age (solid, 95% CI)"
            "\nand from the median baseline age (dotted)")
    title = f"{scale}: {what}"
    if lines:
        title += f"; {len(lines)} patients drawn"
    if notes:
        title += "\n" + "; ".join(dict.fromkeys(notes))
    fig.suptitle(title, fontsize=7.5)
    despine(fig)
    fig.tight_layout()
    return fig


def merged_bins(values: np.ndarray, edges: np.ndarray, min_count: int) -> np.ndarray:
    """Histogram edges with neighbouring bins merged, left to right, until every bar holds
    at least ``min_count`` values (a short last group joins the one before); no edges when
    all values together are fewer."""
    counts, _ = np.histogram(values, bins=edges)
    if counts.sum() < min_count:
        return np.array([])
    kept = [edges[0]]
    running = 0
    for k, c in enumerate(counts):
        running += c
        if running >= min_count:
            kept.append(edges[k + 1])
            running = 0
    if running:  # the last values: into the bar before
        kept[-1] = edges[-1]
    return np.array(kept)


def change_histogram(
    pairs: pd.DataFrame,
    change: pd.DataFrame,
    scale: str,
    *,
    stratify_by: list[str],
    threshold: float = 2.0,
    birth_eras=None,
    min_cell_count: int = 5,
) -> Figure:
    """One panel per stratification: step histograms (density) of the 12-month change of
    every stratum with estimates in ``change_12m.csv``, neighbouring bars merged until each
    holds at least ``min_cell_count`` pairs; dashed lines at ± threshold."""
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
            merged = merged_bins(chosen, bins, min_cell_count)
            if merged.size < 2:
                continue
            ax.hist(chosen, bins=merged, histtype="step", lw=1.4, color=stratum_colour(by, stratum),
                    label=f"{label} (mean {chosen.mean():.1f})", density=True)
        for x in (-threshold, threshold):
            ax.axvline(x, color="#444444", ls="--", lw=0.8)
        ax.set_title(STRATIFICATION_TITLES.get(by, by))
        ax.set_xlabel(f"12-month change in {scale}")
        ax.set_ylabel("Density")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=7)
        else:
            ax.text(0.5, 0.5, f"no stratum with {min_cell_count} pairs", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
    fig.suptitle(f"{scale}: 12-month change (one pair per patient; bars of ≥ {min_cell_count} pairs)",
                 fontsize=9)
    despine(fig)
    fig.tight_layout()
    return fig
