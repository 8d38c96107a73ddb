# Motor-score progression: one job per scale (natural-history assessments, linear mixed
# models per stratum, 12-month change, floor/ceiling, and its figures — one job, not two,
# because Python start-up dominates small jobs), gathered into results/tables/.


rule progression_scale:
    input:
        patients="results/canonical/patients.parquet",
        treatments="results/canonical/treatments.parquet",
        assessments="results/canonical/assessments.parquet",
    output:
        **progression_outputs(),
        assessments="results/progression/{scale}/assessments.parquet",
        change_pairs="results/progression/{scale}/change_pairs.parquet",
        spaghetti_png=report(
            "results/figures/progression_{scale}.png",
            caption="../report/progression_figure.rst",
            category="Motor progression",
            labels={"scale": "{scale}", "figure": "Trajectories"},
        ),
        spaghetti_svg="results/figures/progression_{scale}.svg",
        change_png=report(
            "results/figures/change_12m_{scale}.png",
            caption="../report/change_figure.rst",
            category="Motor progression",
            labels={"scale": "{scale}", "figure": "12-month change"},
        ),
        change_svg="results/figures/change_12m_{scale}.svg",
    log:
        "logs/progression_scale/{scale}.log",
    benchmark:
        "logs/benchmarks/progression_scale/{scale}.tsv"
    priority: 1  # after the survival jobs, which more jobs wait on; the report waits for the last scale
    conda:
        "../../environment.yml"
    params:
        progression=config["progression"],
        confidence_level=config["analysis"]["confidence_level"],
        birth_eras=config["analysis"]["birth_eras"],
        min_cell_count=config["report"]["min_cell_count"],
        individual_level_figures=config["report"]["individual_level_figures"],
    script:
        "../../scripts/rules/progression_scale.py"


rule gather_progression:
    input:
        **progression_per_scale(),
    output:
        **registered(gathered_progression_tables(), "Motor progression tables"),
    log:
        "logs/gather_progression.log",
    benchmark:
        "logs/benchmarks/gather_progression.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/gather_tables.py"
