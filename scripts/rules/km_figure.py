"""Rule km_figure: Kaplan–Meier figure of one endpoint (PNG 300 dpi + SVG)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.figures import km_figure, save_figure
from smanh.rule_io import read_csv, run_rule


def main():
    curves = read_csv(snakemake.input.curves)
    figure = km_figure(curves, snakemake.wildcards.endpoint)
    save_figure(figure, snakemake.output.png, snakemake.output.svg)


run_rule(main, snakemake.log[0])
