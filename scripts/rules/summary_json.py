"""Rule summary_json: key results and provenance, machine-readable."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

import json

import pandas as pd

from smanh.jobs.files import read_csv, write_json
from smanh.jobs.run import run_rule
from smanh.report.provenance import run_summary


def main():
    with open(snakemake.input.sources, encoding="utf-8") as handle:
        sources = json.load(handle)
    summary = run_summary(
        sources,
        dict(snakemake.params.config),
        read_csv(snakemake.input.cohort_flow),
        read_csv(snakemake.input.km_summary),
        pd.read_parquet(snakemake.input.patients, columns=["enrolment_date", "site"]),
    )
    write_json(summary, snakemake.output[0])


run_rule(main, snakemake.log[0])
