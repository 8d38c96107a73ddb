"""Rule share_tables: every released table under the report's disclosure rules, as CSV and
one workbook, with a manifest of SHA-256 (results/share/)."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from pathlib import Path

from smanh.jobs.files import read_csv
from smanh.jobs.run import run_rule
from smanh.disclosure.release import release
from smanh.report.share import write_share


def main():
    tables = {name: read_csv(path) for name, path in snakemake.input.items()}
    released = release(tables, snakemake.params.min_cell_count)
    write_share(released, Path(snakemake.output.manifest).parent, snakemake.params.min_cell_count)


run_rule(main, snakemake.log[0])
