# Kaplan–Meier with delayed entry: one job per endpoint, then gathered into the contract's tables.


rule kaplan_meier:
    input:
        dataset="results/analysis/analysis_dataset.parquet",
    output:
        summary="results/survival/{endpoint}/km_summary.csv",
        curves="results/survival/{endpoint}/km_curves.csv",
    log:
        "logs/kaplan_meier/{endpoint}.log",
    conda:
        "../../environment.yml"
    params:
        stratify_by=config["analysis"]["stratify_by"],
        landmark_ages=config["analysis"]["landmark_ages"],
        confidence_level=config["analysis"]["confidence_level"],
    script:
        "../../scripts/rules/kaplan_meier.py"


rule gather_km:
    input:
        summary=km_per_endpoint("summary"),
        curves=km_per_endpoint("curves"),
    output:
        summary="results/tables/km_summary.csv",
        curves="results/tables/km_curves.csv",
    log:
        "logs/gather_km.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/gather_tables.py"


rule km_figure:
    input:
        curves="results/survival/{endpoint}/km_curves.csv",
    output:
        png=report(
            "results/figures/km_{endpoint}.png",
            caption="../report/km_figure.rst",
            category="Survival",
            labels={"endpoint": "{endpoint}", "figure": "Kaplan-Meier"},
        ),
        svg="results/figures/km_{endpoint}.svg",
    log:
        "logs/km_figure/{endpoint}.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/km_figure.py"
