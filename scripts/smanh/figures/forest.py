"""Forest plot of the Cox models' hazard ratios, drawn from the released ``cox`` table
(``results/share/cox.csv``: its n and events as released, ``<T`` and ``≈`` included)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from smanh.figures.common import OKABE_ITO, new_figure
from smanh.figures.theme import despine, set_theme

TERM_LABELS = {"sma_type": "type", "smn2_copies": "SMN2 copies", "sex": "sex", "birth_era": "birth era"}
# Log-axis ticks a reader can name: 1-2-5 per decade.
NICE_TICKS = [m * 10.0 ** e for e in range(-4, 5) for m in (1, 2, 5)]


def level_label(value) -> str:
    """A stratum or reference level by name: ``1.0`` read from a CSV as ``1``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def term_label(term, reference=None) -> str:
    """A Cox model term as a reader names it: ``smn2_copies1`` with reference
    ``smn2_copies=2`` → ``SMN2 copies 1 vs 2``; ``sma_type2`` → ``type 2 vs type 1``."""
    term = "" if term is None or (isinstance(term, float) and math.isnan(term)) else str(term)
    ref = "" if reference is None or (isinstance(reference, float) and math.isnan(reference)) else str(reference)
    for variable, label in TERM_LABELS.items():
        if term.startswith(variable):
            level = term[len(variable):]
            ref_level = ref.split("=", 1)[1] if "=" in ref else ref
            shown = f"{label} {level_label(level)}".strip()
            against = f"type {level_label(ref_level)}" if variable == "sma_type" else level_label(ref_level)
            return f"{shown} vs {against}" if ref_level else shown
    return term.replace("_", " ")


def subset_label(subset) -> str:
    """``sma_type in ['1']`` → ``type 1 only``; empty → ``all types``."""
    text = "" if subset is None or (isinstance(subset, float) and math.isnan(subset)) else str(subset)
    if not text:
        return "all types"
    values = [v.strip(" '\"") for v in text.split(" in ", 1)[-1].strip("[]").split(",")]
    variable = text.split(" in ", 1)[0].strip()
    return f"{TERM_LABELS.get(variable, variable)} {', '.join(values)} only"


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks covering ``low`` to ``high`` (at least three, 1 among them)."""
    low, high = min(low, 1.0), max(high, 1.0)
    ticks = [t for t in NICE_TICKS if low / 1.0001 <= t <= high * 1.0001]
    if len(ticks) > 9:  # wide ranges: powers of ten and 1
        ticks = [t for t in ticks if math.isclose(math.log10(t), round(math.log10(t)))]
    below = [t for t in NICE_TICKS if t < low]
    above = [t for t in NICE_TICKS if t > high]
    while len(ticks) < 3 and (below or above):
        if below:
            ticks.insert(0, below.pop())
        if len(ticks) < 3 and above:
            ticks.append(above.pop(0))
    return ticks


def _tick_text(value: float) -> str:
    return f"{value:g}"


def _count(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


def forest_figure(cox: pd.DataFrame) -> Figure:
    """Hazard ratios with 95% CIs on a log axis, one row per term labelled by endpoint, the
    model's patients (all types or a subset) and the comparison by name, with its n / events
    as released; terms whose proportional-hazards check failed are drawn hollow."""
    set_theme()
    hr = {c: pd.to_numeric(cox[c], errors="coerce") for c in ("hr", "hr_lo", "hr_hi")}
    rows = cox[np.isfinite(hr["hr"]) & np.isfinite(hr["hr_lo"]) & np.isfinite(hr["hr_hi"])]
    rows = rows.reset_index(drop=True)
    fig = new_figure(figsize=(7.0, 1.0 + 0.24 * max(len(rows), 1)))
    ax = fig.subplots()
    if rows.empty:
        ax.text(0.5, 0.5, "no Cox model could be fitted", ha="center", va="center")
        ax.set_axis_off()
        return fig
    est, lo, hi = (pd.to_numeric(rows[c]).to_numpy(float) for c in ("hr", "hr_lo", "hr_hi"))
    y = np.arange(len(rows))[::-1]
    violated = rows["ph_violated"].astype(str).isin(["True", "1", "1.0"])
    colours = [OKABE_ITO[4 if i % 2 else 5] for i in pd.factorize(rows["endpoint"])[0]]
    ax.hlines(y, lo, hi, color=colours, lw=1.2)
    ax.scatter(est, y, c=["white" if v else c for v, c in zip(violated, colours)],
               edgecolors=colours, s=22, zorder=3)
    ax.axvline(1.0, color="#666666", lw=0.8, ls="--")
    ax.set_xscale("log")
    ticks = log_ticks(float(np.min(lo)), float(np.max(hi)))
    ax.set_xlim(min(ticks[0], float(np.min(lo))) / 1.15, max(ticks[-1], float(np.max(hi))) * 1.15)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(_fixed_formatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    labels = [f"{e.replace('_', ' ')} · {subset_label(s)} · {term_label(t, r)}"
              for e, s, t, r in zip(rows["endpoint"], rows.get("subset", [None] * len(rows)),
                                    rows["term"], rows["reference"])]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    counts = [f"{_count(n)} / {_count(e)}" for n, e in zip(rows["n"], rows["events"])]
    for yy, text in zip(y, counts):
        ax.annotate(text, xy=(1.01, yy), xycoords=("axes fraction", "data"), fontsize=6, va="center")
    ax.annotate("n / events", xy=(1.01, len(rows) - 0.4), xycoords=("axes fraction", "data"), fontsize=6,
                va="bottom", fontweight="bold")
    ax.set_xlabel("Hazard ratio (95% CI, log scale); hollow: proportional hazards rejected", fontsize=7)
    despine(fig)
    fig.tight_layout()
    return fig


def _fixed_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: _tick_text(value))
