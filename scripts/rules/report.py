"""Rule report: the self-contained reviewer report (results/report/report.html)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import json
from pathlib import Path

from smanh.progression_report import PROGRESSION_REPORT_TABLES, progression_context
from smanh.report import SURVIVAL_REPORT_TABLES, render_report
from smanh.rule_io import read_csv, run_rule


def main():
    with open(snakemake.input.summary, encoding="utf-8") as handle:
        summary = json.load(handle)
    html = render_report(
        snakemake.params.template,
        title=snakemake.params.title,
        summary=summary,
        cohort_flow=read_csv(snakemake.input.cohort_flow),
        km_summary=read_csv(snakemake.input.km_summary),
        figures=list(snakemake.input.figures),
        min_cell_count=snakemake.params.min_cell_count,
        data_quality=read_csv(snakemake.input.data_quality),
        survival={
            name: read_csv(snakemake.input[name])
            for name in SURVIVAL_REPORT_TABLES
        },
        parametric_figures=list(snakemake.input.parametric_figures),
        progression=progression_context(
            {
                name: read_csv(snakemake.input[name])
                for name in PROGRESSION_REPORT_TABLES
                if name in snakemake.input.keys()
            },
            list(snakemake.input.get("spaghetti_figures", [])),
            list(snakemake.input.get("change_figures", [])),
            snakemake.params.min_cell_count,
        ),
    )
    Path(snakemake.output[0]).write_text(html, encoding="utf-8")


run_rule(main, snakemake.log[0])
