rule ingest:
    input:
        registry_files(),
    output:
        **canonical_tables(),
        sources="results/canonical/sources.json",
    log:
        "logs/ingest.log",
    conda:
        "../../environment.yml"
    params:
        registry=config["registry"],
        problems="results/validation/problems.csv",
    script:
        "../../scripts/rules/ingest.py"


rule analysis_dataset:
    input:
        **canonical_tables(),
    output:
        dataset="results/analysis/analysis_dataset.parquet",
        cohort_flow="results/tables/cohort_flow.csv",
    log:
        "logs/analysis_dataset.log",
    conda:
        "../../environment.yml"
    params:
        endpoints=ENDPOINTS,
        censor_at_treatment=config["analysis"]["censor_at_treatment"],
    script:
        "../../scripts/rules/analysis_dataset.py"
