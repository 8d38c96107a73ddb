"""Rule report_pdf: the reviewer report printed to PDF by headless Chromium."""

import gc

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.jobs.run import run_rule
from smanh.report.pdf import html_to_pdf


def main():
    html_to_pdf(snakemake.input[0], snakemake.output[0])


run_rule(main, snakemake.log[0])
