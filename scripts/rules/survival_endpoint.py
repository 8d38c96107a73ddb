"""Rule survival_endpoint: every survival table of one endpoint (smanh.endpoint_analysis)
and its figures: Kaplan–Meier with numbers at risk and published reference points, and
the parametric extrapolation (PNG 300 dpi + SVG)."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import pandas as pd

from smanh.endpoint_analysis import (
    ANALYSED_COLUMNS,
    SurvivalOptions,
    analyse_endpoint,
    endpoint_rows,
)
from smanh.figures import km_figure, parametric_figure, save_figure
from smanh.published import load_reference, survival_points
from smanh.rule_io import read_csv, run_rule, write_csv


def main():
    endpoint = snakemake.wildcards.endpoint
    def rows(path):  # only this endpoint's rows (the others are other jobs') and columns
        table = pd.read_parquet(path, filters=[("endpoint", "==", endpoint)], columns=ANALYSED_COLUMNS)
        return endpoint_rows(table, endpoint)

    dataset = rows(snakemake.input.dataset)
    sensitivity = rows(snakemake.input.sensitivity) if "sensitivity" in snakemake.input.keys() else None
    analysis = dict(snakemake.params.analysis)
    for name, table in analyse_endpoint(dataset, sensitivity, SurvivalOptions.from_config(analysis)).items():
        write_csv(table, snakemake.output[name])
    # Figures from the tables as written, so they show exactly what the tables hold (only
    # those they draw: the sensitivity curves and cumulative incidences are large).
    drawn = ("km_curves", "km_at_risk", "parametric", "parametric_curves")
    tables = {name: read_csv(snakemake.output[name]) for name in drawn}
    figure = km_figure(
        tables["km_curves"],
        endpoint,
        at_risk=tables["km_at_risk"],
        published=survival_points(load_reference(snakemake.input.published), endpoint),
        min_cell_count=snakemake.params.min_cell_count,
        conf_level=analysis["confidence_level"],
    )
    save_figure(figure, snakemake.output.km_png, snakemake.output.km_svg)
    figure = parametric_figure(
        tables["km_curves"], tables["parametric_curves"], tables["parametric"], endpoint
    )
    save_figure(figure, snakemake.output.parametric_png, snakemake.output.parametric_svg)


run_rule(main, snakemake.log[0])
