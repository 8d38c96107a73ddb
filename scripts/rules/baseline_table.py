"""Rule baseline_table: Table 1, baseline characteristics by SMA type group."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.baseline import table1
from smanh.canonical import load_canonical
from smanh.rule_io import run_rule, write_csv


def main():
    write_csv(table1(load_canonical(snakemake.input)), snakemake.output[0])


run_rule(main, snakemake.log[0])
