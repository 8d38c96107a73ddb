"""Rule progression_scale: natural-history models, 12-month change and floor/ceiling of one
scale (smanh.progression, smanh.change), and its figures: spaghetti plot with the fitted
means and the 12-month change histogram (PNG 300 dpi + SVG)."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.figures import save_figure
from smanh.progression import PROGRESSION_TABLES, progression_tables
from smanh.progression_figures import change_histogram, spaghetti_figure
from smanh.rule_io import read_csv, run_rule, write_csv


def main():
    scale = snakemake.wildcards.scale
    progression = dict(snakemake.params.progression)
    birth_eras = list(snakemake.params.birth_eras)
    tables, assessments, pairs = progression_tables(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.treatments),
        # only this scale's rows (one job per scale: the others are other jobs' work)
        pd.read_parquet(snakemake.input.assessments, filters=[("scale", "==", scale)]),
        scale,
        progression,
        confidence_level=snakemake.params.confidence_level,
        birth_eras=birth_eras,
    )
    for name in PROGRESSION_TABLES:
        write_csv(tables[name], snakemake.output[name])
    assessments.to_parquet(snakemake.output.assessments, index=False)
    pairs.to_parquet(snakemake.output.change_pairs, index=False)

    # Figures from the tables as written, so they show exactly what the tables hold.
    stratify_by = list(progression["stratify_by"])
    figure = spaghetti_figure(
        assessments,
        read_csv(snakemake.output.lmm_trajectories),
        scale,
        stratify_by=stratify_by,
        max_patients=progression["spaghetti_patients"],
        seed=progression["seed"],
        birth_eras=birth_eras,
    )
    save_figure(figure, snakemake.output.spaghetti, snakemake.output.spaghetti_svg)
    change = read_csv(snakemake.output.change_12m)
    threshold = (
        float(change["threshold"].iloc[0]) if len(change) else progression["change"]["threshold"]
    )
    figure = change_histogram(
        pairs, change, scale, stratify_by=stratify_by, threshold=threshold, birth_eras=birth_eras
    )
    save_figure(figure, snakemake.output.change, snakemake.output.change_svg)


run_rule(main, snakemake.log[0])
