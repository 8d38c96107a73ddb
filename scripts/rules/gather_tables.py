"""Rule gather_*: concatenate per-endpoint (per-scale) tables into the contract's tables."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.jobs.files import concat_csv
from smanh.jobs.run import run_rule


def main():
    for name, paths in snakemake.input.items():
        concat_csv(paths, snakemake.output[name])


run_rule(main, snakemake.log[0])
