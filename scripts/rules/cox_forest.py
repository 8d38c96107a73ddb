"""Rule cox_forest: forest plot of the Cox models' hazard ratios from the released table (PNG 300 dpi + SVG)."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.figures.common import save_figures
from smanh.figures.forest import forest_figure
from smanh.jobs.files import read_csv
from smanh.jobs.run import run_rule


def main():
    save_figures({"forest": forest_figure(read_csv(snakemake.input.cox))}, snakemake.output)


run_rule(main, snakemake.log[0])
