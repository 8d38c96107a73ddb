"""save_figure writes each figure as a 300-dpi PNG and an SVG (the copy the report embeds),
both the same bytes on every run."""

import re

from PIL import Image

from smanh.figures.common import new_figure, save_figure


def _figure(width: float, height: float):
    fig = new_figure(figsize=(width, height))
    ax = fig.subplots()
    ax.step([0, 1, 2, 3], [1.0, 0.8, 0.5, 0.4], where="post", label="all")
    ax.fill_between([0, 1, 2, 3], [0.9, 0.7, 0.4, 0.3], [1.0, 0.9, 0.6, 0.5], step="post", alpha=0.2,
                    rasterized=True)
    ax.text(1.5, 0.9, "n = 42")
    ax.legend()
    fig.tight_layout()
    return fig


def test_png_at_300_dpi_and_svg_of_the_figure_size(tmp_path):
    save_figure(_figure(7, 4.5), str(tmp_path / "f.png"), str(tmp_path / "f.svg"))
    with Image.open(tmp_path / "f.png") as png:
        assert png.size == (2100, 1350)
        assert [round(d) for d in png.info["dpi"]] == [300, 300]
    svg = (tmp_path / "f.svg").read_text()
    assert svg.startswith("<?xml")
    assert re.search(r'<svg [^>]*width="504pt" height="324pt"', svg)  # 7 x 4.5 in


def test_files_are_the_same_bytes_on_every_run(tmp_path):
    """No dates, versions or random ids: reruns, and the report embedding the SVG, compare equal."""
    for run in ("a", "b"):
        save_figure(_figure(7, 4.5), str(tmp_path / f"{run}.png"), str(tmp_path / f"{run}.svg"))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    svg = (tmp_path / "a.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
