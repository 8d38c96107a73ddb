"""Rule report: the self-contained reviewer report (results/report/report.html)."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

import json
from pathlib import Path

from smanh.jobs.files import read_csv
from smanh.jobs.run import run_rule
from smanh.report.html import FIGURE_INPUTS, render_report


def main():
    with open(snakemake.input.summary, encoding="utf-8") as handle:
        summary = json.load(handle)
    with open(snakemake.input.manifest, encoding="utf-8") as handle:
        summary["released"] = json.load(handle)  # SHA-256 of every released table, for the provenance
    tables = {
        name: read_csv(path)
        for name, path in snakemake.input.items()
        if name not in FIGURE_INPUTS and name not in ("summary", "manifest")
    }
    figures = {name: snakemake.input[name] for name in FIGURE_INPUTS if name in snakemake.input.keys()}
    html = render_report(
        snakemake.params.template,
        title=snakemake.params.title,
        summary=summary,
        tables=tables,
        figures=figures,
        min_cell_count=snakemake.params.min_cell_count,
    )
    Path(snakemake.output[0]).write_text(html, encoding="utf-8")


run_rule(main, snakemake.log[0])
