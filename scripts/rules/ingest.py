"""Rule ingest: read and validate the registry export, write typed Parquet tables,
the validation exclusions, the provenance and the data-quality summary."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.ingest.canonical import ingest, store_export
from smanh.ingest.data_quality import data_quality
from smanh.jobs.files import write_csv
from smanh.jobs.run import run_rule


def main():
    registry = snakemake.params.registry
    omop = {**snakemake.params.omop, "needs": dict(snakemake.params.omop_needs)}
    export, location = ingest(registry, snakemake.params.redcap, snakemake.params.problems, omop)
    store_export(export, registry, location, snakemake.output)
    write_csv(data_quality(export), snakemake.output.data_quality)


run_rule(main, snakemake.log[0])
