"""save_figure draws each figure once for its PNG and the report's screen copy: the PNG must
still be exactly what matplotlib's savefig writes, the screen copy a smaller image of it."""

import numpy as np
from PIL import Image

from smanh.figures import PNG_COMPRESSION, PNG_METADATA, SCREEN_PIXELS, new_figure, save_figure


def _figure(width: float, height: float):
    fig = new_figure(figsize=(width, height))
    ax = fig.subplots()
    ax.step([0, 1, 2, 3], [1.0, 0.8, 0.5, 0.4], where="post", label="all")
    ax.fill_between([0, 1, 2, 3], [0.9, 0.7, 0.4, 0.3], [1.0, 0.9, 0.6, 0.5], step="post", alpha=0.2)
    ax.text(1.5, 0.9, "n = 42")
    ax.legend()
    fig.tight_layout()
    return fig


def test_png_is_byte_identical_to_savefig_at_300_dpi(tmp_path):
    reference = _figure(7, 4.5)
    reference.savefig(tmp_path / "reference.png", dpi=300, metadata=PNG_METADATA,
                      pil_kwargs=PNG_COMPRESSION)
    save_figure(_figure(7, 4.5), str(tmp_path / "figure.png"))
    assert (tmp_path / "figure.png").read_bytes() == (tmp_path / "reference.png").read_bytes()


def test_screen_copy_is_the_figure_scaled_down_in_256_colours(tmp_path):
    fig = _figure(12, 6)  # 3600 x 1800 px at 300 dpi: scaled to 2000 x 1000
    save_figure(fig, str(tmp_path / "f.png"), str(tmp_path / "f.svg"), str(tmp_path / "screen" / "f.png"))
    with Image.open(tmp_path / "f.png") as full, Image.open(tmp_path / "screen" / "f.png") as screen:
        assert full.size == (3600, 1800)
        assert screen.size == (SCREEN_PIXELS, 1000)
        assert screen.mode == "P" and len(screen.getcolors()) <= 256
        # The same picture: the full image scaled down differs only by antialiasing and palette.
        small = np.asarray(full.convert("RGB").resize(screen.size), dtype=float)
        assert np.abs(small - np.asarray(screen.convert("RGB"), dtype=float)).mean() < 3
    assert (tmp_path / "f.svg").read_text().startswith("<?xml")


def test_small_figure_keeps_300_dpi_on_screen(tmp_path):
    save_figure(_figure(3, 2), str(tmp_path / "f.png"), screen=str(tmp_path / "s.png"))
    with Image.open(tmp_path / "f.png") as full, Image.open(tmp_path / "s.png") as screen:
        assert full.size == screen.size == (900, 600)


def test_screen_copy_keeps_light_greys_neutral(tmp_path):
    """The confidence bands are light tints: the palette must not shift their hue."""
    from smanh.figures import OKABE_ITO

    fig = new_figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.fill_between([0, 4], [0.05, 0.05], [0.95, 0.95], color="#000000", alpha=0.15, lw=0)
    rng = np.random.default_rng(3)
    for i, colour in enumerate(OKABE_ITO):  # overlapping tinted bands and curves, as a KM panel
        x = np.sort(rng.uniform(3, 20, 40))
        y = np.sort(rng.uniform(0, 1, 40))[::-1]
        ax.fill_between(x, y * 0.8, np.minimum(y * 1.2, 1), step="post", color=colour, alpha=0.15, lw=0)
        ax.step(x, y, where="post", color=colour, lw=1.4, label=f"stratum {i}")
    ax.legend()
    save_figure(fig, str(tmp_path / "f.png"), screen=str(tmp_path / "s.png"))
    with Image.open(tmp_path / "f.png") as full, Image.open(tmp_path / "s.png") as screen:
        reference = np.asarray(full.convert("RGB").resize(screen.size, Image.Resampling.BOX), dtype=int)
        got = np.asarray(screen.convert("RGB"), dtype=int)
    assert np.abs(got - reference).max(axis=2).mean() < 1.0
    light_grey = ((reference[..., 0] == reference[..., 1]) & (reference[..., 1] == reference[..., 2])
                  & (reference[..., 0] > 200) & (reference[..., 0] < 250))  # the grey band
    spread = got[light_grey].max(axis=1) - got[light_grey].min(axis=1)  # 0 for a neutral grey
    assert light_grey.sum() > 10_000 and np.percentile(spread, 99) <= 2
