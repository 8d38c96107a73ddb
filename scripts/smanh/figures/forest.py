"""Forest plot of the Cox models' hazard ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from smanh.figures.common import OKABE_ITO, new_figure
from smanh.figures.theme import despine, set_theme


def forest_figure(cox: pd.DataFrame) -> Figure:
    """Hazard ratios with 95% CIs on a log axis, grouped by endpoint and model; terms whose
    proportional-hazards check failed are drawn hollow."""
    set_theme()
    rows = cox[np.isfinite(cox["hr"]) & np.isfinite(cox["hr_lo"]) & np.isfinite(cox["hr_hi"])]
    rows = rows.reset_index(drop=True)
    fig = new_figure(figsize=(6.5, 0.9 + 0.22 * max(len(rows), 1)))
    ax = fig.subplots()
    if rows.empty:
        ax.text(0.5, 0.5, "no Cox model could be fitted", ha="center", va="center")
        ax.set_axis_off()
        return fig
    y = np.arange(len(rows))[::-1]
    violated = rows["ph_violated"].astype(str).isin(["True", "1", "1.0"])
    colours = [OKABE_ITO[4 if i % 2 else 5] for i in pd.factorize(rows["endpoint"])[0]]
    ax.hlines(y, rows["hr_lo"], rows["hr_hi"], color=colours, lw=1.2)
    ax.scatter(rows["hr"], y, c=["white" if v else c for v, c in zip(violated, colours)],
               edgecolors=colours, s=22, zorder=3)
    ax.axvline(1.0, color="#666666", lw=0.8, ls="--")
    ax.set_xscale("log")
    labels = [f"{e.replace('_', ' ')} · {m} · {t}" for e, m, t in zip(rows["endpoint"], rows["model"], rows["term"])]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6)
    ax.set_xlabel("Hazard ratio (95% CI, log scale); hollow: proportional hazards rejected")
    despine(fig)
    fig.tight_layout()
    return fig
