"""Rule gather_*: concatenate per-endpoint tables into the contract's tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.rule_io import read_csv, run_rule, write_csv


def main():
    for name, paths in snakemake.input.items():
        frames = [read_csv(p) for p in paths]
        write_csv(pd.concat(frames, ignore_index=True), snakemake.output[name])


run_rule(main, snakemake.log[0])
