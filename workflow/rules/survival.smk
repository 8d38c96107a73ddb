# Survival analyses with delayed entry: one job per endpoint (Kaplan–Meier, tests across
# strata, Cox, competing risks, RMST, parametric fits, and its figures — one job, not two,
# because Python start-up dominates small jobs), gathered into results/tables/.


rule ipcw_intervals:
    input:
        **canonical_tables(["patients", "assessments"]),
        natural_history=natural_history_dataset() or [],
    output:
        intervals="results/analysis/ipcw_intervals.parquet",
    log:
        "logs/ipcw_intervals.log",
    benchmark:
        "logs/benchmarks/ipcw_intervals.tsv"
    priority: 9  # every survival job waits for it
    conda:
        "../../environment.yml"
    params:
        endpoints=ENDPOINT_SPECS,
        ipcw=config["analysis"]["ipcw"],
    script:
        "../../scripts/rules/ipcw_intervals.py"


rule survival_endpoint:
    input:
        **analysis_datasets(),
        **ipcw_inputs(),
        published=workflow.source_path(
            "../../data/reference/published_natural_history.csv"
        ),
    output:
        **survival_outputs(),
        km_png=report(
            "results/figures/km_{endpoint}.png",
            caption="../report/km_figure.rst",
            category="Survival",
            labels={"endpoint": "{endpoint}", "figure": "Kaplan-Meier"},
        ),
        km_svg="results/figures/km_{endpoint}.svg",
        parametric_png=report(
            "results/figures/parametric_{endpoint}.png",
            caption="../report/parametric_figure.rst",
            category="Survival",
            labels={"endpoint": "{endpoint}", "figure": "Parametric extrapolation"},
        ),
        parametric_svg="results/figures/parametric_{endpoint}.svg",
        cuminc_png=report(
            "results/figures/cuminc_{endpoint}.png",
            caption="../report/cuminc_figure.rst",
            category="Survival",
            labels={"endpoint": "{endpoint}", "figure": "Cumulative incidence"},
        ),
        cuminc_svg="results/figures/cuminc_{endpoint}.svg",
    log:
        "logs/survival_endpoint/{endpoint}.log",
    benchmark:
        "logs/benchmarks/survival_endpoint/{endpoint}.tsv"
    priority: 5  # the longest jobs first; the shorter progression jobs fill the gaps
    conda:
        "../../environment.yml"
    params:
        analysis=config["analysis"],
        min_cell_count=config["report"]["min_cell_count"],
        individual_level_figures=config["report"]["individual_level_figures"],
    script:
        "../../scripts/rules/survival_endpoint.py"


rule gather_survival:
    input:
        **survival_per_endpoint(),
    output:
        **registered(gathered_tables(), "Survival tables"),
    log:
        "logs/gather_survival.log",
    benchmark:
        "logs/benchmarks/gather_survival.tsv"
    priority: 2  # as soon as the survival jobs end, beside the last progression jobs
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/gather_tables.py"
