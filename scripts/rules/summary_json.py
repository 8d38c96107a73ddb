"""Rule summary_json: key results and provenance, machine-readable."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

import json

from smanh.provenance import git_commit, package_versions, run_date
from smanh.rule_io import read_csv, run_rule, write_json


def main():
    with open(snakemake.input.sources, encoding="utf-8") as handle:
        sources = json.load(handle)
    write_json(
        {
            "workflow": {"git_commit": git_commit(), "run_date": run_date()},
            "software": package_versions(),
            "registry": sources,
            "config": dict(snakemake.params.config),
            "cohort_flow": read_csv(snakemake.input.cohort_flow).to_dict(orient="records"),
            "kaplan_meier": read_csv(snakemake.input.km_summary).to_dict(orient="records"),
        },
        snakemake.output[0],
    )


run_rule(main, snakemake.log[0])
