"""Rule analysis_dataset: entry, exit and event per patient and endpoint; cohort flow;
Table 1 (baseline characteristics); and, for the sensitivity analysis, the dataset with the
other treatment-censoring mode."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from smanh.baseline import table1
from smanh.canonical import load_canonical
from smanh.endpoints import analysis_dataset, cohort_flow
from smanh.rule_io import read_csv, run_rule, write_csv, write_parquet


def main():
    export = load_canonical(snakemake.input)
    dataset = analysis_dataset(
        export, snakemake.params.endpoints, snakemake.params.censor_at_treatment
    )
    # a row group per endpoint: each survival job reads only its own
    write_parquet(dataset, snakemake.output.dataset, row_groups_by="endpoint")
    if "sensitivity" in snakemake.output.keys():
        sensitivity = analysis_dataset(
            export, snakemake.params.endpoints, not snakemake.params.censor_at_treatment
        )
        write_parquet(sensitivity, snakemake.output.sensitivity, row_groups_by="endpoint")
    exclusions = read_csv(snakemake.input.exclusions)  # first row: patients in export
    n_in_export = int(exclusions["n"].iloc[0])
    by_reason = dict(zip(exclusions["reason"].iloc[1:], exclusions["n"].iloc[1:]))
    write_csv(cohort_flow(n_in_export, dataset, by_reason), snakemake.output.cohort_flow)
    write_csv(table1(export), snakemake.output.table1)


run_rule(main, snakemake.log[0])
