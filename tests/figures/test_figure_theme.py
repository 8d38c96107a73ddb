"""The figures' frozen theme (smanh.figures.theme) is seaborn's: same rc settings as
``sns.set_theme(style="ticks", context="paper")``, same spines as ``sns.despine``."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from smanh.figures.theme import despine, set_theme  # noqa: E402


def test_rc_settings_are_seaborns_ticks_paper_theme():
    try:
        matplotlib.rcdefaults()
        sns.set_theme(style="ticks", context="paper")
        expected = dict(matplotlib.rcParams)
        matplotlib.rcdefaults()
        set_theme()
        got = dict(matplotlib.rcParams)
    finally:
        matplotlib.rcdefaults()
    differ = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    assert differ == {"image.cmap": ("rocket", "viridis")}  # no colormap in any figure


def test_despine_is_seaborns():
    figures = []
    for remove in (sns.despine, despine):
        fig, axes = plt.subplots(1, 2)
        axes[0].plot([0, 1], [1, 0])
        remove(fig)
        figures.append([{s: ax.spines[s].get_visible() for s in ax.spines} for ax in fig.axes])
        plt.close(fig)
    assert figures[0] == figures[1]
