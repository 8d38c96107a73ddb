"""Rule analysis_dataset: entry, exit and event per patient and endpoint (and, for the
sensitivity analysis, with the other treatment-censoring mode); cohort flow; Table 1."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.cohort.build import build_cohort
from smanh.cohort.dataset import write_analysis_dataset
from smanh.ingest.canonical import load_canonical, validation_exclusions
from smanh.jobs.files import write_csv
from smanh.jobs.run import run_rule


def main():
    n_in_export, excluded = validation_exclusions(snakemake.input.exclusions, snakemake.input.sources)
    cohort = build_cohort(
        load_canonical(snakemake.input),
        snakemake.params.endpoints,
        snakemake.params.censor_at_treatment,
        "sensitivity" in snakemake.output.keys(),
        n_in_export,
        excluded,
        snakemake.params.vital_status_date,
    )
    write_analysis_dataset(cohort.dataset, snakemake.output.dataset)
    if cohort.sensitivity is not None:
        write_analysis_dataset(cohort.sensitivity, snakemake.output.sensitivity)
    for name, table in cohort.tables.items():
        write_csv(table, snakemake.output[name])


run_rule(main, snakemake.log[0])
