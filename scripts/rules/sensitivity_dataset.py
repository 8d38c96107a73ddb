"""Rule sensitivity_dataset: the analysis dataset with the other treatment-censoring mode."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.canonical import load_canonical
from smanh.endpoints import analysis_dataset
from smanh.rule_io import run_rule


def main():
    export = load_canonical(snakemake.input)
    dataset = analysis_dataset(
        export, snakemake.params.endpoints, snakemake.params.censor_at_treatment
    )
    dataset.to_parquet(snakemake.output.dataset, index=False)


run_rule(main, snakemake.log[0])
