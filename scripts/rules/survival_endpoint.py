"""Rule survival_endpoint: every survival table of one endpoint (smanh.endpoint_analysis)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.endpoint_analysis import SurvivalOptions, analyse_endpoint, endpoint_rows
from smanh.rule_io import run_rule, write_csv


def main():
    endpoint = snakemake.wildcards.endpoint
    dataset = endpoint_rows(pd.read_parquet(snakemake.input.dataset), endpoint)
    sensitivity = None
    if "sensitivity" in snakemake.input.keys():
        sensitivity = endpoint_rows(pd.read_parquet(snakemake.input.sensitivity), endpoint)
    options = SurvivalOptions.from_config(dict(snakemake.params.analysis))
    for name, table in analyse_endpoint(dataset, sensitivity, options).items():
        write_csv(table, snakemake.output[name])


run_rule(main, snakemake.log[0])
