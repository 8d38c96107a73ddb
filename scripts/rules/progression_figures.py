"""Rule progression_figures: spaghetti plot and 12-month change histogram of one scale
(PNG 300 dpi + SVG)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.figures import save_figure
from smanh.progression_figures import change_histogram, spaghetti_figure
from smanh.rule_io import read_csv, run_rule


def main():
    scale = snakemake.wildcards.scale
    progression = dict(snakemake.params.progression)
    birth_eras = list(snakemake.params.birth_eras)
    figure = spaghetti_figure(
        pd.read_parquet(snakemake.input.assessments),
        read_csv(snakemake.input.trajectories),
        scale,
        stratify_by=list(progression["stratify_by"]),
        max_patients=progression["spaghetti_patients"],
        seed=progression["seed"],
        birth_eras=birth_eras,
    )
    save_figure(figure, snakemake.output.spaghetti, snakemake.output.spaghetti_svg)
    change = read_csv(snakemake.input.change)
    threshold = (
        float(change["threshold"].iloc[0]) if len(change) else progression["change"]["threshold"]
    )
    figure = change_histogram(
        pd.read_parquet(snakemake.input.change_pairs),
        change,
        scale,
        stratify_by=list(progression["stratify_by"]),
        threshold=threshold,
        birth_eras=birth_eras,
    )
    save_figure(figure, snakemake.output.change, snakemake.output.change_svg)


run_rule(main, snakemake.log[0])
