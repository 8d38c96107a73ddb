"""Rules across the tables of an export (rows of unknown patients, dates before birth or
after death) and, with ``on_invalid: exclude``, the exclusion of every patient with a
problem, each counted under its reason."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from smanh.ingest.export import RegistryExport
from smanh.ingest.export_format import CHILD_TABLES, TABLES
from smanh.ingest.parse import as_str
from smanh.ingest.problems import Finding

ORPHAN_RULE = "patient_id not in patients.csv"
CHILD_DATES = {"events": ("date",), "treatments": ("start_date", "end_date"), "assessments": ("date",)}


def relation_findings(typed: dict[str, pd.DataFrame], text: dict[str, pd.DataFrame]) -> list[Finding]:
    """Rules across tables: rows of unknown patients, dates before the patient's birth
    or after their death."""
    patients = typed["patients"]
    known = patients[patients["patient_id"] != ""].drop_duplicates("patient_id").set_index("patient_id")
    findings: list[Finding] = []
    for name in CHILD_TABLES:
        table = typed[name]
        if not len(table):
            continue
        ids = as_str(table["patient_id"])
        # Each row's patient looked up once (a row of -1: not a known patient).
        patient = known.index.get_indexer(ids)
        given = ids.to_numpy() != ""
        orphan = given & (patient < 0)
        findings += [Finding(name, int(r), "patient_id", ids.iloc[r], ORPHAN_RULE) for r in np.flatnonzero(orphan)]
        linked = ~orphan & given
        birth = _lookup(known["birth_date"], patient)
        death = _lookup(known["death_date"], patient)
        for column in CHILD_DATES[name]:
            dates = table[column].to_numpy()
            for mask, rule in (
                (dates < birth, "date before the patient's birth"),
                (dates > death, "date after the patient's death"),
            ):
                hit = mask & linked
                findings += [
                    Finding(name, int(r), column, text[name][column].iloc[r], rule) for r in np.flatnonzero(hit)
                ]
    return findings


def cutoff_findings(typed: dict[str, pd.DataFrame], text: dict[str, pd.DataFrame], cutoff: dt.date) -> list[Finding]:
    """Every date after the data cut-off: a record of the future cannot be in the export."""
    limit = np.datetime64(cutoff, "ns")
    rule = f"date after the data cut-off ({cutoff.isoformat()})"
    findings = []
    for name, spec in TABLES.items():
        for column in (c.name for c in spec.columns if c.kind == "date"):
            after = np.flatnonzero(typed[name][column].to_numpy(dtype="datetime64[ns]") > limit)
            findings += [Finding(name, int(r), column, text[name][column].iloc[r], rule) for r in after]
    return findings


def after_last_contact(export: RegistryExport) -> dict[str, tuple[int, int]]:
    """Rows dated after their patient's last contact and the patients with such rows, per
    child table and for ``all`` of them. Legal (nothing after death or the cut-off), but
    follow-up ends at last contact: such records do not extend it."""
    last = export.patients.drop_duplicates("patient_id").set_index("patient_id")["last_contact_date"]
    counts, anyone = {}, set()
    for name in CHILD_TABLES:
        table = export.table(name)
        if not len(table):
            counts[name] = (0, 0)
            continue
        dates = table[CHILD_DATES[name][0]].to_numpy(dtype="datetime64[ns]")
        after = dates > _lookup(last, last.index.get_indexer(table["patient_id"]))
        patients = set(table.loc[after, "patient_id"])
        counts[name] = (int(after.sum()), len(patients))
        anyone |= patients
    counts["all"] = (sum(rows for rows, _ in counts.values()), len(anyone))
    return counts


def _lookup(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``values`` at ``rows`` (datetime64), NaT where the row is -1."""
    if not len(values):
        return np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[ns]")
    found = values.to_numpy(dtype="datetime64[ns]")[np.maximum(rows, 0)]
    found[rows < 0] = np.datetime64("NaT")
    return found


def exclusion_reason(finding: Finding) -> str:
    """How a patient excluded for this finding is counted in the cohort flow."""
    rule = "value not in the vocabulary" if finding.rule.startswith("must be one of") else finding.rule
    rule = re.sub(r"^row has \d+ fields, the header has \d+$", "row has the wrong number of fields", rule)
    where = f"{finding.table}.{finding.column}" if finding.column else finding.table
    return f"invalid: {where}: {rule}"


def exclude_patients(export: RegistryExport, findings: list[Finding]) -> None:
    """Drop patients with problems (each under its first reason) and orphan rows."""
    patients = export.patients
    ids = patients["patient_id"].astype(str)
    known = set(ids[ids != ""])
    reasons: dict[int, str] = {}  # patient row -> reason
    by_id: dict[str, str] = {}
    orphan_rows: dict[str, set[int]] = {name: set() for name in CHILD_TABLES}
    order = {name: i for i, name in enumerate(TABLES)}
    for finding in sorted(findings, key=lambda f: (order[f.table], f.row, f.column, f.rule)):
        if finding.table == "patients":
            reasons.setdefault(finding.row, exclusion_reason(finding))
            continue
        patient_id = str(export.table(finding.table)["patient_id"].iloc[finding.row])
        if patient_id not in known:
            orphan_rows[finding.table].add(finding.row)
        else:
            by_id.setdefault(patient_id, exclusion_reason(finding))
    for row, patient_id in enumerate(ids):
        if row not in reasons and patient_id in by_id:
            reasons[row] = by_id[patient_id]
    excluded_rows = sorted(reasons)
    excluded_ids = set(ids.iloc[excluded_rows])
    export.excluded = pd.DataFrame(
        {"patient_id": ids.iloc[excluded_rows].tolist(), "reason": [reasons[r] for r in excluded_rows]}, dtype=object
    )
    export.patients = patients.drop(index=patients.index[excluded_rows]).reset_index(drop=True)
    for name in CHILD_TABLES:
        table = export.table(name)
        orphans = np.zeros(len(table), dtype=bool)
        orphans[sorted(orphan_rows[name])] = True
        orphans |= ~table["patient_id"].astype(str).isin(known).to_numpy()
        of_excluded = table["patient_id"].astype(str).isin(excluded_ids).to_numpy() & ~orphans
        export.dropped_rows[name] = int(orphans.sum())
        setattr(export, name, table[~orphans & ~of_excluded].reset_index(drop=True))


