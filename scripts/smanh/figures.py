"""Publication-quality figures (matplotlib/seaborn), one colour per stratum throughout."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from smanh.strata import stratum_order  # noqa: E402

# Okabe–Ito (yellow left out: invisible on white): distinguishable with the common
# colour-vision deficiencies.
OKABE_ITO = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
STRATUM_COLOURS = {
    ("all", "all"): OKABE_ITO[0],
    **{("sma_type", s): OKABE_ITO[i + 1] for i, s in enumerate(stratum_order("sma_type"))},
    **{("smn2_copies", s): OKABE_ITO[i + 1] for i, s in enumerate(stratum_order("smn2_copies"))},
}
STRATIFICATION_TITLES = {"all": "All patients", "sma_type": "By SMA type", "smn2_copies": "By SMN2 copies"}
# Deterministic files: no timestamps or software versions in PNG/SVG metadata.
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def stratum_colour(stratify_by: str, stratum: str) -> str:
    return STRATUM_COLOURS.get((stratify_by, stratum), "#999999")


def step_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """The curve from age 0 (S = 1) with bands defined everywhere they are drawn."""
    start = pd.DataFrame({"time_years": [0.0], "survival": [1.0], "lo": [1.0], "hi": [1.0]})
    rows = pd.concat([start, curve[["time_years", "survival", "lo", "hi"]]], ignore_index=True)
    at_one = rows["survival"] >= 1.0
    rows.loc[at_one, ["lo", "hi"]] = 1.0
    return rows


def km_figure(curves: pd.DataFrame, endpoint: str, conf_level: float = 0.95) -> plt.Figure:
    """One panel per stratification: Kaplan–Meier curves with shaded confidence bands."""
    sns.set_theme(style="ticks", context="paper")
    stratifications = list(dict.fromkeys(curves["stratify_by"]))
    fig, axes = plt.subplots(
        1, len(stratifications), figsize=(4.2 * len(stratifications), 3.6), sharey=True, squeeze=False
    )
    for ax, by in zip(axes[0], stratifications):
        panel = curves[curves["stratify_by"] == by]
        for stratum in dict.fromkeys(panel["stratum"]):
            rows = step_curve(panel[panel["stratum"] == stratum])
            colour = stratum_colour(by, stratum)
            label = stratum if by == "all" else f"{_short(by)} {stratum}"
            ax.step(rows["time_years"], rows["survival"], where="post", color=colour, label=label, lw=1.4)
            ax.fill_between(
                rows["time_years"], rows["lo"], rows["hi"], step="post", color=colour, alpha=0.15, lw=0
            )
        ax.set_title(STRATIFICATION_TITLES.get(by, by))
        ax.set_xlabel("Age (years)")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.legend(frameon=False, fontsize=7)
    axes[0][0].set_ylabel(f"Free of {endpoint.replace('_', ' ')}")
    fig.suptitle(f"Kaplan–Meier, delayed entry ({conf_level:.0%} log-log bands)", fontsize=9)
    sns.despine(fig)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, png: str, svg: str | None = None) -> None:
    fig.savefig(png, dpi=300, metadata=PNG_METADATA)
    if svg:
        plt.rcParams["svg.hashsalt"] = "smanh"  # stable element ids across runs
        fig.savefig(svg, metadata=SVG_METADATA)
    plt.close(fig)


def _short(stratify_by: str) -> str:
    return {"sma_type": "type", "smn2_copies": "SMN2"}.get(stratify_by, stratify_by)


PARAMETRIC_STYLES = {
    "weibull": ("#0072B2", "-"),
    "lognormal": ("#D55E00", "--"),
    "loglogistic": ("#009E73", "-."),
    "gengamma": ("#CC79A7", ":"),
}


def parametric_figure(
    km_curves: pd.DataFrame, parametric_curves: pd.DataFrame, parametric: pd.DataFrame, endpoint: str
) -> plt.Figure:
    """One panel per fitted stratum: the Kaplan–Meier step curve (black) and every fitted
    distribution extrapolated to the end of its grid; the legend marks the best AIC."""
    sns.set_theme(style="ticks", context="paper")
    panels = list(dict.fromkeys(zip(parametric_curves["stratify_by"], parametric_curves["stratum"])))
    if not panels:
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        ax.text(0.5, 0.5, "no parametric fit (too few events)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.3 * rows), squeeze=False,
                             sharey=True)
    for ax, (by, stratum) in zip(axes.flat, panels):
        km = km_curves[(km_curves["stratify_by"] == by) & (km_curves["stratum"] == stratum)]
        if len(km):
            steps = step_curve(km)
            ax.step(steps["time_years"], steps["survival"], where="post", color="#000000", lw=1.3,
                    label="Kaplan–Meier")
        fits = parametric[(parametric["stratify_by"] == by) & (parametric["stratum"] == stratum)]
        best = fits.loc[fits["aic"].idxmin(), "dist"] if fits["aic"].notna().any() else None
        for dist, (colour, style) in PARAMETRIC_STYLES.items():
            curve = parametric_curves[(parametric_curves["stratify_by"] == by)
                                      & (parametric_curves["stratum"] == stratum)
                                      & (parametric_curves["dist"] == dist)]
            if len(curve):
                label = f"{dist} (best AIC)" if dist == best else dist
                ax.plot(curve["time_years"], curve["survival"], color=colour, ls=style, lw=1.1,
                        label=label)
        ax.set_title("All patients" if by == "all" else f"{_short(by)} {stratum}", fontsize=9)
        ax.set_xlabel("Age (years)")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.legend(frameon=False, fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    axes[0][0].set_ylabel(f"Free of {endpoint.replace('_', ' ')}")
    fig.suptitle("Parametric fits (delayed entry) extrapolated beside Kaplan–Meier", fontsize=9)
    sns.despine(fig)
    fig.tight_layout()
    return fig
