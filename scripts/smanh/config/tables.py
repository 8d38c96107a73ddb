"""Names of the workflow's tables, importable without numpy, pandas or scipy: the Snakefile
(``workflow/rules/common.smk``) needs them to name its files at every start."""

# The canonical export's tables, in the order they are read and written
# (their columns: smanh.ingest.export_format).
REGISTRY_TABLES = ("patients", "events", "treatments", "assessments")

# Tables of one survival endpoint, in the order they are written; gathered into
# results/tables/ (smanh.survival.endpoint).
SURVIVAL_TABLES = (
    "km_summary",
    "km_curves",
    "km_at_risk",
    "km_tests",
    "km_summary_sensitivity",
    "km_curves_sensitivity",
    "km_summary_ipcw",
    "km_curves_ipcw",
    "ipcw_model",
    "cox",
    "cuminc",
    "rmst",
    "parametric",
    "parametric_curves",
)

# Tables of one progression scale (smanh.progression.scale).
PROGRESSION_TABLES = (
    "lmm_slopes", "lmm_fixed_effects", "lmm_variance_components", "lmm_trajectories",
    "change_12m", "scale_floor_ceiling",
)
