"""Which slots of the OMOP mapping a workflow config needs (:mod:`smanh.ingest.omop`): a
concept of a needed slot missing from the database's vocabulary stops the ingest. Pure
config, no pandas: the Snakefile computes it at every start."""

from __future__ import annotations

from smanh.config.endpoints import DEATH, endpoint


def omop_needs(endpoints: list, scales: list, analysis: dict | None = None, progression: dict | None = None) -> dict:
    """Which mapping slots a workflow config needs, and who needs them: the events of
    every endpoint (its events, population and competing events), every progression
    scale, the SMA types and treatments always (strata and censoring at treatment), SMN2
    copies when a stratification, model or term uses them, onset and diagnosis dates when
    an endpoint's time origin is one."""
    needs: dict[str, str] = {"patients.sma_type": "the cohort and its SMA types"}
    for name in ("nusinersen", "onasemnogene_abeparvovec", "risdiplam", "other"):
        needs[f"treatments.{name}"] = "censoring at the first treatment"
    for spec in endpoints:
        e = endpoint(spec)
        for event in (*e.events, *e.competing, *([e.population] if e.population else [])):
            if event != DEATH:
                needs.setdefault(f"events.{event}", f"analysis.endpoints: {e.name}")
        if e.time_origin in ("onset", "diagnosis"):
            needs.setdefault(f"patients.{e.time_origin}_date", f"analysis.endpoints: {e.name} (time origin)")
    for scale in scales:
        needs[f"assessments.{scale}"] = "progression.scales"
    if "smn2_copies" in repr((analysis or {}, progression or {})):
        needs["patients.smn2_copies"] = "a stratification or model of the config"
    return needs
