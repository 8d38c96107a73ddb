"""Rule parametric_figure: parametric extrapolation beside Kaplan–Meier (PNG + SVG)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.figures import parametric_figure, save_figure
from smanh.rule_io import read_csv, run_rule


def main():
    figure = parametric_figure(
        read_csv(snakemake.input.km_curves),
        read_csv(snakemake.input.parametric_curves),
        read_csv(snakemake.input.parametric),
        snakemake.wildcards.endpoint,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.svg)


run_rule(main, snakemake.log[0])
