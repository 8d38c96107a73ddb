"""Rule external_control: the external natural-history control of a single-arm trial
(smanh.external_control.job): tables, figures and the trial export's provenance."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)

from smanh.config.external_control import external_control_options
from smanh.config.tables import REGISTRY_TABLES
from smanh.external_control.job import external_control, read_trial_arm
from smanh.figures.common import save_figures
from smanh.ingest.canonical import load_canonical
from smanh.jobs.files import write_csv, write_tables
from smanh.jobs.run import run_rule


def main():
    params = snakemake.params
    options = external_control_options({"external_control": params.external_control, "analysis": params.analysis})
    registry = load_canonical({t: snakemake.input[t] for t in REGISTRY_TABLES})
    trial = read_trial_arm(options.trial_path, options.trial_data_cutoff, options.trial_date_format)
    result = external_control(registry, trial, options, params.min_cell_count)
    for message in result.messages:
        print(f"WARNING: {message}", file=sys.stderr)
    write_tables(result.tables, snakemake.output)
    save_figures(result.figures, snakemake.output)
    write_csv(result.trial_sources, snakemake.output.trial_sources)


run_rule(main, snakemake.log[0])
