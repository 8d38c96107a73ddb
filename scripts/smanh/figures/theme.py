"""The figures' look: seaborn's ``ticks`` style in its ``paper`` context (``sns.set_theme(
style="ticks", context="paper")``) and ``sns.despine``, as plain matplotlib settings.

Frozen here so that the figure jobs need not import seaborn, which costs 0.7 s per job
(it loads scipy.stats); tests/figures/test_figure_theme.py checks that these settings still equal
what seaborn sets. Left out: seaborn's default colormap (``image.cmap = "rocket"``, which
exists only once seaborn is imported): no figure here uses a colormap."""

from __future__ import annotations

from cycler import cycler

# seaborn's "deep" palette (the default colour cycle; figures set their own colours)
_DEEP = [
    (0.2980392156862745, 0.4470588235294118, 0.6901960784313725),
    (0.8666666666666667, 0.5176470588235295, 0.3215686274509804),
    (0.3333333333333333, 0.6588235294117647, 0.40784313725490196),
    (0.7686274509803922, 0.3058823529411765, 0.3215686274509804),
    (0.5058823529411764, 0.4470588235294118, 0.7019607843137254),
    (0.5764705882352941, 0.47058823529411764, 0.3764705882352941),
    (0.8549019607843137, 0.5450980392156862, 0.7647058823529411),
    (0.5490196078431373, 0.5490196078431373, 0.5490196078431373),
    (0.8, 0.7254901960784313, 0.4549019607843137),
    (0.39215686274509803, 0.7098039215686275, 0.803921568627451),
]
# "paper" scales seaborn's notebook sizes by 0.8 (e.g. font 12 -> 9.6)
THEME = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".15",
    "axes.labelcolor": ".15",
    "axes.labelsize": 12 * 0.8,
    "axes.linewidth": 1.0,
    "axes.prop_cycle": cycler("color", _DEEP),
    "axes.titlesize": 12 * 0.8,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 12 * 0.8,
    "grid.color": ".8",
    "legend.fontsize": 11 * 0.8,
    "legend.title_fontsize": 12 * 0.8,
    "lines.linewidth": 1.5 * 0.8,
    "lines.markersize": 6 * 0.8,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "patch.linewidth": 1 * 0.8,
    "text.color": ".15",
    "xtick.color": ".15",
    "xtick.labelsize": 11 * 0.8,
    "xtick.major.size": 6 * 0.8,
    "xtick.major.width": 1.25 * 0.8,
    "xtick.minor.size": 4 * 0.8,
    "xtick.minor.width": 1 * 0.8,
    "ytick.color": ".15",
    "ytick.labelsize": 11 * 0.8,
    "ytick.major.size": 6 * 0.8,
    "ytick.major.width": 1.25 * 0.8,
    "ytick.minor.size": 4 * 0.8,
    "ytick.minor.width": 1 * 0.8,
}


def set_theme() -> None:
    """``sns.set_theme(style="ticks", context="paper")``."""
    import matplotlib

    matplotlib.rcParams.update(THEME)


def despine(fig) -> None:
    """``sns.despine(fig)``: no top and right spines."""
    for ax in fig.axes:
        ax.spines[["top", "right"]].set_visible(False)
