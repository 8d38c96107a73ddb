"""Rule analysis_dataset: entry, exit and event per patient and endpoint; cohort flow."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.canonical import load_canonical
from smanh.endpoints import analysis_dataset, cohort_flow
from smanh.rule_io import read_csv, run_rule, write_csv


def main():
    export = load_canonical(snakemake.input)
    dataset = analysis_dataset(
        export, snakemake.params.endpoints, snakemake.params.censor_at_treatment
    )
    dataset.to_parquet(snakemake.output.dataset, index=False)
    exclusions = read_csv(snakemake.input.exclusions)  # first row: patients in export
    n_in_export = int(exclusions["n"].iloc[0])
    by_reason = dict(zip(exclusions["reason"].iloc[1:], exclusions["n"].iloc[1:]))
    write_csv(cohort_flow(n_in_export, dataset, by_reason), snakemake.output.cohort_flow)


run_rule(main, snakemake.log[0])
