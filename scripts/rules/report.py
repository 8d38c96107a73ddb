"""Rule report: the self-contained reviewer report (results/report/report.html)."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import json
from pathlib import Path

from smanh.progression_report import PROGRESSION_REPORT_TABLES, progression_context
from smanh.report import render_report
from smanh.rule_io import read_csv, run_rule

FIGURE_INPUTS = ("figures", "parametric_figures", "cox_forest", "spaghetti_figures", "change_figures")


def main():
    with open(snakemake.input.summary, encoding="utf-8") as handle:
        summary = json.load(handle)
    tables = {
        name: read_csv(path)
        for name, path in snakemake.input.items()
        if name not in FIGURE_INPUTS and name != "summary"
    }
    progression = {name: tables[name] for name in PROGRESSION_REPORT_TABLES if name in tables}
    html = render_report(
        snakemake.params.template,
        title=snakemake.params.title,
        summary=summary,
        tables=tables,
        figures={
            "km": list(snakemake.input.figures),
            "parametric": list(snakemake.input.parametric_figures),
            "cox_forest": snakemake.input.cox_forest,
        },
        min_cell_count=snakemake.params.min_cell_count,
        progression=progression_context(
            progression,
            list(snakemake.input.get("spaghetti_figures", [])),
            list(snakemake.input.get("change_figures", [])),
            snakemake.params.min_cell_count,
        ),
    )
    Path(snakemake.output[0]).write_text(html, encoding="utf-8")


run_rule(main, snakemake.log[0])
