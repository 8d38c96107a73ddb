"""Rule kaplan_meier: Kaplan–Meier with delayed entry for one endpoint, every stratum."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.km_tables import km_tables
from smanh.rule_io import run_rule, write_csv


def main():
    dataset = pd.read_parquet(snakemake.input.dataset)
    dataset = dataset[dataset["endpoint"] == snakemake.wildcards.endpoint]
    summary, curves = km_tables(
        dataset,
        snakemake.params.stratify_by,
        snakemake.params.landmark_ages,
        snakemake.params.confidence_level,
    )
    write_csv(summary, snakemake.output.summary)
    write_csv(curves, snakemake.output.curves)


run_rule(main, snakemake.log[0])
