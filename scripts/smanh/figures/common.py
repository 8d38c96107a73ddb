"""What every figure shares: the Agg canvas outside pyplot, deterministic PNG and SVG
files, one colour per stratum throughout, and the panel shown when there is nothing to draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, no screen

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from smanh.cohort.strata import stratum_order  # noqa: E402

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
# zlib level 3, not 6: a quarter less time for a quarter larger 300-dpi files.
PNG_COMPRESSION = {"compress_level": 3}
SVG_METADATA = {"Date": None, "Creator": None}


def stratum_colour(stratify_by: str, stratum: str) -> str:
    return STRATUM_COLOURS.get((stratify_by, stratum), "#999999")


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure drawn by Agg, outside pyplot: no global figure registry to close, and
    pyplot's import is spared (every figure job pays for its imports)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def empty_figure(message: str, title: str | None = None, figsize=(4.6, 3.0)) -> Figure:
    """A figure with nothing to draw: one panel that says why (never a blank image)."""
    fig = new_figure(figsize=figsize)
    ax = fig.subplots()
    empty_panel(ax, message)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def empty_panel(ax, message: str) -> None:
    """A panel of a figure with nothing to draw, saying why."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()


def save_figure(fig: Figure, png: str, svg: str) -> None:
    """PNG at 300 dpi and SVG (the report embeds the SVG: vector, so it stays sharp when a
    reviewer zooms in or prints, and no third copy has to be drawn and quantized)."""
    fig.savefig(png, dpi=300, metadata=PNG_METADATA, pil_kwargs=PNG_COMPRESSION)
    matplotlib.rcParams["svg.hashsalt"] = "smanh"  # stable element ids across runs
    fig.savefig(svg, metadata=SVG_METADATA)


def short_name(stratify_by: str) -> str:
    return {"sma_type": "type", "smn2_copies": "SMN2"}.get(stratify_by, stratify_by)


def stratum_label(stratify_by: str, stratum: str) -> str:
    """``type 2``, ``SMN2 3``; ``all`` as itself."""
    return stratum if stratify_by == "all" else f"{short_name(stratify_by)} {stratum}"


def save_figures(figures: dict[str, Figure], outputs) -> None:
    """Each figure to the outputs ``<name>_png`` and ``<name>_svg`` (a rule's
    ``snakemake.output``)."""
    for name, fig in figures.items():
        save_figure(fig, outputs[f"{name}_png"], outputs[f"{name}_svg"])
