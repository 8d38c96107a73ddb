"""Rule ipcw_intervals: the person-intervals of every endpoint's natural-history follow-up,
with the covariates of the treatment model (smanh.cohort.intervals), for the IPCW
sensitivity analysis of the survival jobs."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

import pandas as pd

from smanh.cohort.intervals import endpoint_intervals, write_intervals
from smanh.ingest.canonical import load_canonical
from smanh.jobs.run import run_rule


def main():
    ipcw = snakemake.params.ipcw
    export = load_canonical(snakemake.input)
    intervals = endpoint_intervals(  # one endpoint at a time
        pd.read_parquet(snakemake.input.natural_history),
        export.patients,
        export.assessments,
        snakemake.params.endpoints,
        ipcw["interval_months"] / 12.0,
        list(ipcw["motor_scales"]),
    )
    write_intervals(intervals, snakemake.output.intervals)


run_rule(main, snakemake.log[0])
