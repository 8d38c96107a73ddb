# Natural-history analysis of spinal muscular atrophy registries.
# Run: snakemake -s <repo>/Snakefile --directory <run-dir> --cores 2 --configfile my.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/progression.smk"
include: "workflow/rules/external_control.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
