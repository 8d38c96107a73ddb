"""Rule survival_figures: Kaplan–Meier (with numbers at risk and published reference
points) and parametric extrapolation figures of one endpoint (PNG 300 dpi + SVG)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.figures import km_figure, parametric_figure, save_figure
from smanh.published import load_reference, survival_points
from smanh.rule_io import read_csv, run_rule


def main():
    endpoint = snakemake.wildcards.endpoint
    km_curves = read_csv(snakemake.input.km_curves)
    figure = km_figure(
        km_curves,
        endpoint,
        at_risk=read_csv(snakemake.input.at_risk),
        published=survival_points(load_reference(snakemake.input.published), endpoint),
        min_cell_count=snakemake.params.min_cell_count,
        conf_level=snakemake.params.confidence_level,
    )
    save_figure(figure, snakemake.output.km_png, snakemake.output.km_svg)
    figure = parametric_figure(
        km_curves,
        read_csv(snakemake.input.parametric_curves),
        read_csv(snakemake.input.parametric),
        endpoint,
    )
    save_figure(figure, snakemake.output.parametric_png, snakemake.output.parametric_svg)


run_rule(main, snakemake.log[0])
