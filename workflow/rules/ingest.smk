rule ingest:
    input:
        registry_files(),
    output:
        **canonical_tables(),
        sources="results/canonical/sources.json",
        exclusions="results/canonical/exclusions.csv",
        data_quality="results/tables/data_quality.csv",
    log:
        "logs/ingest.log",
    benchmark:
        "logs/benchmarks/ingest.tsv"
    conda:
        "../../environment.yml"
    params:
        registry=config["registry"],
        redcap=redcap_files(),
        omop=omop_settings(),
        omop_needs=omop_slots_needed(),
        problems="results/validation/problems.csv",
    script:
        "../../scripts/rules/ingest.py"


rule analysis_dataset:
    input:
        **canonical_tables(["patients", "events", "treatments"]),  # no assessments needed
        exclusions="results/canonical/exclusions.csv",
        sources="results/canonical/sources.json",
    output:
        **analysis_datasets(),
        **registered(
            {
                "cohort_flow": "results/tables/cohort_flow.csv",
                "table1": "results/tables/table1.csv",
            },
            "Cohort tables",
        ),
    log:
        "logs/analysis_dataset.log",
    benchmark:
        "logs/benchmarks/analysis_dataset.tsv"
    priority: 10  # every survival job waits for it; the progression jobs do not
    conda:
        "../../environment.yml"
    params:
        endpoints=ENDPOINT_SPECS,
        censor_at_treatment=config["analysis"]["censor_at_treatment"],
        vital_status_date=config["registry"].get("vital_status_date"),
    script:
        "../../scripts/rules/analysis_dataset.py"
