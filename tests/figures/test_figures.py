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


def _three_per_stratum() -> dict:
    """Nine patients, three per SMA type, every one of whom dies: no stratum reaches five."""
    import pandas as pd

    from conftest import TABLE_COLUMNS

    patients = []
    for i in range(9):
        birth = f"20{10 + i:02d}-03-01"
        patients.append({"patient_id": f"P{i}", "birth_date": birth, "sma_type": "123"[i // 3],
                         "smn2_copies": "2", "sex": "F", "enrolment_date": f"20{10 + i:02d}-06-01",
                         "last_contact_date": f"20{11 + i:02d}-0{1 + i % 3}-15",
                         "death_date": f"20{11 + i:02d}-0{1 + i % 3}-15"})
    return {"patients": pd.DataFrame(patients).reindex(columns=TABLE_COLUMNS["patients"]).fillna(""),
            **{t: pd.DataFrame(columns=TABLE_COLUMNS[t]) for t in ("events", "treatments", "assessments")}}


def test_survival_figures_draw_no_stratum_of_fewer_than_the_threshold(tmp_path):
    """Issue 19: no curve in the default figures has fewer than report.min_cell_count patients
    (and events) behind it — the three SMA-type strata of three patients are not drawn, the
    nine patients together are; report.individual_level_figures draws every stratum."""
    import re

    from shapes import run_in_process, write_registry

    registry = write_registry(_three_per_stratum(), tmp_path / "export")
    config = {"analysis": {"endpoints": ["death"], "min_at_risk": 2, "min_stratum_size": 2},
              "progression": {"scales": []}}

    def labels(folder):  # the texts matplotlib writes beside each drawn string
        return set(re.findall(r"<!-- (.*?) -->", (folder / "km_death.svg").read_text()))

    result = run_in_process(registry, tmp_path / "default", config)
    curves = result["released"]["km_curves"]
    assert "sma_type" not in set(curves["stratify_by"]) and "all" in set(curves["stratify_by"])
    exact = run_in_process(registry, tmp_path / "exact", {**config, "report": {"individual_level_figures": True}})
    drawn, exact_drawn = labels(tmp_path / "default"), labels(tmp_path / "exact")
    def types(texts):  # curve labels: "type 1 (0.25–0.961 y)"
        return {text.split(" (")[0] for text in texts if text.startswith("type ")}

    assert types(exact_drawn) == {"type 1", "type 2", "type 3"}
    assert types(drawn) == set()
    assert "individual-level data" in exact["html"]
