"""Rule progression_scale: natural-history models, 12-month change and floor/ceiling of one
scale (smanh.progression, smanh.change)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.progression import PROGRESSION_TABLES, progression_tables
from smanh.rule_io import run_rule, write_csv


def main():
    tables, assessments, pairs = progression_tables(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.treatments),
        pd.read_parquet(snakemake.input.assessments),
        snakemake.wildcards.scale,
        dict(snakemake.params.progression),
        confidence_level=snakemake.params.confidence_level,
        birth_eras=list(snakemake.params.birth_eras),
    )
    for name in PROGRESSION_TABLES:
        write_csv(tables[name], snakemake.output[name])
    assessments.to_parquet(snakemake.output.assessments, index=False)
    pairs.to_parquet(snakemake.output.change_pairs, index=False)


run_rule(main, snakemake.log[0])
