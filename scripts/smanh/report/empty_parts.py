"""The parts of the analysis an export cannot support: endpoints whose events it never
records, endpoints without any patient at risk, scales without natural-history
assessments. The report says so in each part's section and lists them under warnings;
nothing else about them (flat curves, empty models) is shown as a result."""

from __future__ import annotations

import pandas as pd

from smanh.config.endpoints import DEATH, endpoint


def recorded_kinds(data_quality: pd.DataFrame) -> dict[str, int]:
    """Rows the export records per event kind (``death`` from the death dates), from the
    ``recorded`` section of ``data_quality.csv``."""
    rows = data_quality[(data_quality["section"] == "recorded") & (data_quality["statistic"] == "rows")]
    kinds = {}
    for r in rows.itertuples():
        if r.table == "events":
            kinds[r.field] = int(float(r.value))
        elif r.table == "patients" and r.field == "death_date":
            kinds[DEATH] = int(float(r.value))
    return kinds


def assessed_scales(data_quality: pd.DataFrame) -> dict[str, int]:
    """Assessments the export holds per scale (``assessments`` section of ``data_quality.csv``)."""
    rows = data_quality[(data_quality["section"] == "assessments") & (data_quality["statistic"] == "assessments")]
    return {r.field: int(float(r.value)) for r in rows.itertuples() if r.field != "all"}


def empty_endpoints(endpoints: list, data_quality: pd.DataFrame, km_summary: pd.DataFrame) -> dict[str, str]:
    """Per configured endpoint the export cannot support, why, in a sentence."""
    kinds = recorded_kinds(data_quality)
    found = {}
    for spec in map(endpoint, endpoints):
        missing = [k for k in (*spec.events, *([spec.population] if spec.population else [])) if not kinds.get(k)]
        if set(spec.events) <= set(missing):
            found[spec.name] = (f"not recorded: the export holds no {' or '.join(_kind(k) for k in spec.events)}"
                                ", so this endpoint cannot be estimated")
        elif spec.population in missing:
            found[spec.name] = (f"not recorded: the export holds no {_kind(spec.population)}, which define "
                                "this endpoint's population")
        else:
            rows = km_summary[(km_summary["endpoint"] == spec.name) & (km_summary["stratify_by"] == "all")]
            if len(rows) and int(rows["n"].iloc[0]) == 0:
                found[spec.name] = str(rows["note"].iloc[0]).rstrip(".")
    return found


def empty_scales(scales: list[str], data_quality: pd.DataFrame, lmm_slopes: pd.DataFrame | None) -> dict[str, str]:
    """Per configured scale without natural-history assessments, why."""
    assessed = assessed_scales(data_quality)
    found = {}
    for scale in scales:
        if not assessed.get(scale):
            found[scale] = f"not recorded: the export holds no {scale} assessments"
        elif lmm_slopes is not None:
            rows = lmm_slopes[lmm_slopes["scale"] == scale]
            if len(rows) and rows["n_assessments"].astype(float).sum() == 0:
                found[scale] = (f"no natural-history {scale} assessments: every one is dated on or after the "
                                "patient's first treatment")
    return found


def _kind(kind: str) -> str:
    return "deaths" if kind == DEATH else f"{kind.replace('_', ' ')} events"
