"""Rule cox_forest: forest plot of the Cox models' hazard ratios (PNG 300 dpi + SVG)."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.figures import forest_figure, save_figure
from smanh.rule_io import read_csv, run_rule


def main():
    save_figure(forest_figure(read_csv(snakemake.input.cox)), snakemake.output.png, snakemake.output.svg)


run_rule(main, snakemake.log[0])
