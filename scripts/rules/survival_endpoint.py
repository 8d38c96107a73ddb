"""Rule survival_endpoint: every survival table of one endpoint and its figures
(smanh.survival.endpoint)."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.cohort.dataset import read_endpoint_rows
from smanh.cohort.intervals import read_endpoint_intervals
from smanh.figures.common import save_figures
from smanh.ingest.reference import load_reference
from smanh.jobs.files import write_tables
from smanh.jobs.run import run_rule
from smanh.survival.endpoint import SurvivalOptions, survival_endpoint


def main():
    endpoint = snakemake.wildcards.endpoint
    inputs = snakemake.input
    result = survival_endpoint(
        endpoint,
        read_endpoint_rows(inputs.dataset, endpoint),
        read_endpoint_rows(inputs.sensitivity, endpoint) if "sensitivity" in inputs.keys() else None,
        SurvivalOptions.from_config(snakemake.params.analysis),
        load_reference(inputs.published),
        snakemake.params.min_cell_count,
        snakemake.params.individual_level_figures,
        read_endpoint_intervals(inputs.intervals, endpoint) if "intervals" in inputs.keys() else None,
    )
    write_tables(result.tables, snakemake.output)
    save_figures(result.figures, snakemake.output)


run_rule(main, snakemake.log[0])
