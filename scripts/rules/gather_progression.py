"""Rule gather_progression: concatenate the per-scale progression tables into
results/tables/ (counts stay whole numbers where some are empty)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.rule_io import read_csv, run_rule, write_csv

COUNT_PREFIXES = ("n_",)


def main():
    for name, paths in snakemake.input.items():
        table = pd.concat([read_csv(p) for p in paths], ignore_index=True)
        for column in table.columns:
            if column.startswith(COUNT_PREFIXES) and pd.api.types.is_numeric_dtype(table[column]):
                table[column] = table[column].astype("Int64")
        write_csv(table, snakemake.output[name])


run_rule(main, snakemake.log[0])
