"""The STROBE checklist for cohort studies (von Elm et al. 2007; 22 items), each item mapped
to the part of this report that addresses it, or said to be outside the report (a
manuscript's task) or not applicable. Section anchors are the template's ``id``s."""

from __future__ import annotations

# (item, heading, recommendation in short, where: (anchor, label) or None, remark)
ITEMS = (
    ("1", "Title and abstract", "design in the title; informative summary", ("summary", "Key estimates (first page)"),
     "the title is the configuration's report.title"),
    ("2", "Background/rationale", "scientific background", None, "outside the report (manuscript)"),
    ("3", "Objectives", "objectives and hypotheses", None, "outside the report (manuscript)"),
    ("4", "Study design", "key elements of the design", ("methods", "Methods"), "registry cohort, age time scale"),
    ("5", "Setting", "setting, locations, dates of recruitment, follow-up, data collection",
     ("summary", "First page: data cut-off, calendar period, sites"), ""),
    ("6", "Participants", "eligibility, sources, follow-up methods", ("cohort", "Cohort; Methods (entry and exit)"), ""),
    ("7", "Variables", "outcomes, exposures, predictors, confounders; diagnostic criteria",
     ("endpoint-definitions", "Endpoint definitions"), "stratifications in Methods"),
    ("8", "Data sources/measurement", "sources and methods of assessment", ("data-quality", "Data quality; Provenance"),
     "export files with SHA-256 under Provenance"),
    ("9", "Bias", "efforts to address potential sources of bias", ("methods", "Methods (delayed entry, censoring)"),
     "and Limitations"),
    ("10", "Study size", "how the study size was arrived at", ("cohort", "Cohort flow"),
     "all patients of the export; no sample size calculation"),
    ("11", "Quantitative variables", "how quantitative variables were handled", ("methods", "Methods"),
     "ages in years, SMA type and SMN2 groups"),
    ("12", "Statistical methods", "methods incl. confounding, subgroups, missing data, loss to follow-up, "
     "sensitivity analyses", ("methods", "Methods"), "unknown values form their own stratum"),
    ("13", "Participants (results)", "numbers at each stage; reasons for non-participation; flow diagram",
     ("cohort", "Cohort flow diagram"), ""),
    ("14", "Descriptive data", "characteristics; missing data per variable; follow-up time",
     ("table1", "Baseline characteristics; Data quality"), ""),
    ("15", "Outcome data", "numbers of outcome events over time", ("survival", "Survival (n, events per stratum)"), ""),
    ("16", "Main results", "unadjusted and adjusted estimates with precision; category boundaries",
     ("survival", "Survival, Hazard ratios, Motor progression"), "95% confidence intervals throughout"),
    ("17", "Other analyses", "subgroups, interactions, sensitivity analyses",
     ("survival", "Sensitivity analysis per endpoint"), "external control where configured"),
    ("18", "Key results", "key results with reference to objectives", ("summary", "Key estimates"), ""),
    ("19", "Limitations", "sources of bias or imprecision, direction and magnitude", ("warnings", "Limitations"), ""),
    ("20", "Interpretation", "cautious overall interpretation", ("comparison", "Comparison with published natural history"),
     "interpretation itself outside the report"),
    ("21", "Generalisability", "external validity", None, "outside the report (manuscript)"),
    ("22", "Funding", "funding and the role of funders", None, "outside the report (manuscript)"),
)


def strobe_checklist() -> list[dict]:
    """The 22 items as rows: number, heading, what it asks, where the report addresses it
    (anchor and label, or none) and a remark."""
    return [
        {"item": item, "heading": heading, "asks": asks,
         "anchor": where[0] if where else None, "where": where[1] if where else "—", "remark": remark}
        for item, heading, asks, where, remark in ITEMS
    ]
