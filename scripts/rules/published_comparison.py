"""Rule published_comparison: the registry's estimates beside published natural history."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.ingest.reference import load_reference
from smanh.jobs.files import read_csv, write_csv
from smanh.jobs.run import run_rule
from smanh.report.published import comparison_table


def main():
    optional = {name: read_csv(snakemake.input[name]) for name in ("lmm_slopes", "change_12m")
                if name in snakemake.input.keys()}
    table = comparison_table(
        load_reference(snakemake.input.reference), read_csv(snakemake.input.km_curves), **optional
    )
    write_csv(table, snakemake.output.published_comparison)


run_rule(main, snakemake.log[0])
