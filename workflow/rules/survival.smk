# Survival analyses with delayed entry: one job per endpoint (Kaplan–Meier, tests across
# strata, Cox, competing risks, RMST, parametric fits), gathered into results/tables/.


rule sensitivity_dataset:
    input:
        **canonical_tables(),
    output:
        dataset="results/analysis/analysis_dataset_sensitivity.parquet",
    log:
        "logs/sensitivity_dataset.log",
    benchmark:
        "logs/benchmarks/sensitivity_dataset.tsv"
    conda:
        "../../environment.yml"
    params:
        endpoints=ENDPOINT_SPECS,
        censor_at_treatment=not config["analysis"]["censor_at_treatment"],
    script:
        "../../scripts/rules/sensitivity_dataset.py"


rule survival_endpoint:
    input:
        **survival_datasets(),
    output:
        **survival_outputs(),
    log:
        "logs/survival_endpoint/{endpoint}.log",
    benchmark:
        "logs/benchmarks/survival_endpoint/{endpoint}.tsv"
    conda:
        "../../environment.yml"
    params:
        analysis=config["analysis"],
    script:
        "../../scripts/rules/survival_endpoint.py"


rule gather_survival:
    input:
        **survival_per_endpoint(),
    output:
        **gathered_tables(),
    log:
        "logs/gather_survival.log",
    benchmark:
        "logs/benchmarks/gather_survival.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/gather_tables.py"


rule survival_figures:
    input:
        km_curves="results/survival/{endpoint}/km_curves.csv",
        at_risk="results/survival/{endpoint}/km_at_risk.csv",
        parametric_curves="results/survival/{endpoint}/parametric_curves.csv",
        parametric="results/survival/{endpoint}/parametric.csv",
        published=workflow.source_path(
            "../../data/reference/published_natural_history.csv"
        ),
    output:
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
    log:
        "logs/survival_figures/{endpoint}.log",
    benchmark:
        "logs/benchmarks/survival_figures/{endpoint}.tsv"
    conda:
        "../../environment.yml"
    params:
        min_cell_count=config["report"]["min_cell_count"],
        confidence_level=config["analysis"]["confidence_level"],
    script:
        "../../scripts/rules/survival_figures.py"
