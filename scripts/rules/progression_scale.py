"""Rule progression_scale: natural-history models, 12-month change and floor/ceiling of one
scale, and its figures (smanh.progression.scale)."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

import pandas as pd

from smanh.figures.common import save_figures
from smanh.jobs.files import write_tables
from smanh.jobs.run import run_rule
from smanh.progression.scale import progression_scale


def main():
    scale = snakemake.wildcards.scale
    result = progression_scale(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.treatments),
        # only this scale's rows (one job per scale: the others are other jobs' work)
        pd.read_parquet(snakemake.input.assessments, filters=[("scale", "==", scale)]),
        scale,
        dict(snakemake.params.progression),
        confidence_level=snakemake.params.confidence_level,
        birth_eras=list(snakemake.params.birth_eras),
        min_cell_count=snakemake.params.min_cell_count,
        individual_level_figures=snakemake.params.individual_level_figures,
    )
    write_tables(result.tables, snakemake.output)
    result.assessments.to_parquet(snakemake.output.assessments, index=False)
    result.pairs.to_parquet(snakemake.output.change_pairs, index=False)
    save_figures(result.figures, snakemake.output)


run_rule(main, snakemake.log[0])
